"""Sweep students and distillation settings on one teacher; report each beside its labels-only twin.

    python benchmarks/distill_sweep.py --config benchmarks/configs/sst2_sweep.json

The config names a run folder (``kdedge pipeline`` output: its data and
teacher are reused, the teacher's logits come from the cache) and a list of
variants, each a student (``StudentConfig`` fields) and a distillation
(``DistillConfig`` fields). Every variant is trained with its labels-only twin
(same initial student, labeled examples, epochs and schedule), so each row
shows what distillation buys. Accuracy is the float Keras student's on the
eval split, of the epoch distill kept: the last, or, where the data folder has a
validation split (SST-5/SST-3: the dev trees), the epoch of best validation
accuracy. The eval split picks nothing; the variant with the best validation
accuracy is marked as the one to ship.

Finished variants are kept in ``--work`` and skipped on a rerun, so an
interrupted sweep resumes. Writes ``<results>/<name>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

from common import ROOT, digest

from kdedge.io import read_json, write_figure, write_json, write_text
from kdedge.measure.machine import machine_info
from kdedge.stages.distill import DistillConfig, run_distill
from kdedge.stages.student import StudentConfig, run_student


TWIN_FIELDS = ("epochs", "batch_size", "lr", "schedule", "seed", "freeze_embeddings", "keep")


def run_variant(variant: dict, run: Path, data: Path, work: Path, base: dict, twins: dict) -> dict:
    scfg = StudentConfig(**{**base.get("student", {}), **variant.get("student", {})})
    dcfg = DistillConfig(**{**base.get("distill", {}), **variant.get("distill", {})})
    student_dir = work / "students" / digest([dataclasses.asdict(scfg), str(data)])
    if not (student_dir / "config.json").exists():
        run_student(data, student_dir, scfg, run / "teacher")
    # The labels-only twin depends on the student and the training budget only: train it once per
    # (student, epochs, batch, lr, schedule, seed) and reuse it for the other losses.
    twin_key = digest([dataclasses.asdict(scfg), str(data)] + [getattr(dcfg, f) for f in TWIN_FIELDS
                                                                if getattr(dcfg, f) != "auto"])
    twin = twins.get(twin_key)
    out = work / "variants" / digest([dataclasses.asdict(scfg), dataclasses.asdict(dcfg), str(data)])
    if twin is not None and not (out / "config.json").exists():  # (a folder from before keeps its twin)
        dcfg = dataclasses.replace(dcfg, baseline=False)
        out = work / "variants" / digest([dataclasses.asdict(scfg), dataclasses.asdict(dcfg), str(data)])
    if not (out / "config.json").exists():
        run_distill(data, run / "teacher", student_dir, out, dcfg)
    m = read_json(out / "metrics.json")
    if twin is None and "baseline_eval_accuracy" in m:
        twins[twin_key] = twin = m["baseline_eval_accuracy"]
    if twin is not None:
        m["baseline_eval_accuracy"] = twin
        m["gain_over_baseline"] = m["eval_accuracy"] - twin
    history = read_json(out / "history.json")
    return {"name": variant["name"], "student": dataclasses.asdict(scfg), "distill": dataclasses.asdict(dcfg),
            "params": read_json(student_dir / "config.json")["params"],
            "accuracy": m["eval_accuracy"], "labels_only_accuracy": m.get("baseline_eval_accuracy"),
            "gain": m.get("gain_over_baseline"), "agreement_with_teacher": m["agreement_with_teacher"],
            "teacher_accuracy": m["teacher_eval_accuracy"], "transfer_examples": m["transfer_examples"],
            "distill_seconds": m["distill_seconds"],
            "epoch_accuracy": [r.get("eval_accuracy") for r in history],
            "valid_accuracy": m.get("valid_accuracy"), "teacher_valid_accuracy": m.get("teacher_valid_accuracy"),
            "kept_epoch": m.get("kept_epoch", len(history)),
            "epoch_valid_accuracy": [r.get("valid_accuracy") for r in history]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--work", default=None, help="scratch folder (default runs/sweeps/<config name>)")
    p.add_argument("--results", default=None, help="default benchmarks/results/<dataset>")
    p.add_argument("--run", default=None, help="the run folder (default: the config's \"run\")")
    p.add_argument("--data", default=None, help="the data folder (default: the config's \"data\", else RUN/data); "
                   "the teacher is always RUN/teacher")
    p.add_argument("--only", action="append", default=None,
                   help="variant names to run: repeatable; a value that is not itself a variant name is read as "
                        "comma-separated names (older reports' commands)")
    args = p.parse_args()
    config = json.loads(Path(args.config).read_text())
    name = Path(args.config).stem
    run = Path(args.run or config["run"])
    data = Path(args.data or (config["data"] if "data" in config and not args.run else run / "data"))
    dataset = read_json(data / "config.json")["dataset"]
    work = Path(args.work or ROOT / "runs" / "sweeps" / name)
    results = Path(args.results or ROOT / "benchmarks" / "results" / dataset)
    names = {v["name"] for v in config["variants"]}
    only = {n for value in args.only for n in ([value] if value in names else value.split(","))} if args.only else None
    if only and (unknown := only - names):
        p.error(f"--only: no variant named {sorted(unknown)} in {args.config}")
    rows = []
    twins: dict[str, float] = {}
    for variant in config["variants"]:
        if only and variant["name"] not in only:
            continue
        t0 = time.perf_counter()
        rows.append(run_variant(variant, run, data, work, config.get("base", {}), twins))
        r = rows[-1]
        print(f"{r['name']}: {r['accuracy']:.4f} (labels-only {r['labels_only_accuracy']}) "
              f"in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    with_valid = [r for r in rows if r["valid_accuracy"] is not None]
    if with_valid:
        max(with_valid, key=lambda r: r["valid_accuracy"])["chosen"] = True
    report = {"name": name, "run": str(run),
              "command": "python benchmarks/distill_sweep.py " + shlex.join(sys.argv[1:]),
              "config": config, "machine": machine_info(), "data": str(data),
              "stats": read_json(data / "stats.json"), "rows": rows,
              "not_run": [v["name"] for v in config["variants"] if only and v["name"] not in only]}
    write_json(results / f"{name}.json", report)
    write_text(results / f"{name}.md", render(report))
    plot(report, results / f"{name}.png")
    print(render(report))
    return 0


def render(r: dict) -> str:
    m = r["machine"]
    st = r["stats"]
    parts = ", ".join(f"{k} {st[k]['examples']}" for k in ("train", "unlabeled", "valid", "eval") if k in st)
    teacher = r["rows"][0]["teacher_accuracy"] if r["rows"] else None
    valid = any(row.get("valid_accuracy") is not None for row in r["rows"])
    out = [f"# Distillation sweep: {r['name']}", "", "```", r["command"], "```", "",
           f"- Data: `{r['data']}` ({parts}); teacher `{r['run']}/teacher`, "
           f"its eval accuracy {teacher:.2%}." if teacher is not None else "",
           "- Accuracy: the float Keras student on the eval split after the last epoch; `labels-only`: the same "
           "initial student trained on the gold labels alone, same epochs and schedule." if not valid else
           f"- Validation split: {st['valid']['examples']} examples (`valid.jsonl`); teacher "
           f"{r['rows'][0]['teacher_valid_accuracy']:.2%} on it. Each student (and its labels-only twin: the same "
           "initial student trained on the gold labels alone, same epochs and schedule) keeps the epoch of best "
           "validation accuracy; **bold** marks the variant of best validation accuracy, chosen without looking at "
           "the eval column.",
           f"- Machine: {m['cpu']}, {m['cores']} cores; commit {m['git_commit']}; {m['date']}. `distill s` is the "
           "distill stage's wall time for the student alone; sweeps ran beside other jobs, so these are upper "
           "bounds (the SST-2 report times the default alone).", "",
           "| variant | arch | params | loss | " + ("valid (kept epoch) | " if valid else "")
           + "accuracy | labels-only | gain | agreement w/ teacher | per-epoch accuracy | distill s |",
           "|---|---|---:|---|" + ("---:|" if valid else "") + "---:|---:|---:|---:|---|---:|"]
    for row in r["rows"]:
        d = row["distill"]
        loss = (f"{d['soft_loss']} w_soft {d['w_soft']:g}, hard {d['w_hard']:g}, gold {d['w_gold']:g}"
                + (f", T {d['temperature']:g}" if d["soft_loss"] == "kl" else "")
                + (f", soft→{d['soft_end']:g}" if d.get("soft_end") is not None else "")
                + (f", aug ×{d['augment_copies']}" if d.get("augment_copies") else ""))
        lo = row["labels_only_accuracy"]
        gain = "-" if row["gain"] is None else f"{100 * row['gain']:+.1f} pts"
        name = f"**{row['name']}**" if row.get("chosen") else row["name"]
        kept = (f"{row['valid_accuracy']:.2%} ({row['kept_epoch']}; "
                + " ".join(f"{a:.3f}" for a in row["epoch_valid_accuracy"]) + ") | ") if valid else ""
        out.append(f"| {name} | {row['student']['arch']} | {row['params']:,} | {loss} | {kept}"
                   f"{row['accuracy']:.2%} | {'-' if lo is None else f'{lo:.2%}'} | "
                   f"{gain} | "
                   f"{row['agreement_with_teacher']:.2%} | "
                   f"{' '.join(f'{a:.3f}' for a in row['epoch_accuracy'] if a is not None)} | "
                   f"{row['distill_seconds']:.0f} |")
    if r.get("not_run"):
        out += ["", f"Not run for this report (in the config, left out with `--only`): {', '.join(r['not_run'])}."]
    out += ["", f"![accuracy per variant]({r['name']}.png)"]
    return "\n".join(line for line in out if line is not None) + "\n"


def plot(r: dict, path: Path) -> None:

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = r["rows"]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.6))
    y = np.arange(len(rows))
    ax.barh(y + 0.2, [100 * x["accuracy"] for x in rows], height=0.4, label="distilled", color="C0")
    ax.barh(y - 0.2, [100 * (x["labels_only_accuracy"] or 0) for x in rows], height=0.4,
            label="labels-only twin", color="C7")
    ax.axvline(100 * rows[0]["teacher_accuracy"], color="C3", ls="--", label="teacher")
    ax.set_yticks(y, [x["name"] for x in rows], fontsize=8)
    lo = min(100 * min(x["accuracy"], x["labels_only_accuracy"] or 1) for x in rows)
    ax.set_xlim(max(lo - 3, 0), 100 * max(rows[0]["teacher_accuracy"], max(x["accuracy"] for x in rows)) + 1.5)
    ax.set_xlabel("eval accuracy, % (float Keras student, last epoch)")
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    write_figure(path, fig)


if __name__ == "__main__":
    raise SystemExit(main())
