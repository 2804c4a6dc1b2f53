"""Tiny wordavg and bilstm student files for the runtime matrix (no real SST-2 export of either exists).

Each is built with kdedge's own code (``build_student``, ``with_softmax``, ``keras_to_tflite``, the
export stage's metadata card), on the SST-2 format-3 tokenizer of a finished run, starting from that
run's distilled embedding table, and trained for a few hundred steps on gold train labels only: far from
a real student, close enough to exercise every op and kernel the arch lowers to. Their metadata names the
dataset ``sst2, tiny`` (the matrix marks them so). The bilstm is stamped with metadata although ``kdedge
export`` writes it without (MediaPipe refuses its fused LSTM): the matrix is where that refusal is shown.

    python benchmarks/runtimes/make_tiny.py --run runs/sst2/f3-cnn --data runs/sst2/data --out DIR

Writes ``DIR/{wordavg,bilstm}/student_{float32,dynamic,float16,int8}.tflite`` and ``DIR/tiny.json``
(settings, float Keras dev accuracy, which modes converted).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished run (its distill/ has student.keras, tokenizer.json)")
    ap.add_argument("--data", type=Path, required=True, help="its data folder (train.jsonl, eval.jsonl)")
    ap.add_argument("--out", type=Path, required=True, help="where the tiny files go")
    ap.add_argument("--archs", default="wordavg,bilstm")
    ap.add_argument("--train-rows", type=int, default=16000, help="gold train rows (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()

    import tensorflow as tf

    from converters import keras_to_tflite
    from kdedge.data import Split
    from kdedge.io import write_bytes, write_json
    from kdedge.models.student import build_student
    from kdedge.stages.export import _Card, with_softmax
    from kdedge.stages.student import StudentConfig
    from kdedge.text.tokenizer import load_tokenizer

    tok = load_tokenizer(args.run / "distill" / "tokenizer.json")
    trained = tf.keras.models.load_model(args.run / "distill" / "student.keras", compile=False)
    table = next(w for w in trained.weights if "embedding" in w.name).numpy()
    train = Split.from_jsonl(args.data / "train.jsonl", "train")
    dev = Split.from_jsonl(args.data / "eval.jsonl", "eval")
    keep = np.flatnonzero(train.labels >= 0)[:args.train_rows]
    x, y = tok.encode([train.texts[i] for i in keep]), train.labels[keep]
    xd, yd = tok.encode(dev.texts), dev.labels
    summary = {"run": str(args.run), "train_rows": len(keep), "epochs": args.epochs, "embed_dim": table.shape[1],
               "files": {}}
    for arch in [a for a in args.archs.split(",") if a]:
        cfg = StudentConfig(arch=arch, max_len=tok.max_len, embed_dim=table.shape[1], hidden=64, lstm_units=32)
        model = build_student(cfg, len(tok.vocab), num_labels=2, embeddings=table)
        model.compile(optimizer=tf.keras.optimizers.Adam(2e-3),
                      loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        model.fit(x, y, batch_size=64, epochs=args.epochs, verbose=2)
        acc = float((model.predict(xd, verbose=0).argmax(1) == yd).mean())
        probs = with_softmax(model)
        card = _Card(labels=["negative", "positive"], output="probabilities", arch=arch, dataset="sst2, tiny",
                     author="kdedge benchmarks/runtimes", license=None)
        calib = x[:300]
        summary["files"][arch] = {"keras_dev_accuracy": acc, "modes": {}}
        for mode in ("float32", "dynamic", "float16", "int8"):
            name = f"student_{mode}.tflite"
            try:
                rep = (lambda: ([r[None, :]] for r in calib)) if mode == "int8" else None
                content = card.stamp(keras_to_tflite(probs, mode, rep), tok, name, mode)
            except Exception as e:  # noqa: BLE001 - a mode the converter refuses is recorded
                summary["files"][arch]["modes"][mode] = f"not converted: {type(e).__name__}: {str(e).splitlines()[0][:300]}"
                continue
            write_bytes(args.out / arch / name, content)
            summary["files"][arch]["modes"][mode] = name
        print(arch, summary["files"][arch], file=sys.stderr, flush=True)
    write_json(args.out / "tiny.json", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
