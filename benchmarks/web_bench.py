"""Browser benchmark: the student files classifying text in headless Chromium (MediaPipe Tasks for Web,
WASM) beside the same files on the host, in one report.

For each file (default: the four student formats of an export), on this machine:

- ``host-litert`` — LiteRT ``invoke()`` on token ids (1 thread, XNNPACK on): the bench stage's headline
  cell, the model alone;
- ``host-text`` — :class:`kdedge.TextClassifier` ``probabilities([text])``: text in, probabilities out,
  kdedge's tokenizer included (1 thread);
- ``web-wasm`` — ``classify(text)`` of MediaPipe's TextClassifier inside the page ``kdedge serve``
  serves, timed in the page (``performance.now()``, cross-origin isolated), text in, probabilities out.

All three run over the same eval texts in the same order, warm up alike and stop by the same rule
(:func:`kdedge.measure.timing.adaptive_timing`: the median's 95% CI within ±2%, or the time cap).
Before timing, every eval text is classified in the page and compared with the host (label agreement,
largest probability difference, accuracy of the browser's own answers). A screenshot of the page with
a classified sentence is kept as ``page.png``.

Usage::

    python benchmarks/web_bench.py --export-dir runs/sst2/export --data runs/sst2/data \\
        --out benchmarks/results/web
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, write_named_report
from kdedge.io import read_json, write_figure

SHIPPED = "student_int8"  # the file `kdedge serve EXPORT_DIR` serves
PLATFORMS = ("host-litert", "host-text", "web-wasm")
TARGET_RATIO = 5.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--export-dir", type=Path, required=True, help="a kdedge export folder")
    ap.add_argument("--data", type=Path, required=True, help="its data stage folder (eval.jsonl)")
    ap.add_argument("--out", type=Path, default=RESULTS / "web", help="report folder (default: %(default)s)")
    ap.add_argument("--models", default="student_float32,student_dynamic,student_float16,student_int8",
                    help="comma-separated manifest names (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=20, help="untimed calls first (default: %(default)s)")
    ap.add_argument("--min-runs", type=int, default=200, help="timed calls at least (default: %(default)s)")
    ap.add_argument("--time-cap", type=float, default=5.0, help="seconds of timing per cell at most "
                    "(default: %(default)s)")
    ap.add_argument("--target-ci", type=float, default=0.02, help="stop once the median's 95%% CI is within "
                    "this fraction of it (default: %(default)s)")
    ap.add_argument("--max-eval", type=int, default=None, help="cap the eval texts (default: all)")
    args = ap.parse_args()

    from kdedge.measure.machine import machine_info
    from kdedge.measure.quality import labeled_eval
    from kdedge.measure.timing import TimingPlan

    plan = TimingPlan(warmup=args.warmup, min_runs=args.min_runs, target_rel=args.target_ci,
                      time_cap_s=args.time_cap)
    plan.validate()
    manifest = read_json(args.export_dir / "manifest.json")
    entries = {e["name"]: e for e in manifest["models"]}
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in entries]
    if unknown:
        print(f"web_bench: --models {','.join(unknown)} not in {args.export_dir}/manifest.json", file=sys.stderr)
        return 2
    texts, gold, label_names = labeled_eval(args.data, args.max_eval)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, browser = [], None
    for name in names:
        path = args.export_dir / entries[name]["file"]
        print(f"[web_bench] {name}", file=sys.stderr, flush=True)
        result = bench_file(path, texts, gold, plan, screenshot=args.out / "page.png" if name == SHIPPED else None)
        browser = result.pop("browser")
        rows.extend({"name": name, "file": entries[name]["file"], "bytes": path.stat().st_size,
                     "quantization": entries[name]["quantization"], **r} for r in result.pop("rows"))
    report = {"schema": "kdedge-web-bench/1",
              "command": "python benchmarks/web_bench.py " + shlex.join(sys.argv[1:]),
              "machine": {**machine_info((1,)), "browser": browser},
              "eval": {"split": str(args.data / "eval.jsonl"), "examples": len(texts), "label_names": label_names},
              "plan": {"warmup": plan.warmup, "min_runs": plan.min_runs, "target_ci": plan.target_rel,
                       "time_cap_s": plan.time_cap_s},
              "shipped": SHIPPED, "rows": rows, "targets": targets(rows)}
    plot(rows, args.out / "web.png")
    write_named_report(args.out, "web", report, markdown(report))
    return 0


def bench_file(path: Path, texts: list[str], gold: np.ndarray, plan, screenshot: Path | None) -> dict:
    """The three rows of one file, and what the page said about the browser."""
    from kdedge import TextClassifier
    from kdedge.measure.timing import adaptive_timing, time_invocations
    from kdedge.runtime import TFLiteModel
    from kdedge.serve.browser import PageDriver, time_page
    from kdedge.serve.process import running_server

    clf = TextClassifier(path, num_threads=1)
    want = clf.probabilities(texts)
    labels = clf.labels
    ids = clf.tokenizer.encode(texts)
    model = TFLiteModel(path, num_threads=1, xnnpack=True)
    name = model.interpreter.get_input_details()[0]["name"]
    feeds = [{name: ids[i:i + 1]} for i in range(len(ids))]
    rows = [{"platform": "host-litert", "runtime": "ai-edge-litert, 1 thread, XNNPACK", "input": "token ids",
             "accuracy": float((want.argmax(1) == gold).mean()), **time_invocations(model, feeds, plan)}]
    del model

    one = TextClassifier(path, num_threads=1)
    for i in range(plan.warmup):
        one.probabilities([texts[i % len(texts)]])

    def run(start: int, n: int) -> list[float]:
        out = []
        for i in range(start, start + n):
            t0 = time.perf_counter()
            one.probabilities([texts[i % len(texts)]])
            out.append(time.perf_counter() - t0)
        return out

    rows.append({"platform": "host-text", "runtime": "kdedge.TextClassifier (LiteRT, 1 thread)",
                 "input": "text", "accuracy": rows[0]["accuracy"], **adaptive_timing(run, plan)})

    with tempfile.TemporaryDirectory() as tmp:
        with running_server(path, Path(tmp) / "serve.log", "--max-chars", str(max(map(len, texts)) + 1)) as (url, _):
            with PageDriver(url + "/") as page:
                if not page.opened["ready"]["local"]:
                    raise RuntimeError(f"{path.name}: the page could not load the model: {page.opened['ready']}")
                got = page.classify(texts)["local"]
                web = np.array([[g["scores"][k] for k in labels] for g in got])
                web_row = {"platform": "web-wasm", "runtime": "MediaPipe Tasks for Web (tasks-text WASM)",
                           "input": "text", "accuracy": float((web.argmax(1) == gold).mean()),
                           "label_agreement": float((web.argmax(1) == want.argmax(1)).mean()),
                           "max_prob_diff": float(np.abs(web - want).max()),
                           "cross_origin_isolated": page.opened["cross_origin_isolated"],
                           "timer_resolution_ms": page.opened["timer_resolution_ms"],
                           **time_page(page, texts, plan)}
                if screenshot is not None:
                    page.type(texts[0])
                    page.screenshot(screenshot)
                browser = page.opened["browser"]
    rows.append(web_row)
    return {"rows": rows, "browser": browser}


def targets(rows: list[dict]) -> list[dict]:
    by = {(r["name"], r["platform"]): r for r in rows}
    out = []
    web, text = by.get((SHIPPED, "web-wasm")), by.get((SHIPPED, "host-text"))
    if web and text:
        ratio = web["p50_ms"] / text["p50_ms"]
        out.append({"target": f"browser p50 of classify ({SHIPPED}) within {TARGET_RATIO:g}x of host "
                              "text-in p50", "measured": ratio,
                    "shown": f"{web['p50_ms']:.3f} ms / {text['p50_ms']:.3f} ms = {ratio:.2f}x",
                    "met": ratio <= TARGET_RATIO})
    agree = [r for r in rows if r["platform"] == "web-wasm"]
    if agree:
        worst = min(r["label_agreement"] for r in agree)
        out.append({"target": "browser labels equal the host's on every eval text (every file)", "measured": worst,
                    "shown": f"{100 * worst:.2f}% (largest probability difference "
                             f"{max(r['max_prob_diff'] for r in agree):.1e})", "met": worst == 1.0})
    return out


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# Browser benchmark: {report['eval']['examples']} eval texts, text in → probabilities out", "",
             "```", report["command"], "```", "",
             f"- Machine: {m['cpu']}, {m['cores']} cores; {m['browser'] and 'Chromium ' + m['browser']} headless "
             "(`--headless --no-sandbox --disable-gpu`, empty profile), driven by playwright-core; "
             f"ai-edge-litert {m.get('ai_edge_litert', '?')}; {m.get('os', '')}.",
             f"- Timing: {report['plan']['warmup']} warm-up calls, then at least {report['plan']['min_runs']} "
             f"timed calls, doubling until the median's 95% CI is within ±{100 * report['plan']['target_ci']:g}% "
             f"or {report['plan']['time_cap_s']:g} s — the same rule for all three platforms; one call = one text.",
             "- `host-litert`: `invoke()` on token ids (the model alone; the bench stage's headline cell). "
             "`host-text`: `kdedge.TextClassifier.probabilities([text])`, tokenizer included. `web-wasm`: "
             "MediaPipe `TextClassifier.classify(text)` in the page `kdedge serve` serves, timed in the page.",
             "- The page's clock (`performance.now()`, cross-origin isolated by kdedge serve's COOP/COEP headers) "
             f"steps by {_resolution(report['rows'])}; per-call browser figures are rounded to that step, so "
             "their CI can read 0 when every middle sample falls on the same step.",
             "- Accuracy: each platform's own answers over the eval split; `agree` = browser top label equal to "
             "the host's, `Δp` = largest probability difference.", "",
             "| file | platform | input | p50 ms | p90 ms | p99 ms | CI ±% | runs | accuracy | agree | Δp |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        lines.append(f"| {r['name']} | {r['platform']} | {r['input']} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | "
                     f"{r['p99_ms']:.3f} | {100 * r['ci_rel']:.1f}{'' if r['converged'] else ' (cap)'} | "
                     f"{r['runs']} | {100 * r['accuracy']:.2f}% | "
                     + (f"{100 * r['label_agreement']:.2f}% | {r['max_prob_diff']:.1e} |"
                        if "label_agreement" in r else "| |"))
    lines += ["", "![p50 per file and platform](web.png)", "", "## Targets (issue 12)", "",
              "| target | measured | met |", "|---|---:|:---:|"]
    lines += [f"| {t['target']} | {t['shown']} | {'yes' if t['met'] else 'NO'} |" for t in report["targets"]]
    lines += ["", f"The page after classifying the first eval sentence in the browser and on the server "
                  f"(`{report['shipped']}`):", "", "![the kdedge serve page](page.png)", ""]
    return "\n".join(lines)


def _resolution(rows: list[dict]) -> str:
    steps = sorted({r["timer_resolution_ms"] for r in rows if "timer_resolution_ms" in r})
    return ", ".join(f"{1000 * s:.1f} µs" for s in steps) or "?"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["name"] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(PLATFORMS)
    for j, platform in enumerate(PLATFORMS):
        got = {r["name"]: r for r in rows if r["platform"] == platform}
        xs = [i + (j - 1) * width for i, n in enumerate(names) if n in got]
        p50 = [got[n]["p50_ms"] for n in names if n in got]
        p90 = [got[n]["p90_ms"] for n in names if n in got]
        p99 = [got[n]["p99_ms"] for n in names if n in got]
        bars = ax.bar(xs, p50, width, label=f"{platform}")
        ax.errorbar(xs, p50, yerr=[[0] * len(p50), [b - a for a, b in zip(p50, p90)]], fmt="none", ecolor="k",
                    capsize=3, lw=0.8)
        ax.scatter(xs, p99, marker="x", color=bars.patches[0].get_facecolor(), edgecolor="k", zorder=3, s=25)
    ax.set_xticks(range(len(names)), [n.replace("student_", "") for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("ms per text (bar p50, whisker p90, x p99)")
    ax.set_title("One text in, probabilities out: host LiteRT vs the browser (WASM)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_figure(path, fig)


if __name__ == "__main__":
    sys.exit(main())
