"""Compare two bench reports: per-model deltas, flagging only changes larger than the measured noise.

    kdedge bench compare OLD/report.json NEW/report.json [--min-change 0.05] [--all]

What counts as a change:

* **latency** (per model and (threads, XNNPACK, inputs) cell present in both):
  the medians' 95% CIs do not overlap *and* the p50 moved by more than
  ``--min-change`` (default 5%, the between-run agreement the harness is held
  to; see :func:`kdedge.measure.stats.latency_changed`). A report without CIs (schema 1
  and 2) has no measured noise, so its latency deltas are shown, never flagged.
* **accuracy / macro-F1**: more than 1.96 binomial standard errors of the
  difference on an eval split of that size (:func:`kdedge.measure.stats.accuracy_changed`);
  only between reports of the same eval split and size.
* **size**: any byte (a ``.tflite`` is deterministic; the sha256 tells whether it is
  the same file).

Reports measured on different machines or software are compared anyway, with
the differing manifest fields printed first: such deltas are not like with like.
"""

from __future__ import annotations

from pathlib import Path

from kdedge.errors import StageInputError
from kdedge.io import read_json
from kdedge.measure.stats import accuracy_changed, latency_changed

MANIFEST_KEYS = ("cpu", "cores", "os", "python", "numpy", "tensorflow", "ai_edge_litert")


def load_report(path: str | Path) -> dict:
    """A bench ``report.json`` (or a folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    if not p.is_file():
        raise StageInputError(f"{path}: no report.json (make one with `kdedge bench`)")
    report = read_json(p)
    if not str(report.get("schema", "")).startswith("kdedge-bench/") or "models" not in report:
        raise StageInputError(f"{p}: not a kdedge bench report (schema {report.get('schema')!r})")
    return report


def _cells(row: dict) -> dict[tuple, dict]:
    grid = row.get("latency_grid")
    if grid:
        return {(g["threads"], g["xnnpack"], g["inputs"]): g for g in grid}
    return {("headline",): row["latency"]}  # schema 1/2: one cell, no CI


def compare_reports(old: dict, new: dict, min_rel: float = 0.05) -> dict:
    """Deltas between two bench reports.

    Returns ``{"manifest_diffs": {key: [old, new]}, "same_eval": bool, "added": [...], "removed": [...],
    "changes": [...]}``; each change is ``{model, metric, old, new, delta, rel, flagged, direction, note}``,
    with ``direction`` ``"regression"`` or ``"improvement"`` for flagged ones.
    """
    om, nm = old.get("machine", {}), new.get("machine", {})
    diffs = {k: [om.get(k), nm.get(k)] for k in MANIFEST_KEYS if om.get(k) != nm.get(k)}
    oe, ne = old.get("eval", {}), new.get("eval", {})
    same_eval = oe.get("examples") == ne.get("examples") and oe.get("split") == ne.get("split")
    olds = {r["name"]: r for r in old["models"]}
    news = {r["name"]: r for r in new["models"]}
    changes = []
    for name, n in news.items():
        o = olds.get(name)
        if o is None:
            continue
        same_file = o.get("sha256") == n.get("sha256")
        for key in ("bytes", "gzip_bytes"):
            if o.get(key) is not None and n.get(key) is not None:
                changes.append(_change(name, key, o[key], n[key], flagged=o[key] != n[key], higher_is_worse=True,
                                       note="same file" if same_file else "other file"))
        for key in ("accuracy", "macro_f1"):
            if o.get(key) is None or n.get(key) is None:
                continue
            if same_eval:
                flagged = accuracy_changed(o[key], n[key], ne["examples"])
                note = "beyond eval noise" if flagged else "within eval noise"
            else:
                flagged, note = False, "different eval split"
            changes.append(_change(name, key, o[key], n[key], flagged, higher_is_worse=False, note=note))
        oc, nc = _cells(o), _cells(n)
        for cell in [c for c in nc if c in oc]:
            a, b = oc[cell], nc[cell]
            if "ci95_ms" in a and "ci95_ms" in b:
                flagged = latency_changed(a, b, min_rel)
                note = "CIs disjoint" if flagged else "within noise"
            else:
                flagged, note = False, "no CI in one report: noise unknown"
            changes.append(_change(name, "p50_ms " + _cell_name(cell), a["p50_ms"], b["p50_ms"], flagged,
                                   higher_is_worse=True, note=note))
        if o.get("peak_rss_mb") is not None and n.get("peak_rss_mb") is not None:
            changes.append(_change(name, "peak_rss_mb", o["peak_rss_mb"], n["peak_rss_mb"], False, True,
                                   note="shown, not flagged: one probe per report"))
    return {"manifest_diffs": diffs, "same_eval": same_eval, "min_rel": min_rel,
            "added": sorted(set(news) - set(olds)), "removed": sorted(set(olds) - set(news)), "changes": changes}


def _cell_name(cell: tuple) -> str:
    if cell == ("headline",):
        return "(headline)"
    threads, xnn, inputs = cell
    return f"{threads}thr {'xnn' if xnn else 'ref'} {inputs}"


def _change(model, metric, old, new, flagged, higher_is_worse, note=""):
    delta = new - old
    rel = delta / old if old else None
    direction = None
    if flagged:
        direction = "regression" if (delta > 0) == higher_is_worse else "improvement"
    return {"model": model, "metric": metric, "old": old, "new": new, "delta": delta, "rel": rel,
            "flagged": bool(flagged), "direction": direction, "note": note}


def render_comparison(result: dict, show_all: bool = False) -> str:
    """Plain-text table: every size, accuracy and headline-cell delta, plus any flagged cell
    (``show_all``: every cell)."""
    lines = []
    for key, (a, b) in result["manifest_diffs"].items():
        lines.append(f"warning: {key} differs: {a} -> {b} (not like with like)")
    if not result["same_eval"]:
        lines.append("warning: different eval splits: accuracy deltas are not flagged")
    for name in result["removed"]:
        lines.append(f"removed: {name}")
    for name in result["added"]:
        lines.append(f"added: {name}")
    headline = {}
    for c in result["changes"]:
        if c["metric"].startswith("p50_ms"):
            headline.setdefault(c["model"], c["metric"])  # the first cell is each report's headline
    width = max([len(c["model"]) for c in result["changes"]] + [5])
    lines.append(f"{'model':{width}s}  {'metric':28s} {'old':>12s} {'new':>12s} {'change':>9s}  flag")
    for c in result["changes"]:
        if not (show_all or c["flagged"] or not c["metric"].startswith("p50_ms")
                or headline.get(c["model"]) == c["metric"]):
            continue
        rel = "" if c["rel"] is None else f"{100 * c['rel']:+.1f}%"
        if c["metric"] in ("accuracy", "macro_f1"):
            rel = f"{100 * c['delta']:+.2f}pt"
        flag = f"{c['direction'].upper()} ({c['note']})" if c["flagged"] else c["note"]
        lines.append(f"{c['model']:{width}s}  {c['metric']:28s} {_num(c['old']):>12s} {_num(c['new']):>12s} "
                     f"{rel:>9s}  {flag}")
    flagged = [c for c in result["changes"] if c["flagged"]]
    regressions = [c for c in flagged if c["direction"] == "regression"]
    lines.append(f"{len(flagged)} change(s) beyond the measured noise, {len(regressions)} regression(s); "
                 f"latency threshold: disjoint 95% CIs and > {result['min_rel']:.0%}.")
    return "\n".join(lines)


def _num(v) -> str:
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
