"""Same commands, same outputs? A short real run by two checkouts of kdedge, compared file by file.

    python benchmarks/layout_parity.py run --root OLD_CHECKOUT --out runs/parity/old
    python benchmarks/layout_parity.py repeat --root OLD_CHECKOUT --run runs/parity/old --out runs/parity/old-repeat
    python benchmarks/layout_parity.py run --root . --out runs/parity/new --cross runs/parity/old
    python benchmarks/layout_parity.py compare runs/parity/old runs/parity/new --repeat runs/parity/old-repeat \
        --out benchmarks/results/refactor

``run`` executes one short real job with the ``kdedge`` of ``--root`` (its folder first on
``PYTHONPATH``, fresh processes, its own teacher-logits cache): ``kdedge pipeline`` on a
seeded 4,000-row sample of SST-2 train (plus 5,000 IMDB sentences, half a teacher epoch),
then ``kdedge compress`` (two variants), ``kdedge export --compress`` and ``kdedge bench`` of
the variants. The flags are spelled as both versions accept them. With ``--cross OLD``, the
student, distill, export and bench stages also run on ``OLD``'s data and teacher folders:
fine-tuning the teacher is not bitwise reproducible on CPU, so this isolates the stages
after it (and compress, export and bench of the variants on ``OLD``'s distill folder).
``repeat`` measures that non-reproducibility with the old code alone: it fine-tunes the
teacher once more on ``OLD``'s data with the same settings, and exports ``OLD``'s distill
folder once more.

``compare`` checks, for every stage folder: the resolved ``config.json`` (paths of the run
folders masked), the sha256 of every data file and ``.tflite``, and the accuracy of every
``.tflite`` in the bench reports; it writes ``parity.{json,md}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

FLAGS = {
    "pipeline": ["--dataset", "sst2", "--max-train", "4000", "--max-unlabeled", "5000", "--teacher-epochs", "0.5",
                 "--threads", "1", "--xnnpack", "on", "--lengths", "16", "--time-cap", "1"],
    "compress": ["--variants", "vocabf=2000+ptq,prune=0.5+qat", "--max-examples", "3000"],
    "export": ["--no-teacher", "--sensitivity", "--keep-float", "1"],
    "bench": ["--threads", "1", "--xnnpack", "on", "--lengths", "", "--no-probe", "--time-cap", "0.5"],
}


def kdedge(root: Path, args: list[str], log) -> float:
    """Run ``python -m kdedge ARGS`` with ``root``'s kdedge; return its wall seconds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    line = "kdedge " + shlex.join(args)
    print(f"$ {line}", file=sys.stderr, flush=True)
    log.write(f"$ {line}\n")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kdedge", *args], cwd=root, env=env, stdout=log,
                          stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"{line} failed (exit {done.returncode}); see the log")
    return round(time.perf_counter() - t0, 1)


def run(root: Path, out: Path, cross: Path | None) -> None:
    root, out = root.resolve(), out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    p, cache = out / "pipeline", out / "cache"
    steps = [
        ["pipeline", "--out", str(p), "--cache-dir", str(cache), *FLAGS["pipeline"]],
        ["compress", "--distill", str(p / "distill"), "--data", str(p / "data"), "--teacher-dir", str(p / "teacher"),
         "--out", str(out / "compress"), "--cache-dir", str(cache), *FLAGS["compress"]],
        ["export", "--distill", str(p / "distill"), "--data", str(p / "data"), "--compress", str(out / "compress"),
         "--out", str(out / "export-compress"), *FLAGS["export"]],
        ["bench", "--export", str(out / "export-compress"), "--data", str(p / "data"),
         "--out", str(out / "bench-compress"), *FLAGS["bench"]],
    ]
    if cross is not None:
        c, old_run = out / "cross", cross.resolve() / "pipeline"
        data, teacher = old_run / "data", old_run / "teacher"
        steps += [
            ["student", "--data", str(data), "--teacher-dir", str(teacher), "--out", str(c / "student")],
            ["distill", "--data", str(data), "--teacher-dir", str(teacher), "--student", str(c / "student"),
             "--out", str(c / "distill"), "--cache-dir", str(out / "cache-cross")],
            ["export", "--distill", str(c / "distill"), "--data", str(data), "--teacher-dir", str(teacher),
             "--out", str(c / "export")],
            ["bench", "--export", str(c / "export"), "--data", str(data), "--out", str(c / "bench"), *FLAGS["bench"]],
            ["compress", "--distill", str(old_run / "distill"), "--data", str(data), "--teacher-dir", str(teacher),
             "--out", str(c / "compress"), "--cache-dir", str(out / "cache-cross"), *FLAGS["compress"]],
            ["export", "--distill", str(old_run / "distill"), "--data", str(data), "--compress", str(c / "compress"),
             "--out", str(c / "export-compress"), *FLAGS["export"]],
            ["bench", "--export", str(c / "export-compress"), "--data", str(data), "--out", str(c / "bench-compress"),
             *FLAGS["bench"]],
        ]
    seconds = {}
    with open(out / "commands.log", "w") as log:
        for args in steps:
            seconds[f"{len(seconds) + 1}. {args[0]}"] = kdedge(root, args, log)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True).stdout
    (out / "run.json").write_text(json.dumps({"root": str(root), "commit": commit.strip(), "seconds": seconds,
                                              "commands": [shlex.join(["kdedge", *a]) for a in steps]}, indent=2))


def repeat(root: Path, run_dir: Path, out: Path) -> None:
    """The old code once more on its own run: the teacher fine-tuned again, the distill folder exported again."""
    root, run_dir, out = root.resolve(), run_dir.resolve(), out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    p = run_dir / "pipeline"
    teacher_cfg = json.loads((p / "teacher" / "config.json").read_text())
    steps = [["export", "--distill", str(p / "distill"), "--teacher-dir", str(p / "teacher"), "--data", str(p / "data"),
              "--out", str(out / "export")],
             ["teacher", "--data", str(p / "data"), "--out", str(out / "teacher"),
              "--epochs", str(teacher_cfg["epochs"]), "--max-len", str(teacher_cfg["max_len"]),
              "--cache-dir", str(out / "cache")]]
    with open(out / "commands.log", "w") as log:
        for args in steps:
            kdedge(root, args, log)
    (out / "run.json").write_text(json.dumps({"root": str(root), "commands": [shlex.join(["kdedge", *a])
                                                                               for a in steps]}, indent=2))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def masked(obj, roots: list[str]):
    """``obj`` with the run folders' paths replaced by ``RUN`` (they differ between the two runs)."""
    if isinstance(obj, dict):
        return {k: masked(v, roots) for k, v in obj.items()}
    if isinstance(obj, list):
        return [masked(v, roots) for v in obj]
    if isinstance(obj, str):
        for r in roots:
            obj = obj.replace(r, "RUN")
    return obj


def files(folder: Path, suffixes: tuple[str, ...]) -> dict[str, str]:
    return {str(f.relative_to(folder)): sha256(f) for f in sorted(folder.rglob("*"))
            if f.is_file() and f.suffix in suffixes and "cache" not in f.relative_to(folder).parts[:1]}


def accuracies(folder: Path) -> dict[str, float]:
    out = {}
    for report in sorted(folder.rglob("report.json")):
        for row in json.loads(report.read_text())["models"]:
            out[f"{report.parent.relative_to(folder)}/{row['name']}"] = row["accuracy"]
    return out


def compare(old: Path, new: Path, out: Path, again: Path | None = None) -> None:
    old, new = old.resolve(), new.resolve()
    roots = [str(old), str(new)]
    configs = {}
    for cfg in sorted(old.rglob("config.json")):
        rel = cfg.relative_to(old)
        if rel.parts[0].startswith("cache") or "model" in rel.parts or "_checkpoints" in rel.parts:
            continue
        other = new / rel
        if not other.is_file():
            configs[str(rel)] = "missing in new"
            continue
        a, b = masked(json.loads(cfg.read_text()), roots), masked(json.loads(other.read_text()), roots)
        configs[str(rel)] = "identical" if a == b else {"old": a, "new": b}
    data = {k: v == files(new, (".jsonl",)).get(k) for k, v in files(old, (".jsonl",)).items()}
    new_lite = files(new, (".tflite",))
    lite = {k: {"old": v, "new": new_lite.get(k), "equal": v == new_lite.get(k)}
            for k, v in files(old, (".tflite",)).items()}
    acc_old, acc_new = accuracies(old), accuracies(new)
    acc = {k: {"old": v, "new": acc_new.get(k), "equal": v == acc_new.get(k)} for k, v in acc_old.items()}
    cross = {}
    if (new / "cross").is_dir():  # the new stages on the old run's data and teacher
        cross["tflite"] = {}
        for new_dir, old_dir in (("export", "pipeline/export"), ("export-compress", "export-compress")):
            for k, v in files(new / "cross" / new_dir, (".tflite",)).items():
                old_sha = sha256(old / old_dir / k)
                cross["tflite"][f"{old_dir}/{k}"] = {"old": old_sha, "new": v, "equal": old_sha == v}
        cross["accuracy"] = {}
        for new_dir, old_dir in (("bench", "pipeline/bench"), ("bench-compress", "bench-compress")):
            for name, v in accuracies(new / "cross" / new_dir).items():
                name = name.split("/", 1)[1]
                cross["accuracy"][f"{old_dir}/{name}"] = {"old": acc_old.get(f"{old_dir}/{name}"), "new": v}
        for v in cross["accuracy"].values():
            v["equal"] = v["old"] == v["new"]
    repeat_result = {}
    if again is not None:  # the old code twice: is the teacher's fine-tuning (or its conversion) reproducible?
        again = again.resolve()
        m_old = json.loads((old / "pipeline" / "teacher" / "metrics.json").read_text())["eval"]
        m_again = json.loads((again / "teacher" / "metrics.json").read_text())["eval"]
        repeat_result = {
            "teacher_eval_loss": [m_old["loss"], m_again["loss"]],
            "teacher_weights_equal": sha256(old / "pipeline" / "teacher" / "model" / "tf_model.h5")
            == sha256(again / "teacher" / "model" / "tf_model.h5"),
            "export_of_the_same_distill_folder": {k: v == sha256(old / "pipeline" / "export" / k)
                                                  for k, v in files(again / "export", (".tflite",)).items()},
            "commands": json.loads((again / "run.json").read_text())["commands"]}
    result = {"old": json.loads((old / "run.json").read_text()), "new": json.loads((new / "run.json").read_text()),
              "configs": configs, "data_files_equal": data, "tflite": lite, "accuracy": acc, "cross": cross,
              "repeat": repeat_result}
    out.mkdir(parents=True, exist_ok=True)
    (out / "parity.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (out / "parity.md").write_text(render(result))
    print(render(result))


def summary(r: dict) -> list[str]:
    """The verdict in a few lines: what is equal, and what differs and why."""
    def count(items):
        return f"{sum(items)} of {len(items)}"
    configs = [v == "identical" for v in r["configs"].values()]
    lines = ["## Summary", "",
             f"- Resolved configs identical: {count(configs)}; data files bitwise equal: "
             f"{count(list(r['data_files_equal'].values()))}."]
    if r["cross"]:
        students = [v["equal"] for k, v in r["cross"]["tflite"].items() if "teacher" not in k]
        accs = [v["equal"] for v in r["cross"]["accuracy"].values()]
        lines.append(f"- On the same data and teacher, the new stages write bitwise-equal student files: "
                     f"{count(students)} (every mode, the labels-only twin, both compressed variants, the "
                     f"mixed-precision file); every .tflite accuracy equal: {count(accs)}.")
    if r.get("repeat"):
        rep = r["repeat"]
        exported = rep["export_of_the_same_distill_folder"]
        same_students = [v for k, v in exported.items() if "teacher" not in k]
        teacher_file = ("the teacher .tflite converted again from the same checkpoint is not bitwise equal"
                        if not exported.get("teacher_float32.tflite", True) else "its teacher .tflite is equal")
        lines.append(f"- The old code alone, run twice: the teacher's fine-tuned weights are "
                     f"{'equal' if rep['teacher_weights_equal'] else 'not equal'} (eval loss "
                     f"{rep['teacher_eval_loss'][0]:.4f} vs {rep['teacher_eval_loss'][1]:.4f}), and "
                     f"{teacher_file}"
                     f" (student files equal: {count(same_students)}). So every difference of the full runs "
                     "follows from the teacher's fine-tuning, which TF's CPU kernels do not make bitwise "
                     "reproducible: the student's embedding init and the teacher's logits come from it.")
    teacher = r["accuracy"].get("pipeline/bench/teacher_float32", {})
    if teacher.get("old") is not None and teacher["old"] < 0.6:
        lines.append(f"- This short job's teacher (half an epoch of 4,000 rows) stays near the majority class "
                     f"({teacher['old']:.2%} old, {teacher['new']:.2%} new): the job checks that outputs are equal, "
                     "not that they are good; the students still learn from the gold labels and the teacher's "
                     "embedding init.")
    return lines


def render(r: dict) -> str:
    def yes(b):
        return "yes" if b else "**no**"
    lines = ["# Same commands, same outputs: the layout change", "",
             f"Old: commit `{r['old']['commit']}`; new: commit `{r['new']['commit']}`; same machine, one after the "
             "other. Made with `benchmarks/layout_parity.py` (its docstring has the commands).", "",
             "Commands (each run with that checkout's kdedge, run folders differ):", "", "```"]
    lines += [c for c in r["new"]["commands"]] + ["```", ""]
    lines += summary(r)
    lines += ["", "## Resolved configs (run-folder paths masked)", "",
                                                  "| config | identical |", "|---|---|"]
    lines += [f"| `{k}` | {yes(v == 'identical')} |" for k, v in r["configs"].items()]
    lines += ["", "## Data files (sha256)", "", "| file | equal |", "|---|---|"]
    lines += [f"| `{k}` | {yes(v)} |" for k, v in r["data_files_equal"].items()]
    lines += ["", "## .tflite files (sha256)", "", "| file | old | new | equal |", "|---|---|---|---|"]
    lines += [f"| `{k}` | `{v['old'][:12]}` | `{(v['new'] or '-')[:12]}` | {yes(v['equal'])} |"
              for k, v in r["tflite"].items()]
    lines += ["", "## Accuracy of every .tflite (bench reports, full eval split)", "",
              "| report / model | old | new | equal |", "|---|---:|---:|---|"]
    lines += [f"| `{k}` | {v['old']:.4f} | {v['new'] if v['new'] is None else format(v['new'], '.4f')} | "
              f"{yes(v['equal'])} |" for k, v in r["accuracy"].items()]
    if r["cross"]:
        lines += ["", "## New stages on the old run's data and teacher", "",
                  "student, distill, export and bench of the new checkout on the old run's `data/` and `teacher/`, "
                  "and compress, export and bench of its variants on the old run's `distill/`: the teacher's "
                  "fine-tuning is not bitwise reproducible on CPU (see the last section), so this compares the "
                  "later stages on the same inputs.",
                  "", "| old run's file | new file equal |", "|---|---|"]
        lines += [f"| `{k}` | {yes(v['equal'])} |" for k, v in r["cross"]["tflite"].items()]
        lines += ["", "| model | old accuracy | new accuracy | equal |", "|---|---:|---:|---|"]
        lines += [f"| `{k}` | {v['old'] if v['old'] is None else format(v['old'], '.4f')} | {v['new']:.4f} | "
                  f"{yes(v['equal'])} |" for k, v in r["cross"]["accuracy"].items()]
    if r.get("repeat"):
        rep_ = r["repeat"]
        lines += ["", "## The old code twice (what is not reproducible without any change)", "",
                  "```"] + rep_["commands"] + ["```", "",
                  f"- Teacher fine-tuned again with the same settings and data: weights bitwise equal: "
                  f"{yes(rep_['teacher_weights_equal'])}; eval loss {rep_['teacher_eval_loss'][0]:.6f} vs "
                  f"{rep_['teacher_eval_loss'][1]:.6f}.", "",
                  "| the same distill and teacher folders exported again: file | sha256 equal |", "|---|---|"]
        lines += [f"| `{k}` | {yes(v)} |" for k, v in rep_["export_of_the_same_distill_folder"].items()]
    lines += ["", "Wall seconds per command: old " + json.dumps(r["old"]["seconds"]) + "; new "
              + json.dumps(r["new"]["seconds"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the short job with one checkout's kdedge")
    r.add_argument("--root", type=Path, required=True, help="the checkout whose kdedge runs")
    r.add_argument("--out", type=Path, required=True, help="output folder (must not exist)")
    r.add_argument("--cross", type=Path, help="an earlier `run` folder: also run the later stages on its teacher")
    a = sub.add_parser("repeat", help="run the old code's teacher and export once more on its own run")
    a.add_argument("--root", type=Path, required=True, help="the old checkout")
    a.add_argument("--run", type=Path, required=True, help="its `run` folder")
    a.add_argument("--out", type=Path, required=True, help="output folder (must not exist)")
    c = sub.add_parser("compare", help="compare two run folders")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    c.add_argument("--repeat", type=Path, help="a `repeat` folder of the old run")
    c.add_argument("--out", type=Path, required=True, help="where parity.{json,md} go")
    args = p.parse_args()
    if args.cmd in ("run", "repeat") and args.out.exists():
        sys.exit(f"{args.out} exists")
    if args.cmd == "run":
        run(args.root, args.out, args.cross)
    elif args.cmd == "repeat":
        repeat(args.root, args.run, args.out)
    else:
        compare(args.old, args.new, args.out, args.repeat)


if __name__ == "__main__":
    main()
