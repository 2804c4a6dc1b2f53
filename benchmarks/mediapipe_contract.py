"""What the self-describing files cost and whether MediaPipe runs them: issue 11's measurements.

Two reports under ``--out`` (default ``benchmarks/results/mediapipe``):

- ``format.{json,md}``: tokenizer format 3 (MediaPipe's RegexTokenizer, with metadata) against
  format 1 (kdedge's word tokenizer) on SST-2, the same data, teacher, transfer set (teacher logits
  from the store), seed and settings, for each arch. Accuracies are of the ``.tflite`` files run with
  LiteRT over dev (872) and the treebank's test sentences (1,821), from each run's ``kdedge bench``
  report.
- ``agreement.{json,md}``: the shipped student files (format 3) run by MediaPipe Tasks' own
  ``TextClassifier`` and by ``kdedge.TextClassifier`` over every dev and test sentence: top-label
  agreement, the largest probability difference, and accuracy from MediaPipe's own scores.

Run folders (made by the commands in ``benchmarks/results/mediapipe/README.md``)::

    RUNS/sst2/{data,teacher}            kdedge data / teacher
    RUNS/sst2/f{1,3}-<arch>/{student,distill,export,bench}

Usage::

    python benchmarks/mediapipe_contract.py --runs /work/runs --archs cnn,transformer
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from common import RESULTS
from kdedge.io import write_json, write_text

FILES = ("student_float32", "student_int8")


def _bench(run: Path) -> dict:
    return {r["name"]: r for r in json.loads((run / "bench" / "report.json").read_text())["models"]}


def format_report(runs: Path, archs: list[str]) -> dict:
    rows = []
    for arch in archs:
        for fmt in ("f1", "f3"):
            run = runs / "sst2" / f"{fmt}-{arch}"
            bench = _bench(run)
            student = json.loads((run / "student" / "config.json").read_text())
            distill = json.loads((run / "distill" / "metrics.json").read_text())
            manifest = json.loads((run / "export" / "manifest.json").read_text())
            for name in FILES:
                entry = next(m for m in manifest["models"] if m["name"] == name)
                rows.append({"arch": arch, "format": student.get("tokenizer_format", "kdedge-word-tokenizer/1"),
                             "file": name, "dev_accuracy": bench[name]["accuracy"],
                             "test_accuracy": (bench[name].get("test") or {}).get("accuracy"),
                             "bytes": entry["bytes"], "metadata": entry.get("metadata", False),
                             "vocab_size": student["vocab_size_actual"],
                             "keras_dev_accuracy": distill["eval_accuracy"]})
    deltas = []
    for arch in archs:
        for name in FILES:
            f1 = next(r for r in rows if r["arch"] == arch and r["file"] == name and r["format"].endswith("/1"))
            f3 = next(r for r in rows if r["arch"] == arch and r["file"] == name and r["format"].endswith("/3"))
            deltas.append({"arch": arch, "file": name, "dev_delta_pts": 100 * (f3["dev_accuracy"] - f1["dev_accuracy"]),
                           "test_delta_pts": 100 * (f3["test_accuracy"] - f1["test_accuracy"])
                           if f1["test_accuracy"] is not None and f3["test_accuracy"] is not None else None,
                           "within_0.3_pts_dev": f3["dev_accuracy"] >= f1["dev_accuracy"] - 0.003})
    return {"rows": rows, "deltas": deltas}


def _mediapipe(path: Path):
    from mediapipe.tasks.python import text
    from mediapipe.tasks.python.core import base_options
    options = text.TextClassifierOptions(base_options=base_options.BaseOptions(model_asset_path=str(path)))
    return text.TextClassifier.create_from_options(options)


def agreement_report(runs: Path, archs: list[str]) -> dict:
    from kdedge import TextClassifier
    from kdedge.data import Split

    data = runs / "sst2" / "data"
    splits = {"dev": Split.from_jsonl(data / "eval.jsonl", "eval")}
    if (data / "test.jsonl").is_file():
        splits["test"] = Split.from_jsonl(data / "test.jsonl", "test")
    rows = []
    for arch in archs:
        for name in FILES:
            path = runs / "sst2" / f"f3-{arch}" / "export" / f"{name}.tflite"
            ours, theirs = TextClassifier(path), _mediapipe(path)
            try:
                for split_name, split in splits.items():
                    t0 = time.perf_counter()
                    p_ours = ours.probabilities(split.texts)
                    t_ours = time.perf_counter() - t0
                    p_mp = np.zeros_like(p_ours)
                    t0 = time.perf_counter()
                    for i, text in enumerate(split.texts):
                        for c in theirs.classify(text).classifications[0].categories:
                            p_mp[i, c.index] = c.score
                    t_mp = time.perf_counter() - t0
                    gold = split.labels
                    rows.append({"arch": arch, "file": name, "split": split_name, "examples": len(gold),
                                 "label_agreement": float((p_mp.argmax(1) == p_ours.argmax(1)).mean()),
                                 "max_abs_prob_diff": float(np.abs(p_mp - p_ours).max()),
                                 "mediapipe_accuracy": float((p_mp.argmax(1) == gold).mean()),
                                 "kdedge_accuracy": float((p_ours.argmax(1) == gold).mean()),
                                 "mediapipe_ms_per_text": 1000 * t_mp / len(gold),
                                 "kdedge_ms_per_text": 1000 * t_ours / len(gold)})
            finally:
                theirs.close()
    return {"rows": rows}


def render_format(rep: dict, command: str) -> str:
    lines = ["# Tokenizer format 3 (MediaPipe) against format 1 on SST-2", "",
             "Same data, teacher, transfer set (the teacher's logits from the store), seed and distill settings; "
             "only the student's tokenizer differs. Accuracies are of each `.tflite`, run with LiteRT by "
             "`kdedge bench`, over GLUE dev (872) and the treebank's binary test sentences (1,821).", "",
             f"Command: `{command}` (the runs: `README.md` beside this file).", "",
             "| arch | file | tokenizer | vocab | metadata | size | dev acc | test acc |",
             "|---|---|---|---:|:---:|---:|---:|---:|"]
    for r in rep["rows"]:
        test = f"{r['test_accuracy']:.4f}" if r["test_accuracy"] is not None else "–"
        lines.append(f"| {r['arch']} | {r['file']} | {r['format'].split('/')[-1]} | {r['vocab_size']} | "
                     f"{'yes' if r['metadata'] else 'no'} | {r['bytes'] / 1e6:.2f} MB | {r['dev_accuracy']:.4f} | "
                     f"{test} |")
    lines += ["", "| arch | file | Δ dev (pts, 3 − 1) | Δ test (pts) | format 3 within 0.3 pts on dev |",
              "|---|---|---:|---:|:---:|"]
    for d in rep["deltas"]:
        test = f"{d['test_delta_pts']:+.2f}" if d["test_delta_pts"] is not None else "–"
        lines.append(f"| {d['arch']} | {d['file']} | {d['dev_delta_pts']:+.2f} | {test} | "
                     f"{'yes' if d['within_0.3_pts_dev'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def render_agreement(rep: dict, command: str) -> str:
    lines = ["# MediaPipe Tasks runs the shipped students: agreement with kdedge", "",
             "Each format-3 student file is loaded by MediaPipe's own `TextClassifier` (mediapipe 1.2.3, Python; the "
             "C++ core the Android, iOS and Web tasks share) with no kdedge code, and by `kdedge.TextClassifier`; "
             "both classify every sentence of the split one text at a time.", "",
             f"Command: `{command}`.", "",
             "| arch | file | split | texts | label agreement | max abs prob diff | MediaPipe acc | kdedge acc | "
             "MediaPipe ms/text | kdedge ms/text |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rep["rows"]:
        lines.append(f"| {r['arch']} | {r['file']} | {r['split']} | {r['examples']} | {r['label_agreement']:.2%} | "
                     f"{r['max_abs_prob_diff']:.2g} | {r['mediapipe_accuracy']:.4f} | {r['kdedge_accuracy']:.4f} | "
                     f"{r['mediapipe_ms_per_text']:.3f} | {r['kdedge_ms_per_text']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", required=True, type=Path, help="Folder holding sst2/{data,teacher,f1-*,f3-*}.")
    ap.add_argument("--archs", default="cnn,transformer", help="Comma-separated student architectures.")
    ap.add_argument("--out", type=Path, default=RESULTS / "mediapipe", help="Where the reports go.")
    args = ap.parse_args()
    archs = [a for a in args.archs.split(",") if a]
    command = "python " + " ".join(["benchmarks/mediapipe_contract.py"] + sys.argv[1:])
    fmt = format_report(args.runs, archs)
    write_json(args.out / "format.json", {**fmt, "command": command})
    write_text(args.out / "format.md", render_format(fmt, command))
    agree = agreement_report(args.runs, archs)
    write_json(args.out / "agreement.json", {**agree, "command": command})
    write_text(args.out / "agreement.md", render_agreement(agree, command))
    print(render_format(fmt, command))
    print(render_agreement(agree, command))


if __name__ == "__main__":
    main()
