"""How sure is a student-to-teacher accuracy gap? Paired bootstrap over the eval split, from the ``.tflite`` files.

    python benchmarks/gap_bootstrap.py --export runs/sst5/export --data runs/sst5/data \\
        --out benchmarks/results/sst5/merged --stem gap

runs the teacher's and every student's ``.tflite`` of an export folder over the labeled eval split (LiteRT,
one example per call, as ``kdedge bench`` does), and for each student file reports its gap to the teacher in
points with a 95% paired-bootstrap interval (the same resampled examples for both models, 10,000 resamples,
seeded), the share of resamples where the gap stays within ``--max-gap`` points, and the discordant counts
(examples only the teacher gets right, and only the student). The point estimate is what ``kdedge bench``
reports; the interval says how much of it the eval split's size alone could move.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from common import write_named_report

from kdedge import layout
from kdedge.measure.machine import machine_info
from kdedge.measure.quality import artifact_logits, labeled_eval


def bootstrap_gap(teacher_ok: np.ndarray, student_ok: np.ndarray, resamples: int, seed: int,
                  max_gap: float) -> dict:
    """Gap (teacher minus student accuracy, in points) with its paired-bootstrap 95% interval."""
    n = len(teacher_ok)
    diff = teacher_ok.astype(np.float64) - student_ok.astype(np.float64)
    rng = np.random.default_rng(seed)
    gaps = np.empty(resamples)
    for start in range(0, resamples, 1000):  # 1000 resamples at a time: n x 1000 indices in memory
        idx = rng.integers(0, n, size=(min(1000, resamples - start), n))
        gaps[start:start + len(idx)] = 100 * diff[idx].mean(axis=1)
    lo, hi = np.percentile(gaps, [2.5, 97.5])
    return {"gap_pts": 100 * float(diff.mean()), "ci95_pts": [float(lo), float(hi)],
            "share_within_max_gap": float((gaps <= max_gap).mean()),
            "only_teacher_right": int(((diff > 0)).sum()), "only_student_right": int((diff < 0).sum())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--export", type=Path, required=True, help="A `kdedge export` folder with teacher_float32.tflite.")
    p.add_argument("--data", type=Path, required=True, help="The `kdedge data` folder it was made from.")
    p.add_argument("--out", type=Path, required=True, help="Folder for STEM.json and STEM.md.")
    p.add_argument("--stem", default="gap", help="Report file name stem.")
    p.add_argument("--max-gap", type=float, default=1.5, help="Target gap in points (default 1.5, issue 11's).")
    p.add_argument("--resamples", type=int, default=10_000, help="Bootstrap resamples.")
    p.add_argument("--seed", type=int, default=0, help="Bootstrap seed.")
    args = p.parse_args()

    manifest = json.loads((args.export / layout.MANIFEST).read_text())
    entries = {m["name"]: m for m in manifest["models"]}
    if "teacher_float32" not in entries:
        sys.exit(f"{args.export}: no teacher_float32 in its manifest (export with the teacher)")
    texts, gold, _ = labeled_eval(args.data)
    ok = {}
    for name, entry in entries.items():
        if entry["kind"] not in ("teacher", "student", "baseline") or (entry["kind"] == "teacher"
                                                                         and name != "teacher_float32"):
            continue
        ok[name] = artifact_logits(args.export, entry, texts, manifest["max_len"]).argmax(1) == gold
    rows = []
    for name in ok:
        if name == "teacher_float32":
            continue
        rows.append({"model": name, "accuracy": float(ok[name].mean()),
                     **bootstrap_gap(ok["teacher_float32"], ok[name], args.resamples, args.seed, args.max_gap)})
    report = {"command": shlex.join(["python", "benchmarks/gap_bootstrap.py", *sys.argv[1:]]),
              "export": str(args.export), "eval_examples": len(gold),
              "teacher_accuracy": float(ok["teacher_float32"].mean()), "max_gap_pts": args.max_gap,
              "resamples": args.resamples, "seed": args.seed, "machine": machine_info(), "rows": rows}
    md = [f"# Student-to-teacher gap with a paired bootstrap: {args.export}", "", "```", report["command"], "```", "",
          f"- Eval split: {len(gold):,} examples; teacher_float32.tflite {report['teacher_accuracy']:.2%}. Every "
          "accuracy is the `.tflite` run with LiteRT, one example per call.",
          f"- Gap = teacher minus student accuracy, in points. 95% interval: {args.resamples:,} paired bootstrap "
          f"resamples of the eval examples (seed {args.seed}). \"within {args.max_gap}\": the share of resamples "
          f"whose gap is at most {args.max_gap} pts. One example is {100 / len(gold):.3f} pts.", "",
          f"| model | accuracy | gap (pts) | 95% interval (pts) | within {args.max_gap} pts | only the teacher right "
          "| only the student right |", "|---|---:|---:|---|---:|---:|---:|"]
    md += [f"| {r['model']} | {r['accuracy']:.2%} | {r['gap_pts']:+.2f} | [{r['ci95_pts'][0]:+.2f}, "
           f"{r['ci95_pts'][1]:+.2f}] | {r['share_within_max_gap']:.0%} | {r['only_teacher_right']} | "
           f"{r['only_student_right']} |" for r in rows]
    write_named_report(args.out, args.stem, report, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
