"""How many calibration sentences should full-int8 export use? Measured on the dev split only.

    python benchmarks/int8_calibration.py --distill runs/sst5/distill --data runs/sst5/data \\
        --counts 300,1000,3000,8544 --out benchmarks/results/sst5 --stem int8_calibration

converts the distill folder's student (the graph ``kdedge export`` converts: ``--lstm unrolled`` for a
bilstm, a Softmax at the end) to float32 once, then to int8 once per calibration count, each calibrated on
that many train sentences drawn as ``kdedge export --calibration-examples N`` draws them (seed 0: the first
N of one permutation, so a larger set holds every smaller one). Every int8 file and the float32 file are run
with LiteRT over the **dev** split (``valid.jsonl``; never the eval split): label flips of int8 against
float32 (what quantization changed), mean |probability difference|, and both accuracies. A folder without a
dev split is refused.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from common import write_named_report

from kdedge import layout
from kdedge.measure.machine import machine_info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--distill", type=Path, required=True, help="A `kdedge distill` (or `merge`) folder.")
    p.add_argument("--data", type=Path, required=True, help="Its `kdedge data` folder; needs valid.jsonl.")
    p.add_argument("--counts", default="300,1000,3000", help="Comma-separated calibration counts.")
    p.add_argument("--out", type=Path, required=True, help="Folder for STEM.json and STEM.md.")
    p.add_argument("--stem", default="int8_calibration", help="Report file name stem.")
    args = p.parse_args()

    from kdedge.data import Split
    from kdedge.models.student import export_graph, load_student
    from kdedge.stages.export import ExportConfig, calibration_texts, convert, tflite_logits, with_softmax
    from kdedge.text.tokenizer import load_tokenizer

    if not (args.data / layout.VALID).is_file():
        sys.exit(f"{args.data}: no {layout.VALID} (this study reads the dev split only)")
    counts = [int(c) for c in args.counts.split(",")]
    tokenizer = load_tokenizer(args.distill / layout.TOKENIZER)
    train = Split.from_jsonl(args.data / layout.TRAIN, "train")
    dev = Split.from_jsonl(args.data / layout.VALID, "valid")
    feeds, gold = [{"input_ids": row[None, :]} for row in tokenizer.encode(dev.texts)], np.asarray(dev.labels)
    model = export_graph(with_softmax(load_student(args.distill / layout.STUDENT)))
    cfg = ExportConfig()
    ref = tflite_logits(convert(model, "float32", None, cfg), feeds)
    rows = []
    for n in counts:
        calib = tokenizer.encode(calibration_texts(train.texts, n, cfg.seed), masks=True)  # as export draws them

        def representative(calib=calib):
            for row in calib:
                yield [row[None, :]]

        t0 = time.perf_counter()
        probs = tflite_logits(convert(model, "int8", representative, cfg), feeds)
        rows.append({"calibration_examples": len(calib), "convert_seconds": round(time.perf_counter() - t0, 1),
                     "dev_flips_vs_float32": int((probs.argmax(1) != ref.argmax(1)).sum()),
                     "dev_mean_abs_prob_diff": float(np.abs(probs - ref).mean()),
                     "dev_accuracy_int8": float((probs.argmax(1) == gold).mean())})
        print(rows[-1], file=sys.stderr, flush=True)
    report = {"command": shlex.join(["python", "benchmarks/int8_calibration.py", *sys.argv[1:]]),
              "distill": str(args.distill), "dev_examples": len(gold),
              "dev_accuracy_float32": float((ref.argmax(1) == gold).mean()), "machine": machine_info(), "rows": rows}
    md = [f"# Full-int8 calibration count, on the dev split: {args.distill}", "", "```", report["command"], "```", "",
          f"- Dev split: {len(gold):,} examples (the eval split is not read). float32 `.tflite` dev accuracy "
          f"{report['dev_accuracy_float32']:.2%}.",
          "- Each int8 file is calibrated on the first N train sentences of `kdedge export`'s seeded draw "
          "(default `--calibration-examples 300`). Flips: dev examples whose int8 label differs from float32's.",
          "", "| calibration sentences | dev flips vs float32 | mean abs prob diff | int8 dev accuracy | convert s |",
          "|---:|---:|---:|---:|---:|"]
    md += [f"| {r['calibration_examples']:,} | {r['dev_flips_vs_float32']} | {r['dev_mean_abs_prob_diff']:.5f} | "
           f"{r['dev_accuracy_int8']:.2%} | {r['convert_seconds']} |" for r in rows]
    write_named_report(args.out, args.stem, report, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
