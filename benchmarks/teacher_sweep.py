"""Teacher recipes side by side: each variant of a config fine-tuned once (resumable), its eval accuracy.

A config (``benchmarks/configs/*_teachers.json``) names a data folder and variants, each a set of
``kdedge teacher`` settings over the config's ``base``::

    {"data": "runs/sst2/data", "base": {"max_len": 64},
     "variants": [{"name": "1 epoch, 3e-5 (default)", "teacher": {}},
                  {"name": "3 epochs, 5e-5", "teacher": {"epochs": 3, "lr": 5e-5}}]}

Each variant's folder is ``WORK/<hash of its settings and data>``: a finished folder is read, never
retrained; an interrupted one resumes from its checkpoints (``kdedge teacher --resume``). The report
(``benchmarks/results/<dataset>/<config name>.{json,md,png}``) lists each recipe's eval accuracy and
training time. On SST-2 the eval split is GLUE dev, the split every SST-2 result here is reported on, so
picking a recipe by it is picking on the reported split; the table says so. Where the data folder has
a second labeled split (``test.jsonl``; SST-2: the treebank's 1,821 test sentences) each teacher and
ensemble is also scored on it, through the logit store; that column chooses nothing.

A config may also list ``ensembles``: ``{"name": ..., "members": [variant names]}``. An ensemble's
prediction is the mean of its members' logits; its eval accuracy is computed from each member's eval
logits in the logit store (the teacher stage keeps them there; a missing one is recomputed), once all
its members are trained.

Usage::

    python benchmarks/teacher_sweep.py --config benchmarks/configs/sst2_teachers.json \\
        --data runs/sst2/data --work runs/sweeps/sst2_teachers [--only NAME ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

import numpy as np
from common import ROOT, digest, write_named_report

from kdedge import layout
from kdedge.io import read_json, write_figure
from kdedge.measure.machine import machine_info
from kdedge.stages.teacher import TeacherConfig, run_teacher
from kdedge.training.logit_store import default_cache_dir


# Settings added after the first sweep runs: left out of a folder's name while at their default, so
# the folders of earlier runs keep their names.
LATER_FIELDS = {"layer_decay": 1.0, "pooling": "cls"}


def folder_of(cfg: TeacherConfig, data: Path, work: Path) -> Path:
    fields = {k: v for k, v in dataclasses.asdict(cfg).items() if LATER_FIELDS.get(k, object()) != v}
    return work / digest([fields, str(data.resolve())])


def run_variant(variant: dict, base: dict, data: Path, work: Path, train: bool) -> dict:
    cfg = TeacherConfig(**{**base, **variant.get("teacher", {})})
    out = folder_of(cfg, data, work)
    row = {"name": variant["name"], "teacher": dataclasses.asdict(cfg), "folder": str(out)}
    if not (out / "metrics.json").exists():
        if not train:
            return {**row, "accuracy": None}
        print(f"training {variant['name']} -> {out}", file=sys.stderr, flush=True)
        run_teacher(data, out, cfg)
    m = read_json(out / "metrics.json")
    return {**row, "accuracy": m["eval"]["accuracy"], "eval_loss": m["eval"].get("loss"),
            "examples": m["eval"]["examples"], "steps": m["steps"], "train_seconds": m.get("train_seconds"),
            "resumed_at_step": m.get("resumed_at_step")}


def split_logits(folder: Path, data: Path, cache: Path, name: str, split: str = layout.TEST):
    """``(logits, labels)`` of one teacher on a labeled split of the data folder (None if it has none), through
    the logit store: labeled once, then read back."""
    from kdedge.data import Split
    from kdedge.training.transfer import CachedTeacher

    if not (data / split).is_file():
        return None
    part = Split.from_jsonl(data / split, split)
    return CachedTeacher(folder, cache).logits(list(part.texts), f"{name} {split}")[0], part.labels


def add_test(row: dict, data: Path, cache: Path) -> dict:
    """``row`` with ``test_accuracy``: the teacher on the data folder's second labeled split (SST-2: the
    treebank's 1,821 test sentences), which chooses nothing."""
    from kdedge.training.fine_tune import evaluate

    got = None if row["accuracy"] is None else split_logits(Path(row["folder"]), data, cache, row["name"])
    return {**row, "test_accuracy": evaluate(*got)["accuracy"] if got else None}


def run_ensemble(ensemble: dict, rows: list[dict], data: Path, cache: Path) -> dict:
    """Accuracy of the mean of the members' eval logits; None while a member is not trained."""
    from kdedge.data import Split
    from kdedge.training.fine_tune import evaluate
    from kdedge.training.transfer import CachedTeacher

    by_name = {row["name"]: row for row in rows}
    members = [by_name.get(name) for name in ensemble["members"]]
    out = {"name": ensemble["name"], "members": ensemble["members"],
           "member_accuracy": [m["accuracy"] if m else None for m in members]}
    if any(m is None or m["accuracy"] is None for m in members):
        return {**out, "accuracy": None}
    evals = Split.from_jsonl(data / layout.EVAL, "eval")
    logits = [CachedTeacher(Path(m["folder"]), cache).logits(list(evals.texts), f"{m['name']} eval")[0]
              for m in members]
    for m, z in zip(members, logits):  # the store gave back what the teacher stage measured
        if abs(evaluate(z, evals.labels)["accuracy"] - m["accuracy"]) > 1e-9:
            raise SystemExit(f"{m['name']}: stored eval logits disagree with its metrics.json")
    m = evaluate(np.mean(logits, axis=0), evals.labels)
    tests = [split_logits(Path(x["folder"]), data, cache, x["name"]) for x in members]
    test = evaluate(np.mean([t[0] for t in tests], axis=0), tests[0][1])["accuracy"] if tests[0] else None
    return {**out, "accuracy": m["accuracy"], "eval_loss": m["loss"], "examples": m["examples"],
            "test_accuracy": test}


def _pct(x) -> str:
    return "" if x is None else f"{x:.2%}"


def _resumed(row: dict) -> str:
    at = row.get("resumed_at_step")
    return f" (steps {at}-{row['steps']} only: resumed)" if at else ""


def render(r: dict) -> str:
    out = [f"# Teacher recipes: {r['name']}", "", "```", r["command"], "```", "",
           f"- Data: `{r['data']}` ({r['dataset']}); eval split: {r['eval_examples']} examples. On SST-2 it is "
           "GLUE dev, the split every SST-2 figure here is reported on: choosing a recipe by it is choosing on "
           "the reported split." + (" `test accuracy`: the data folder's `test.jsonl` (SST-2: the treebank's test "
                                     "sentences), which picks nothing." if any(x.get("test_accuracy") is not None
                                                                              for x in r["rows"]) else ""),
           f"- Machine: {r['machine'].get('cpu', '?')}, {r['machine'].get('cores', '?')} cores; commit "
           f"{r['machine'].get('git_commit', '?')}. `train s` is the fine-tune's wall time (other jobs may have "
           "shared the cores).", "",
           "| recipe | head | epochs | peak lr | warm-up | layer decay | max len | batch | seed | eval accuracy "
           "| eval loss | test accuracy | steps | train s |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        t = row["teacher"]
        acc = "not run" if row["accuracy"] is None else f"{row['accuracy']:.2%}"
        loss = "" if row.get("eval_loss") is None else f"{row['eval_loss']:.4f}"
        out.append(f"| {row['name']} | {t.get('pooling', 'cls')} | {t['epochs']:g} | {t['lr']:g} | {t['warmup']:g} | {t.get('layer_decay', 1.0):g} | "
                   f"{t['max_len']} | "
                   f"{t['batch_size']} | {t['seed']} | {acc} | {loss} | {_pct(row.get('test_accuracy'))} | "
                   f"{row.get('steps', '')} | "
                   f"{row.get('train_seconds') or ''}{_resumed(row)} |")
    if r.get("ensembles"):
        out += ["", "Ensembles: the mean of the members' logits (no training; each member's eval logits from the "
                "logit store).", "",
                "| ensemble | members (eval accuracy) | eval accuracy | eval loss | vs best member | test accuracy |",
                "|---|---|---:|---:|---:|---:|"]
        for e in r["ensembles"]:
            parts = "; ".join(f"{n} ({a:.2%})" if a is not None else f"{n} (not run)"
                              for n, a in zip(e["members"], e["member_accuracy"]))
            if e["accuracy"] is None:
                out.append(f"| {e['name']} | {parts} | not run | | | |")
                continue
            best = max(e["member_accuracy"])
            out.append(f"| {e['name']} | {parts} | {e['accuracy']:.2%} | {e['eval_loss']:.4f} | "
                       f"{100 * (e['accuracy'] - best):+.2f} pts | {_pct(e.get('test_accuracy'))} |")
    if r["not_run"]:
        out += ["", "Not run for this report (in the config, left out with `--only` or `--no-train`): "
                + "; ".join(r["not_run"]) + "."]
    return "\n".join(out) + "\n"


def plot(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [x for x in r["rows"] if x["accuracy"] is not None]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
    ax.barh(range(len(rows)), [100 * x["accuracy"] for x in rows], color="C0")
    ax.set_yticks(range(len(rows)), [x["name"] for x in rows], fontsize=8)
    lo = min(100 * x["accuracy"] for x in rows)
    ax.set_xlim(lo - 2, max(100 * x["accuracy"] for x in rows) + 1)
    ax.set_xlabel("eval accuracy (%)")
    ax.set_title(f"Teacher recipes: {r['name']}")
    write_figure(path, fig)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, type=Path, help="a teacher-recipe config (module docstring)")
    p.add_argument("--data", type=Path, default=None, help="the kdedge data folder (default: the config's \"data\")")
    p.add_argument("--work", type=Path, default=None, help="where the teachers go (default runs/sweeps/<config>)")
    p.add_argument("--only", action="append", default=None, help="a variant name to run (repeatable)")
    p.add_argument("--no-train", action="store_true", help="report the finished variants only; train nothing")
    p.add_argument("--results", type=Path, default=None, help="default benchmarks/results/<dataset>")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="the logit store holding the members' eval logits (default $KDEDGE_CACHE or ~/.cache/kdedge)")
    args = p.parse_args()
    config = json.loads(args.config.read_text())
    name = args.config.stem
    data = Path(args.data or config["data"])
    if not (data / "config.json").is_file():
        p.error(f"--data {data}: not a kdedge data folder (no config.json)")
    names = [v["name"] for v in config["variants"]]
    if args.only and (unknown := set(args.only) - set(names)):
        p.error(f"--only: no variant named {sorted(unknown)} in {args.config}")
    work = args.work or ROOT / "runs" / "sweeps" / name
    dataset = read_json(data / "config.json")["dataset"]
    rows = [run_variant(v, config.get("base", {}), data, work, train=not args.no_train)
            for v in config["variants"] if not args.only or v["name"] in args.only]
    cache = args.cache_dir or default_cache_dir()
    rows = [add_test(row, data, cache) for row in rows]
    ensembles = [run_ensemble(e, rows, data, cache) for e in config.get("ensembles", [])]
    stats = read_json(data / "stats.json")
    report = {"name": name, "command": "python benchmarks/teacher_sweep.py " + shlex.join(sys.argv[1:]),
              "config": config, "data": str(data), "dataset": dataset, "machine": machine_info(),
              "eval_examples": stats.get("eval", {}).get("examples"), "rows": rows, "ensembles": ensembles,
              "not_run": [r["name"] for r in rows if r["accuracy"] is None]
              + [n for n in names if args.only and n not in args.only]}
    results = args.results or ROOT / "benchmarks" / "results" / dataset
    plot(report, results / f"{name}.png")
    write_named_report(results, name, report, render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
