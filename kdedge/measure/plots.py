"""Bench report plots: accuracy against latency and size (Pareto fronts marked), latency against threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kdedge.io import write_figure


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower x, higher y), by ascending x.

    A point is dominated when another has ``x <=`` and ``y >=`` with one strictly better.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_report(report: dict, path: str | Path) -> None:
    """Accuracy against headline p50 latency and against size (log scales), Pareto fronts marked, as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = report.get("headline") or {"threads": report["config"].get("threads"), "xnnpack": True}
    threads = h["threads"][0] if isinstance(h["threads"], (list, tuple)) else h["threads"]
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4))
    markers = "os^Dv<>ph"  # students; the teacher is a star and a labels-only baseline an X
    kind_marker = {"teacher": "*", "baseline": "X"}
    models = report["models"]
    for ax, key, label in ((axes[0], "p50", f"p50 latency, ms ({threads} thread, "
                            f"XNNPACK {'on' if h.get('xnnpack', True) else 'off'}; log scale)"),
                           (axes[1], "bytes", "file size, MB (log scale)")):
        xs = [r["latency"]["p50_ms"] if key == "p50" else r["bytes"] / 1e6 for r in models]
        ys = [100 * r["accuracy"] for r in models]
        # One colour and marker per model, named in the legend: variants often tie on
        # accuracy, and labels beside the points would overlap.
        for i, r in enumerate(models):
            marker = kind_marker.get(r.get("kind"), markers[i % len(markers)])
            ax.scatter(xs[i], ys[i], s=110 if marker in kind_marker.values() else 55, marker=marker,
                       color=f"C{i}", label=r["name"], zorder=3, alpha=0.85)
        front = pareto_front(list(zip(xs, ys)))
        ax.step([xs[i] for i in front], [ys[i] for i in front], where="post", color="0.3", lw=1, ls="--",
                zorder=2, label="Pareto front")
        ax.scatter([xs[i] for i in front], [ys[i] for i in front], s=190, facecolors="none", edgecolors="0.3",
                   lw=1, zorder=2)
        ax.set_xscale("log")
        ax.margins(x=0.25, y=0.15)
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy on the eval split, % (from the .tflite)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[1].get_legend_handles_labels()
    axes[1].legend(handles, labels, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.suptitle(f"{report['eval']['examples']} eval examples; {report['machine']['cpu']}; "
                 "ringed points: the Pareto front (nothing is both faster/smaller and more accurate)", fontsize=9)
    fig.tight_layout()
    write_figure(path, fig)


def plot_latency_grid(report: dict, path: str | Path) -> None:
    """p50 latency (eval inputs) against thread count per model, XNNPACK on solid and off dashed,
    with the medians' 95% CIs as error bars, as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    for i, r in enumerate(report["models"]):
        for xnn, style in ((True, "-"), (False, "--")):
            grid = r.get("latency_grid", [])
            first = grid[0]["inputs"] if grid else None  # eval texts (host) or the median text (device)
            cells = sorted((g for g in grid if g["inputs"] == first and g["xnnpack"] == xnn),
                           key=lambda g: g["threads"])
            if not cells:
                continue
            t = [g["threads"] for g in cells]
            p50 = np.array([g["p50_ms"] for g in cells])
            err = (np.array([[g["p50_ms"] - g["ci95_ms"][0], g["ci95_ms"][1] - g["p50_ms"]] for g in cells]).T
                   if all(g.get("ci95_ms") for g in cells) else None)
            ax.errorbar(t, p50, yerr=err, color=f"C{i}", ls=style, marker="o", ms=4, capsize=3,
                        label=f"{r['name']}, XNNPACK {'on' if xnn else 'off'}")
    ax.set_yscale("log")
    ax.set_xticks(sorted({g["threads"] for r in report["models"] for g in r.get("latency_grid", [])}))
    ax.set_xlabel(f"interpreter threads ({report['machine']['cores']} cores on this machine)")
    ax.set_ylabel("p50 latency per example, ms (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7)
    ax.set_title(f"Latency grid, {report['headline']['inputs'] if report.get('headline') else 'eval'} inputs; "
                 f"{report['machine']['cpu']}", fontsize=9)
    fig.tight_layout()
    write_figure(path, fig)
