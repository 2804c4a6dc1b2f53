"""What the transfer set and the soft targets are worth: three students, same everything else.

    python benchmarks/transfer_ablation.py --run runs/sst2

Reuses the data and teacher folders of a finished ``kdedge pipeline`` run and
trains the default CNN student three ways:

- ``labels-only``: gold cross entropy on the train split (w_gold 1, the others 0);
- ``distill, train split``: the default loss, train split only;
- ``distill, train + unlabeled``: the default loss plus the run's unlabeled
  text labeled by the teacher (the pipeline's default).

Each is exported to int8 TFLite and scored by running that file over the eval
split. Writes ``benchmarks/results/<dataset>/transfer_ablation.{json,md}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

from kdedge.io import write_json, write_text
from kdedge.measure.machine import machine_info
from kdedge.stages.bench import BenchConfig, run_bench
from kdedge.stages.distill import DistillConfig, run_distill
from kdedge.stages.export import ExportConfig, run_export
from kdedge.stages.student import StudentConfig, run_student

VARIANTS = [
    ("labels-only", False, {"w_soft": 0.0, "w_hard": 0.0, "w_gold": 1.0, "baseline": False}),
    ("distill, train split", False, {}),
    ("distill, train + unlabeled", True, {}),
]


def known(cls, values: dict) -> dict:
    """The run's settings that ``cls`` still has (a run made by an older kdedge may hold more)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if k in names}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default="runs/sst2", help="a finished kdedge pipeline folder")
    p.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    p.add_argument("--results", default=None, help="default benchmarks/results/<dataset>")
    args = p.parse_args()
    run = Path(args.run)
    cfg = json.loads((run / "config.json").read_text())
    dataset = cfg["data"]["dataset"]
    results = Path(args.results or ROOT / "benchmarks" / "results" / dataset)
    work = Path(args.work or tempfile.mkdtemp(prefix="kdedge-ablation-"))

    # A data folder without the unlabeled text, for the first two variants.
    labeled_only = work / "data_labeled"
    labeled_only.mkdir(parents=True, exist_ok=True)
    for name in ("train.jsonl", "eval.jsonl", "config.json", "stats.json"):
        (labeled_only / name).write_bytes((run / "data" / name).read_bytes())

    rows = []
    for name, with_unlabeled, loss in VARIANTS:
        data = run / "data" if with_unlabeled else labeled_only
        folder = work / name.replace(" ", "_").replace(",", "").replace("+", "plus")
        t0 = time.perf_counter()
        student_cfg = StudentConfig(**known(StudentConfig, cfg["student"]))
        run_student(data, folder / "student", student_cfg, run / "teacher")
        distill_cfg = DistillConfig(**{**known(DistillConfig, cfg["distill"]), **loss})
        metrics = run_distill(data, run / "teacher", folder / "student", folder / "distill", distill_cfg)
        run_export(folder / "distill", None, data, folder / "export",
                   ExportConfig(modes=("int8",), teacher=False))
        report = run_bench(folder / "export", data, folder / "bench",
                           BenchConfig(threads=(1,), xnnpack=("on",), lengths=()))
        int8 = report["models"][0]
        rows.append({"variant": name, "transfer_examples": metrics["transfer_examples"],
                     "keras_float_accuracy": metrics["eval_accuracy"],
                     "int8_tflite_accuracy": int8["accuracy"], "int8_tflite_macro_f1": int8["macro_f1"],
                     "int8_bytes": int8["bytes"], "agreement_with_teacher_keras": metrics["agreement_with_teacher"],
                     "teacher_keras_accuracy": metrics["teacher_eval_accuracy"],
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(json.dumps(rows[-1]), file=sys.stderr)

    out = {"schema": "kdedge-ablation/1", "machine": machine_info(), "run": str(run),
           "command": "python benchmarks/transfer_ablation.py " + shlex.join(sys.argv[1:]),
           "student": cfg["student"], "distill": cfg["distill"], "rows": rows}
    write_json(results / "transfer_ablation.json", out)
    md = ["# Transfer set and soft targets: ablation", "",
          f"Command: `{out['command']}` (data and teacher from `{run}`; commit {out['machine']['git_commit']}, "
          f"{out['machine']['cpu']}, {out['machine']['date']}).", "",
          "Same CNN student, same epochs and seed; accuracy on the eval split "
          f"({rows[0]['teacher_keras_accuracy']:.2%} for the teacher). int8 accuracy is from running the "
          "`.tflite`.", "",
          "| variant | transfer examples | Keras float acc. | int8 .tflite acc. | int8 macro-F1 | agreement w/ teacher "
          "| int8 size | wall s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    md += [f"| {r['variant']} | {r['transfer_examples']:,} | {r['keras_float_accuracy']:.2%} | "
           f"{r['int8_tflite_accuracy']:.2%} | {r['int8_tflite_macro_f1']:.4f} | "
           f"{r['agreement_with_teacher_keras']:.2%} | {r['int8_bytes'] / 1e6:.2f} MB | {r['seconds']:.0f} |"
           for r in rows]
    write_text(results / "transfer_ablation.md", "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
