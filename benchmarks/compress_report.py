"""Compression that keeps accuracy: compress -> export (with the gate's record) -> bench, on a finished run.

    python benchmarks/compress_report.py --run runs/sst2-400k --distill runs/sst2-400k-bilstm/distill \
        --out runs/sst2-compress [--teacher-report benchmarks/results/sst2/report.json] [-- compress flags]

Runs ``kdedge compress`` (every variant fine-tuned on the distillation loss),
``kdedge export --compress`` (every variant converted; the retention gate's
record of accuracy, retention and label-flip rate per student) and ``kdedge
bench`` on the students (1 thread, XNNPACK on, eval inputs) as their own
commands, then writes ``benchmarks/results/<dataset>/<name>.{json,md,png}``:
size raw and gzip, accuracy of every ``.tflite`` on the full eval split,
retention against the float student and the teacher, flip rate, p50, and the
compression issue's targets. The teacher's accuracy comes from
``--teacher-report`` (the same teacher ``.tflite``, sha256 checked, on the same
eval split): running a BERT over IMDB's 25k reviews again would add 12 minutes
for a number already measured.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from common import RESULTS, run_timed

from kdedge.io import write_figure, write_json, write_text

INT8_MAX_BYTES = 1_000_000
RETAIN_FLOAT = 0.99
RETAIN_TEACHER = 0.98
SMALL_AIM = 500_000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="folder with data/ and teacher/")
    p.add_argument("--distill", required=True, help="the distill folder to compress")
    p.add_argument("--out", required=True, help="folder for compress/ export/ bench/")
    p.add_argument("--teacher-report", default=None, help="a bench report.json holding this teacher's row")
    p.add_argument("--results", default=None, help="default benchmarks/results/<dataset>")
    p.add_argument("--name", default="compress", help="report file stem: <results>/<name>.{json,md,png}")
    p.add_argument("extra", nargs="*", help="more kdedge compress flags (after --)")
    p.add_argument("--render-only", action="store_true", help="re-render <name>.md and .png from <name>.json")
    args = p.parse_args()
    run, out = Path(args.run), Path(args.out)
    dataset = json.loads((run / "data" / "config.json").read_text())["dataset"]
    results = Path(args.results or RESULTS / dataset)
    if args.render_only:
        report = json.loads((results / f"{args.name}.json").read_text())
        plot(report, results / report["plot"])
        write_text(results / f"{args.name}.md", render(report))
        return 0
    d = {s: out / s for s in ("compress", "export", "bench")}
    commands = {
        "compress": ["kdedge", "compress", "--distill-dir", args.distill, "--data", str(run / "data"), "--teacher-dir",
                     str(run / "teacher"), "--out", str(d["compress"]), "--overwrite", *args.extra],
        "export": ["kdedge", "export", "--distill-dir", args.distill, "--data", str(run / "data"), "--no-teacher",
                   "--compress-dir", str(d["compress"]), "--out", str(d["export"]), "--overwrite"],
        "bench": ["kdedge", "bench", "--export-dir", str(d["export"]), "--data", str(run / "data"), "--out",
                  str(d["bench"]), "--overwrite", "--threads", "1", "--xnnpack", "on", "--lengths", ""],
    }
    seconds = run_timed(commands)

    bench = json.loads((d["bench"] / "report.json").read_text())
    export = json.loads((d["export"] / "manifest.json").read_text())
    compress = json.loads((d["compress"] / "manifest.json").read_text())
    teacher = None
    if args.teacher_report:
        rows = json.loads(Path(args.teacher_report).read_text())["models"]
        teacher = next(r for r in rows if r["kind"] == "teacher")
    variants = {f"variant_{v['name']}": v for v in compress["variants"]}
    rows = []
    for r in bench["models"]:
        v = variants.get(r["name"], {})
        rows.append({"name": r["name"], "spec": v.get("spec", r["quantization"] + " (export mode)"),
                     "method": v.get("method", "ptq" if r["quantization"] == "int8" else r["quantization"]),
                     "bytes": r["bytes"], "gzip_bytes": r["gzip_bytes"], "accuracy": r["accuracy"],
                     "macro_f1": r["macro_f1"], "retention_vs_float_student": r.get("retention_vs_float_student"),
                     "retention_vs_teacher": r["accuracy"] / teacher["accuracy"] if teacher else None,
                     "flip_rate_vs_float_student": r.get("flip_rate_vs_float_student"),
                     "p50_ms": r["latency"]["p50_ms"], "keras_eval_accuracy": v.get("keras_eval_accuracy"),
                     "params": v.get("params"), "vocab_rows": v.get("vocab_rows"), "compress_seconds": v.get("seconds"),
                     "sha256": r["sha256"]})
    report = {"dataset": dataset, "machine": bench["machine"], "eval": bench["eval"],
              "teacher": ({"accuracy": teacher["accuracy"], "bytes": teacher["bytes"], "sha256": teacher["sha256"],
                           "from": args.teacher_report} if teacher else None),
              "rows": rows, "gate": export["gate"], "fine_tune": compress["fine_tune"],
              "commands": {k: shlex.join(v) for k, v in commands.items()},
              "benchmark_command": "python benchmarks/compress_report.py " + shlex.join(sys.argv[1:]),
              "stage_wall_seconds": seconds}
    report["targets"] = targets(rows, teacher)
    results.mkdir(parents=True, exist_ok=True)
    report["plot"] = f"{args.name}.png"
    plot(report, results / report["plot"])
    write_json(results / f"{args.name}.json", report)
    write_text(results / f"{args.name}.md", render(report))
    print(render(report))
    return 0


def targets(rows: list[dict], teacher: dict | None) -> list[dict]:
    int8 = [r for r in rows if r["name"] != "student_float32" and r["bytes"] <= INT8_MAX_BYTES
            and r["method"] in ("ptq", "qat") and (r["retention_vs_float_student"] or 0) >= RETAIN_FLOAT]
    best = max(int8, key=lambda r: r["accuracy"], default=None)
    out = [{"target": f"an int8 student <= {INT8_MAX_BYTES / 1e6:.1f} MB keeps >= {RETAIN_FLOAT:.0%} of its float "
                      "student's accuracy", "met": best is not None,
            "shown": (f"{best['name']}: {best['bytes'] / 1e6:.3f} MB, {best['retention_vs_float_student']:.2%}"
                      if best else "none")}]
    if teacher:
        keep = [r for r in rows if (r["retention_vs_teacher"] or 0) >= RETAIN_TEACHER]
        small = min(keep, key=lambda r: r["bytes"], default=None)
        out.append({"target": f"smallest variant with >= {RETAIN_TEACHER:.0%} of the teacher's accuracy "
                              f"(aim <= {SMALL_AIM / 1e6:.1f} MB)",
                    "met": small is not None and small["bytes"] <= SMALL_AIM,
                    "shown": (f"{small['name']}: {small['bytes'] / 1e6:.3f} MB ({small['gzip_bytes'] / 1e6:.3f} MB "
                              f"gzip), {small['retention_vs_teacher']:.2%} of the teacher" if small else "none")})
    return out


def render(r: dict) -> str:
    m = r["machine"]
    t = r["teacher"]
    lines = [f"# Compression report: {r['dataset']}", "", "```", r["benchmark_command"], "", *r["commands"].values(),
             "```", "",
             f"- Eval split: `{r['eval']['split']}` ({r['eval']['examples']} examples); every accuracy is the "
             "`.tflite` run with LiteRT over all of it. Retention vs float = accuracy / `student_float32.tflite`'s; "
             "flips = share of examples whose label differs from the float student's.",
             f"- Fine-tuning per variant: {r['fine_tune']['epochs']} epoch(s) on {r['fine_tune']['examples']:,} "
             "transfer rows (seeded sample of the distill stage's transfer set), distillation loss; QAT fine-tunes "
             "again with fake quantization.",
             (f"- Teacher: {t['accuracy']:.2%}, {t['bytes'] / 1e6:.1f} MB, from `{t['from']}` (same `.tflite`, sha256 "
              f"{t['sha256'][:12]}, same eval split)." if t else "- Teacher: not given."),
             f"- Latency: p50, 1 thread, XNNPACK on, eval texts. Machine {m['cpu']}, {m['cores']} cores; commit "
             f"{m['git_commit']}; {m['date']}.", "",
             "| model | variant | method | size | gzip | accuracy | macro-F1 | vs float | vs teacher | flips | p50 ms "
             "| params |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def pct(v):
        return f"{v:.2%}" if v is not None else "-"
    for x in r["rows"]:
        lines.append(f"| {x['name']} | `{x['spec']}` | {x['method']} | {x['bytes'] / 1e6:.3f} MB | "
                     f"{x['gzip_bytes'] / 1e6:.3f} MB | {x['accuracy']:.4f} | {x['macro_f1']:.4f} | "
                     f"{pct(x['retention_vs_float_student'])} | {pct(x['retention_vs_teacher'])} | "
                     f"{pct(x['flip_rate_vs_float_student'])} | {x['p50_ms']:.3f} | "
                     f"{x['params']:,} |" if x["params"] else
                     f"| {x['name']} | `{x['spec']}` | {x['method']} | {x['bytes'] / 1e6:.3f} MB | "
                     f"{x['gzip_bytes'] / 1e6:.3f} MB | {x['accuracy']:.4f} | {x['macro_f1']:.4f} | "
                     f"{pct(x['retention_vs_float_student'])} | {pct(x['retention_vs_teacher'])} | "
                     f"{pct(x['flip_rate_vs_float_student'])} | {x['p50_ms']:.3f} | - |")
    lines += ["", "## Targets (compression issue)", "", "| target | measured | met |", "|---|---|:---:|"]
    lines += [f"| {c['target']} | {c['shown']} | {'yes' if c['met'] else 'NO'} |" for c in r["targets"]]
    lines += ["", f"![accuracy against size]({r.get('plot', 'compress.png')})"]
    return "\n".join(lines) + "\n"


def plot(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from kdedge.measure.plots import pareto_front

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, key, label in ((axes[0], "bytes", "file size, MB (log scale)"),
                           (axes[1], "gzip_bytes", "gzip-compressed size, MB (log scale)")):
        xs = [x[key] / 1e6 for x in r["rows"]]
        ys = [100 * x["accuracy"] for x in r["rows"]]
        for i, x in enumerate(r["rows"]):
            ax.scatter(xs[i], ys[i], color=f"C{i % 10}", marker="os^Dv<>ph"[i % 9], s=50, label=x["name"], zorder=3)
        front = pareto_front(list(zip(xs, ys)))
        ax.step([xs[i] for i in front], [ys[i] for i in front], where="post", color="0.3", ls="--", lw=1,
                label="Pareto front")
        if r["teacher"]:
            ax.axhline(100 * r["teacher"]["accuracy"] * RETAIN_TEACHER, color="C3", ls=":", lw=1,
                       label=f"{RETAIN_TEACHER:.0%} of the teacher")
        ax.set_xscale("log")
        ticks = [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10) if min(xs) / 1.5 <= t <= max(xs) * 1.5]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy on the eval split, % (from the .tflite)")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7)
    fig.suptitle(f"{r['dataset']}: compressed students ({r['eval']['examples']} eval examples)", fontsize=9)
    fig.tight_layout()
    write_figure(path, fig)


if __name__ == "__main__":
    sys.exit(main())
