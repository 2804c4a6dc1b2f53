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

One seed is one draw: on 872 dev sentences one example is 0.11 pts, and students of the same format
differ by more than that from seed to seed. With ``--seeds 0,1,2`` each (arch, format) is trained once
per seed and the comparison is of the means, seed by seed (the same seed gives both formats the same
example order and dropout); the spread across seeds is reported beside it.

Run folders (``--make`` runs the missing ones with the commands in
``benchmarks/results/mediapipe/README.md``; ``RUNS/sst2/{data,teacher}`` must exist)::

    RUNS/sst2/{data,teacher}                  kdedge data / teacher
    RUNS/sst2/f{1,3}-<arch>/{student,...}     seed 0
    RUNS/sst2/f{1,3}-<arch>-s<N>/{student,distill,export,bench}   seed N > 0

Usage::

    python benchmarks/mediapipe_contract.py --runs /work/runs --archs cnn,transformer --seeds 0,1,2 --make
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import RESULTS, mediapipe_classifier, mediapipe_scores
from kdedge.io import write_json, write_text

FILES = ("student_float32", "student_int8")


def _bench(run: Path) -> dict:
    return {r["name"]: r for r in json.loads((run / "bench" / "report.json").read_text())["models"]}


TOKENIZERS = {"f1": "word", "f3": "regex"}


def run_dir(runs: Path, fmt: str, arch: str, seed: int) -> Path:
    return runs / "sst2" / (f"{fmt}-{arch}" if seed == 0 else f"{fmt}-{arch}-s{seed}")


def parse_seeds(value: str, archs: list[str]) -> dict[str, list[int]]:
    """``--seeds``: ``0,1,2`` for every arch, or per arch, ``cnn=0,1,2;transformer=0``."""
    if "=" not in value:
        return {a: [int(x) for x in value.split(",") if x] for a in archs}
    per = {k.strip(): [int(x) for x in v.split(",") if x] for k, _, v in
           (item.partition("=") for item in value.split(";") if item.strip())}
    return {a: per.get(a, [0]) for a in archs}


def make_runs(runs: Path, archs: list[str], seeds: dict[str, list[int]]) -> None:
    """Run the stages a (format, arch, seed) run folder still lacks (a stage whose config.json exists is done)."""
    data, teacher = runs / "sst2" / "data", runs / "sst2" / "teacher"
    for arch in archs:
        for seed in seeds[arch]:
            for fmt, tok in TOKENIZERS.items():
                run = run_dir(runs, fmt, arch, seed)
                stages = {
                    "student": ["student", "--data", data, "--teacher-dir", teacher, "--arch", arch,
                                "--tokenizer", tok],
                    "distill": ["distill", "--data", data, "--teacher-dir", teacher, "--student-dir",
                                run / "student", "--no-baseline"],
                    "export": ["export", "--distill-dir", run / "distill", "--data", data, "--no-teacher"],
                    "bench": ["bench", "--export-dir", run / "export", "--data", data, "--models",
                              ",".join(FILES), "--threads", "1", "--xnnpack", "on", "--lengths", "64",
                              "--min-runs", "30", "--time-cap", "0.3", "--no-probe"]}
                for stage, args in stages.items():
                    if (run / stage / "config.json").is_file():
                        continue
                    cmd = ["kdedge", *map(str, args), "--seed", str(seed), "--out", str(run / stage), "--overwrite"]
                    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
                    subprocess.run(cmd, check=True)


def format_report(runs: Path, archs: list[str], seeds: dict[str, list[int]] | None = None) -> dict:
    seeds = seeds or {a: [0] for a in archs}
    rows = []
    for arch, seed in ((a, s) for a in archs for s in seeds[a]):
        for fmt in ("f1", "f3"):
            run = run_dir(runs, fmt, arch, seed)
            bench = _bench(run)
            student = json.loads((run / "student" / "config.json").read_text())
            distill = json.loads((run / "distill" / "metrics.json").read_text())
            manifest = json.loads((run / "export" / "manifest.json").read_text())
            for name in FILES:
                entry = next(m for m in manifest["models"] if m["name"] == name)
                rows.append({"arch": arch, "seed": seed,
                             "format": student.get("tokenizer_format", "kdedge-word-tokenizer/1"), "file": name,
                             "dev_accuracy": bench[name]["accuracy"],
                             "test_accuracy": (bench[name].get("test") or {}).get("accuracy"),
                             "bytes": entry["bytes"], "metadata": entry.get("metadata", False),
                             "vocab_size": student["vocab_size_actual"],
                             "keras_dev_accuracy": distill["eval_accuracy"]})
    deltas = []
    for arch in archs:
        for name in FILES:
            def pick(fmt):
                return [next(r for r in rows if r["arch"] == arch and r["file"] == name and r["seed"] == seed
                             and r["format"].endswith(fmt)) for seed in seeds[arch]]
            f1, f3 = pick("/1"), pick("/3")
            d = {}
            for split in ("dev", "test"):
                if any(r[f"{split}_accuracy"] is None for r in f1 + f3):
                    d[split] = None
                    continue
                a1 = np.array([r[f"{split}_accuracy"] for r in f1])
                a3 = np.array([r[f"{split}_accuracy"] for r in f3])
                d[split] = {"f1_mean": float(a1.mean()), "f3_mean": float(a3.mean()),
                            "f1_sd": float(a1.std(ddof=1)) if len(a1) > 1 else None,
                            "f3_sd": float(a3.std(ddof=1)) if len(a3) > 1 else None,
                            "delta_pts_by_seed": [float(x) for x in 100 * (a3 - a1)],
                            "delta_pts": float(100 * (a3.mean() - a1.mean()))}
            deltas.append({"arch": arch, "file": name, "seeds": list(seeds[arch]),
                           "dev_delta_pts": d["dev"]["delta_pts"],
                           "test_delta_pts": d["test"]["delta_pts"] if d["test"] else None,
                           "dev": d["dev"], "test": d["test"],
                           "within_0.3_pts_dev": d["dev"]["delta_pts"] >= -0.3 - 1e-9})
    return {"rows": rows, "deltas": deltas, "seeds": {a: list(v) for a, v in seeds.items()}}


def load_splits(data: Path, eval_name: str = "dev") -> dict:
    """The data folder's eval split (as ``eval_name``) and, when it has one, its ``test`` split."""
    from kdedge.data import Split

    splits = {eval_name: Split.from_jsonl(data / "eval.jsonl", "eval")}
    if (data / "test.jsonl").is_file():
        splits["test"] = Split.from_jsonl(data / "test.jsonl", "test")
    return splits


def file_agreement(path: Path, splits: dict, arch: str, name: str) -> list[dict]:
    """One row per split: ``path`` run by MediaPipe's ``TextClassifier`` and by kdedge's, one text a call."""
    from kdedge import TextClassifier

    ours, theirs = TextClassifier(path), mediapipe_classifier(path)
    rows = []
    try:
        for split_name, split in splits.items():
            t0 = time.perf_counter()
            p_ours = ours.probabilities(split.texts)
            t_ours = time.perf_counter() - t0
            t0 = time.perf_counter()
            p_mp = mediapipe_scores(theirs, split.texts, p_ours.shape[1])
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
    return rows


def agreement_report(runs: Path, archs: list[str]) -> dict:
    splits = load_splits(runs / "sst2" / "data")
    rows = []
    for arch in archs:
        for name in FILES:
            rows += file_agreement(runs / "sst2" / f"f3-{arch}" / "export" / f"{name}.tflite", splits, arch, name)
    return {"rows": rows}


def render_format(rep: dict, command: str) -> str:
    lines = ["# Tokenizer format 3 (MediaPipe) against format 1 on SST-2", "",
             "Same data, teacher, transfer set (the teacher's logits from the store) and distill settings; only the "
             "student's tokenizer differs, and each seed trains both formats (same example order and dropout). "
             "Accuracies are of each `.tflite`, run with LiteRT by `kdedge bench`, over GLUE dev (872) and the "
             "treebank's binary test sentences (1,821). Format 1 keeps punctuation as tokens (`!`, `?`, `...`) and "
             "lower-cases; format 3 is MediaPipe's RegexTokenizer, whose delimiters (punctuation among them) are "
             "never tokens.", "",
             f"Command: `{command}` (the runs: `README.md` beside this file).", "",
             "| arch | seed | file | tokenizer | vocab | metadata | size | dev acc | test acc |",
             "|---|---:|---|---|---:|:---:|---:|---:|---:|"]
    for r in rep["rows"]:
        test = f"{r['test_accuracy']:.4f}" if r["test_accuracy"] is not None else "–"
        lines.append(f"| {r['arch']} | {r.get('seed', 0)} | {r['file']} | {r['format'].split('/')[-1]} | "
                     f"{r['vocab_size']} | {'yes' if r['metadata'] else 'no'} | {r['bytes'] / 1e6:.2f} MB | "
                     f"{r['dev_accuracy']:.4f} | {test} |")

    def cell(d, fmt):
        if d is None:
            return "–"
        sd = d[f"{fmt}_sd"]
        return f"{100 * d[f'{fmt}_mean']:.2f}" + (f" ± {100 * sd:.2f}" if sd is not None else "")

    lines += ["", "Means over the seeds of each arch (± the sample standard deviation across seeds); "
              "Δ = format 3 − format 1 of the means, then seed by seed.", "",
              "| arch | seeds | file | dev: format 1 | dev: format 3 | Δ dev (pts) | Δ dev by seed | test: format 1 | "
              "test: format 3 | Δ test (pts) | format 3 within 0.3 pts on dev |",
              "|---|---|---|---:|---:|---:|---|---:|---:|---:|:---:|"]
    for d in rep["deltas"]:
        dev, test = d.get("dev"), d.get("test")
        if dev is None:  # a report from before seeds: one delta per file
            dev = {"f1_mean": float("nan"), "f3_mean": float("nan"), "f1_sd": None, "f3_sd": None,
                   "delta_pts_by_seed": [d["dev_delta_pts"]]}
        by_seed = " ".join(f"{x:+.2f}" for x in dev["delta_pts_by_seed"])
        dtest = f"{d['test_delta_pts']:+.2f}" if d["test_delta_pts"] is not None else "–"
        seeds = ", ".join(map(str, d.get("seeds", [0])))
        lines.append(f"| {d['arch']} | {seeds} | {d['file']} | {cell(dev, 'f1')} | {cell(dev, 'f3')} | "
                     f"{d['dev_delta_pts']:+.2f} | {by_seed} | {cell(test, 'f1')} | {cell(test, 'f3')} | {dtest} | "
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
    ap.add_argument("--runs", type=Path, help="Folder holding sst2/{data,teacher,f1-*,f3-*}.")
    ap.add_argument("--archs", default="cnn,transformer", help="Comma-separated student architectures.")
    ap.add_argument("--seeds", default="0", help="Comma-separated seeds, or per arch 'cnn=0,1,2;transformer=0'; "
                    "each trains both formats (seed 0: f{1,3}-<arch>, seed N: f{1,3}-<arch>-sN).")
    ap.add_argument("--make", action="store_true", help="First run the stages the run folders lack (student, "
                    "distill --no-baseline, export --no-teacher, bench of the two files).")
    ap.add_argument("--files", default=None, help="Instead of --runs: comma-separated .tflite files with metadata; "
                    "only the agreement report, over --data's eval (and test) split, into <out>/<name>.{json,md}.")
    ap.add_argument("--data", type=Path, default=None, help="With --files: the kdedge data folder to classify.")
    ap.add_argument("--name", default="agreement", help="With --files: the report's file stem.")
    ap.add_argument("--out", type=Path, default=RESULTS / "mediapipe", help="Where the reports go.")
    args = ap.parse_args()
    command = "python " + " ".join(["benchmarks/mediapipe_contract.py"] + sys.argv[1:])
    if args.files:
        if args.data is None:
            ap.error("--files needs --data")
        splits = load_splits(args.data, "eval")  # IMDB's eval split is its test set: not called dev here
        files = [Path(f) for f in args.files.split(",") if f]
        stems = [f.stem for f in files]
        # Files that share a name (every export writes student_int8.tflite) are told apart by their path.
        labels = stems if len(set(stems)) == len(stems) else [str(f.with_suffix("")) for f in files]
        rows = []
        for f, label in zip(files, labels):
            rows += file_agreement(f, splits, "–", label)
        write_json(args.out / f"{args.name}.json", {"rows": rows, "command": command})
        write_text(args.out / f"{args.name}.md", render_agreement({"rows": rows}, command))
        print(render_agreement({"rows": rows}, command))
        return
    if args.runs is None:
        ap.error("give --runs (or --files with --data)")
    archs = [a for a in args.archs.split(",") if a]
    seeds = parse_seeds(args.seeds, archs)
    if args.make:
        make_runs(args.runs, archs, seeds)
    fmt = format_report(args.runs, archs, seeds)
    write_json(args.out / "format.json", {**fmt, "command": command})
    write_text(args.out / "format.md", render_format(fmt, command))
    agree = agreement_report(args.runs, archs)
    write_json(args.out / "agreement.json", {**agree, "command": command})
    write_text(args.out / "agreement.md", render_agreement(agree, command))
    print(render_format(fmt, command))
    print(render_agreement(agree, command))


if __name__ == "__main__":
    main()
