"""Bench reports as Markdown (and the per-layer sensitivity table); ``write_report`` puts a report on disk.

The report's JSON schema is ``kdedge-bench/3``, documented field by field in
``benchmarks/README.md``; reports of schema 1 and 2 still render.
"""

from __future__ import annotations

from pathlib import Path

from kdedge import layout
from kdedge.io import write_json, write_text
from kdedge.measure.quality import ECE_BINS

SCHEMA = "kdedge-bench/3"


def write_report(report: dict, out: Path) -> None:
    """The plots, ``report.json`` and ``report.md`` into ``out`` (``report["plots"]`` names the plots)."""
    from kdedge.measure.plots import plot_latency_grid, plot_report

    plot_report(report, out / layout.REPORT_PNG)
    plot_latency_grid(report, out / layout.LATENCY_PNG)
    report["plots"] = [layout.REPORT_PNG, layout.LATENCY_PNG]
    write_json(out / layout.REPORT_JSON, report)
    write_text(out / layout.REPORT_MD, render_markdown(report))


def render_markdown(report: dict) -> str:
    """The report as Markdown: the headline table, the latency grid, confusion matrices, the run."""
    m, c = report["machine"], report["config"]
    h = report.get("headline") or {"threads": c.get("threads"), "xnnpack": True}  # schema 1/2: one setting
    if report.get("platform") == "android":
        d = c["device"]
        timing = (f"timed on the device by `{m['tool']}`: {d['warmup']} warm-up then {d['runs']} timed runs of "
                  "the eval text of median length; accuracy and the other label metrics from the same `.tflite` "
                  "files run with LiteRT on the host.")
    elif "min_runs" in c:
        timing = (f"{c['warmup']} warm-up calls, then at least {c['min_runs']} timed calls, more until the median's "
                  f"95% CI is within ±{c['target_ci']:.0%} (or {c['time_cap']:g} s per cell: marked †). Load, "
                  "first inference and peak RSS come from a fresh process per model and thread setting.")
    else:
        timing = f"{c.get('warmup')} warm-up calls, then {c.get('runs')} timed calls."
    lines = ["# kdedge benchmark report", "",
             f"- Eval split: `{report['eval']['split']}` ({report['eval']['examples']} labeled examples); "
             "every quality metric comes from running each `.tflite` with LiteRT. Precision, recall and F1 "
             "are macro averages over the labels (0/0 counts as 0); ECE is the expected calibration error of "
             f"the top-1 softmax probability, {report['eval'].get('ece_bins', ECE_BINS)} equal-width bins.",
             f"- Latency (headline columns): one example per `invoke()`, {h['threads']} thread(s), XNNPACK "
             f"{'on' if h['xnnpack'] else 'off'}, real tokenized eval texts; {timing}",
             f"- Manifest: {m['cpu']}, {m['cores']} cores, {m['os']}; Python {m['python']}, numpy "
             f"{m.get('numpy', '?')}, TensorFlow {m['tensorflow']}, ai-edge-litert {m['ai_edge_litert']}; "
             f"commit {m['git_commit']}{' (dirty)' if m.get('git_dirty') else ''}; {m['date']}. Model sha256 "
             "in `report.json`.",
             "",
             "| model | kind | size | gzip | accuracy | macro-F1 | precision | recall | ECE | retention "
             "| vs float student | flips vs float | agreement w/ teacher | p50 ms (95% CI) | p90 ms | p99 ms | load ms "
             "| first call ms | peak RSS MB (+model) | speedup (p50) | smaller by |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["models"]:
        lat = r["latency"]

        def opt(key, fmt, r=r):
            return fmt.format(r[key]) if r.get(key) is not None else "-"
        lines.append(
            f"| {r['name']} | {r.get('kind', '-')} | {_size(r['bytes'])} | "
            f"{_size(r['gzip_bytes']) if r.get('gzip_bytes') else '-'} | "
            f"{opt('accuracy', '{:.4f}')} | {opt('macro_f1', '{:.4f}')} | {opt('macro_precision', '{:.4f}')} | "
            f"{opt('macro_recall', '{:.4f}')} | {opt('ece', '{:.4f}')} | {opt('retention', '{:.2%}')} | "
            f"{opt('retention_vs_float_student', '{:.2%}')} | {opt('flip_rate_vs_float_student', '{:.2%}')} | "
            f"{opt('agreement_with_teacher', '{:.2%}')} | "
            f"{_p50(lat)} | {_ms(lat['p90_ms'])} | {_ms(lat['p99_ms'])} | {opt('load_ms', '{:.1f}')} | "
            f"{opt('first_inference_ms', '{:.2f}')} | {_rss(r)} | "
            f"{opt('speedup_p50', '{:.0f}x')} | {opt('size_ratio', '{:.0f}x')} |")
    lines += _grid_section(report)
    lines += _test_section(report)
    lines += _per_class_section(report)
    lines += _confusion_section(report)
    for plot in report.get("plots", []):
        lines += ["", f"![{plot}]({plot})"]
    run = report.get("run") or {}
    if run:
        lines += ["", "## Run", ""]
        if run.get("command"):
            lines += ["```", run["command"], "```", ""]
        for key, value in run.items():
            if key == "command":
                continue
            if isinstance(value, dict):
                lines.append(f"- {key}:")
                lines += [f"  - {k}: {_fmt(v)}" for k, v in value.items()]
            else:
                lines.append(f"- {key}: {_fmt(value)}")
    return "\n".join(lines) + "\n"


def _grid_section(report: dict) -> list[str]:
    """``## Latency grid``: p50 ms (± the CI half-width, % of p50) per model and (threads, XNNPACK)
    cell, one table per input set."""
    rows = [r for r in report["models"] if r.get("latency_grid")]
    if not rows:
        return []
    cells = list(dict.fromkeys((g["threads"], g["xnnpack"]) for g in rows[0]["latency_grid"]))
    inputs = list(dict.fromkeys(g["inputs"] for g in rows[0]["latency_grid"]))
    lines = ["", "## Latency grid", "",
             "p50 in ms (± half the median's 95% CI, in % of p50) per thread count and XNNPACK setting; "
             "`eval` cycles through eval texts, `len=L` feeds exactly L real tokens. † = the CI target was not "
             "reached within the time cap. After the slash: peak RSS in MB of a fresh process running the model "
             "(eval inputs), and in brackets what the model added to the bare runtime.", ""]
    head = " | ".join(f"{t} thr, XNNPACK {'on' if x else 'off'}" for t, x in cells)
    for name in inputs:
        lines += [f"**{name}**", "", f"| model | {head} |", "|---|" + "---:|" * len(cells)]
        for r in rows:
            by = {(g["threads"], g["xnnpack"]): g for g in r["latency_grid"] if g["inputs"] == name}
            vals = []
            for cell in cells:
                g = by.get(cell)
                if g is None:
                    vals.append("-")
                    continue
                vals.append(f"{_p50(g)}" + (f" / {_rss(g)}" if g.get("peak_rss_mb") is not None else ""))
            lines.append(f"| {r['name']} | " + " | ".join(vals) + " |")
        lines.append("")
    return lines[:-1]


def _rss(r: dict) -> str:
    """Peak RSS and, in brackets, what loading and running the model added to the bare runtime."""
    if r.get("peak_rss_mb") is None:
        return "-"
    return f"{r['peak_rss_mb']:.0f} (+{r['model_rss_mb']:.1f})"


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def _p50(lat: dict) -> str:
    ci = f" ±{100 * lat['ci_rel']:.1f}%" if lat.get("ci_rel") is not None else ""
    return f"{_ms(lat['p50_ms'])}{ci}{'' if lat.get('converged', True) else ' †'}"


def _test_section(report: dict) -> list[str]:
    """``## Test split``: the label metrics on the data folder's second eval split, when it has one."""
    test = report.get("test")
    rows = [r for r in report["models"] if r.get("test")]
    if not test or not rows:
        return []
    lines = ["", "## Test split", "",
             f"The same files run over `{Path(test['split']).name}` ({test['examples']} labeled examples; SST-2: "
             "the Stanford treebank's non-neutral test sentences).", "",
             "| model | test accuracy | test macro-F1 | agreement w/ teacher |", "|---|---:|---:|---:|"]
    for r in rows:
        t = r["test"]
        agree = f"{t['agreement']:.2%}" if t.get("agreement") is not None else "–"
        lines.append(f"| {r['name']} | {t['accuracy']:.4f} | {t['macro_f1']:.4f} | {agree} |")
    return lines


def _per_class_section(report: dict) -> list[str]:
    """``## Per-class precision / recall / F1``: a row per model, a ``P / R / F1`` cell per label."""
    rows = [r for r in report["models"] if (r.get("metrics") or {}).get("f1")]
    if not rows:
        return []
    k = max(len(r["metrics"]["f1"]) for r in rows)
    names = list(report["eval"].get("label_names") or [])
    names += [str(i) for i in range(len(names), k)]
    lines = ["", "## Per-class precision / recall / F1", "",
             "Each cell is precision / recall / F1 of one label on the eval split (the `.tflite` run with LiteRT).",
             "", "| model | " + " | ".join(names[:k]) + " |", "|---|" + "---:|" * k]
    for r in rows:
        m = r["metrics"]
        cells = [f"{m['precision'][c]:.3f} / {m['recall'][c]:.3f} / {m['f1'][c]:.3f}" if c < len(m["f1"]) else ""
                 for c in range(k)]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    return lines


def _confusion_section(report: dict) -> list[str]:
    """``## Confusion matrices``: one table, a row per model and a column per (gold, predicted) pair,
    when there are at most 3 labels; otherwise a small gold-by-predicted table per model."""
    rows = [r for r in report["models"] if r.get("confusion")]
    if not rows:
        return []
    k = max(len(r["confusion"]) for r in rows)
    names = list(report["eval"].get("label_names") or [])
    names += [str(i) for i in range(len(names), k)]  # ids stand in for missing names
    lines = ["", "## Confusion matrices", "",
             "Eval examples counted by gold label and predicted label (`gold → predicted`); "
             "`x → x` (the diagonal) counts the correct predictions.", ""]
    if k <= 3 and all(len(r["confusion"]) == k for r in rows):
        cells = [(g, p) for g in range(k) for p in range(k)]
        lines += ["| model | " + " | ".join(f"{names[g]} → {names[p]}" for g, p in cells) + " |",
                  "|---|" + "---:|" * len(cells)]
        lines += [f"| {r['name']} | " + " | ".join(str(r["confusion"][g][p]) for g, p in cells) + " |"
                  for r in rows]
        return lines
    for r in rows:
        n = len(r["confusion"])
        lines += [f"**{r['name']}**", "", "| gold ↓ predicted → | " + " | ".join(names[:n]) + " |",
                  "|---|" + "---:|" * n]
        lines += [f"| {names[g]} | " + " | ".join(str(c) for c in r["confusion"][g]) + " |" for g in range(n)]
        lines.append("")
    return lines[:-1]


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def render_sensitivity(layers: list[dict]) -> str:
    """The per-layer quantization error table of ``kdedge export --sensitivity`` (worst first)."""
    lines = ["# int8 sensitivity per layer", "",
             "Each op's own error: its dequantized int8 output against the float op fed the same inputs, over the "
             "calibration rows (TFLite's quantization debugger). rel. MSE = MSE / mean square of the float output; "
             "`kdedge export --keep-float N` leaves the N worst in float.", "",
             "| # | op | output tensor | MSE | rel. MSE | cosine |", "|---:|---|---|---:|---:|---:|"]
    lines += [f"| {i} | {r['op']} | `{r['tensor']}` | {r['mse']:.3g} | {r['rel_mse']:.3g} | {r['cosine']:.5f} |"
              for i, r in enumerate(layers, 1)]
    return "\n".join(lines) + "\n"
