"""Commit-ready report of an SST-5 or SST-3 run (the treebank's test split), with issue 11's target.

    python benchmarks/treebank_report.py --run /work/runs/sst5 --command "..."

reads ``RUN/{data,teacher,distill,bench}`` (made stage by stage, or by ``kdedge pipeline
--dataset sst5``), and writes ``benchmarks/results/<dataset>/report.{json,md,png}``: the bench
report (every ``.tflite`` run with LiteRT over the 2,210 test sentences) plus the teacher and
distill metrics, the commands, and the target "the distilled student within 1.5 points of the
teacher" checked for each student file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import RESULTS, render_report

MAX_GAP_PTS = 1.5


def targets(report: dict) -> list[dict]:
    rows = {r["name"]: r for r in report["models"]}
    teacher = rows["teacher_float32"]["accuracy"]
    out = []
    for name in ("student_float32", "student_int8", "baseline_float32"):
        if name not in rows:
            continue
        gap = 100 * (teacher - rows[name]["accuracy"])
        out.append({"target": f"{name} within {MAX_GAP_PTS} pts of the teacher ({teacher:.2%})"
                    + (" (reference: the labels-only twin, not a target)" if name.startswith("baseline") else ""),
                    "value": gap, "met": gap <= MAX_GAP_PTS,
                    "shown": f"{rows[name]['accuracy']:.2%} ({gap:+.2f} pts below)" if gap >= 0
                    else f"{rows[name]['accuracy']:.2%} ({-gap:.2f} pts above)"})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, type=Path, help="folder with data/ teacher/ distill/ export/ bench/")
    p.add_argument("--command", action="append", default=[], help="a command that made the run (repeatable)")
    p.add_argument("--results", type=Path, default=None, help="default benchmarks/results/<dataset>")
    p.add_argument("--teacher-dir", type=Path, default=None, help="the teacher stage folder (default RUN/teacher)")
    args = p.parse_args()
    report = json.loads((args.run / "bench" / "report.json").read_text())
    stats = json.loads((args.run / "data" / "stats.json").read_text())
    results = args.results or RESULTS / stats["dataset"]
    results.mkdir(parents=True, exist_ok=True)
    report["run"] = {"commands": args.command, "benchmark_command": f"python benchmarks/treebank_report.py --run "
                     f"{args.run}", "data": {k: stats[k] for k in ("dataset", "label_names", "train", "eval")},
                     "teacher": json.loads(((args.teacher_dir or args.run / "teacher") / "metrics.json").read_text()),
                     "distill_metrics": json.loads((args.run / "distill" / "metrics.json").read_text())}
    report["targets"] = [t for t in targets(report) if not t["target"].startswith("baseline")]
    report["targets_of"] = "issue 11"
    render_report(report, results)


if __name__ == "__main__":
    main()
