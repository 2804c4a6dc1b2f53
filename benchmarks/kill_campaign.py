"""Kill campaign: `kdedge pipeline` SIGKILLed at random moments, then resumed, over and over.

Each trial runs the tiny pipeline (the synthetic task of ``tests/support.py``: a 2-layer hidden-32 BERT
teacher fine-tuned for real, 5,040 transfer texts labeled by it into a fresh logit store, a cnn student
distilled for 6 epochs with checkpoints, every export mode, bench) into a fresh run folder, SIGKILLs the
whole process group at a time drawn uniformly over an uninterrupted run's length, checks the folder, and
reruns with ``--resume`` -- which may itself be killed again (up to ``--max-kills`` per trial) -- until it
finishes. Every third trial instead replaces a finished run (``--overwrite``): there the finished run must
stay byte-identical through every kill.

Checked after every kill: no stage folder that says it is complete (its ``config.json``) lacks one of its
files; the logit store's shards all load, and no text is in two shards. Checked at the end of a trial: the
student, twin and tokenizer files are byte-identical to the uninterrupted run's, the teacher's and every
model's accuracies equal it, no text is missing from the store. ``data lost`` counts trials where any of
this failed.

Usage::

    python benchmarks/kill_campaign.py --trials 24 --out benchmarks/results/reliability
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, ROOT, write_named_report

from kdedge import layout
from kdedge.io import partial_path

sys.path.insert(0, str(ROOT))
from tests.support import (build_tiny_teacher, file_hashes, incomplete_stages, tiny_flags,  # noqa: E402
                           write_sst2)  # the synthetic task

COMPARED = ("student_float32.tflite", "student_dynamic.tflite", "student_int8.tflite", "student_float16.tflite",
            "baseline_float32.tflite", layout.TOKENIZER)


def pipeline_cmd(run: Path, data: Path, teacher: Path, cache: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kdedge", "pipeline", "--out", str(run), *tiny_flags(data, teacher, cache),
            "--augment-copies", "20", *extra]


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    f = open(log, "a")
    f.write("$ " + shlex.join(cmd) + "\n")
    f.flush()
    return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


def stage_at_kill(log: Path) -> str:
    """What the run was doing when killed: the stage of its last ``[kdedge] STAGE ...`` line (distill split
    into labeling and training), or start-up."""
    stage, training = "start-up", False
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("[kdedge] ") and line.endswith(" ..."):
            stage, training = line.split()[1], False
        elif line.startswith("$ "):
            stage, training = "start-up", False
        elif "epoch" in line:
            training = True
    if stage == "distill":
        return "distill (training)" if training else "distill (labeling)"
    return stage


def run_checks(run: Path, cache: Path) -> list[str]:
    """The invariants after a kill: complete means whole; the store's shards load; no text in two shards."""
    problems = incomplete_stages(run)
    keys = []
    for shard in sorted(cache.rglob("shard-*.npz")):
        try:
            with np.load(shard, allow_pickle=False) as z:
                keys += [k.tobytes() for k in z["keys"]]
        except Exception as e:  # noqa: BLE001  (any unreadable shard is a finding)
            problems.append(f"{shard.name} unreadable: {e}")
    if len(keys) != len(set(keys)):
        problems.append(f"{len(keys) - len(set(keys))} texts in two shards")
    return problems


def outcome(run: Path) -> dict:
    """What a finished run produced that must not depend on interruptions."""
    shas = {e["file"]: e["sha256"] for e in json.loads((run / "export" / layout.MANIFEST).read_text())["models"]}
    tok = file_hashes(run / "export")[layout.TOKENIZER]
    bench = json.loads((run / "bench" / layout.REPORT_JSON).read_text())
    return {"files": {f: (tok if f == layout.TOKENIZER else shas.get(f)) for f in COMPARED},
            "accuracies": {r["name"]: r["accuracy"] for r in bench["models"]},
            "teacher_eval": json.loads((run / "teacher" / layout.METRICS).read_text())["eval"],
            "distill_eval": json.loads((run / "distill" / layout.METRICS).read_text())["eval_accuracy"]}


def kill_time(rng: random.Random, windows: dict[str, tuple[float, float]]) -> tuple[str, float]:
    """A stage drawn uniformly, and a moment drawn uniformly inside its window of the uninterrupted run."""
    stage = rng.choice(sorted(windows))
    lo, hi = windows[stage]
    return stage, rng.uniform(lo, hi)


def trial(i: int, rng: random.Random, ref: dict, ref_seconds: float, windows: dict, env: dict, args) -> dict:
    work = env["work"] / f"trial-{i:03d}"
    run, cache, log = work / "run", work / "cache", work / "log.txt"
    work.mkdir(parents=True)
    overwrite = i % 3 == 2
    extra = ["--overwrite"] if overwrite else []
    before = None
    if overwrite:  # replace a finished run (the new one labels into a fresh store, as with a new teacher)
        shutil.copytree(env["ref_run"], run)
        before = file_hashes(run)
    kills, problems, missed, t0 = [], [], [], time.perf_counter()
    cmd = pipeline_cmd(run, env["data"], env["teacher"], cache, *extra)
    for attempt in range(args.max_kills + 1):
        proc = start(cmd, log)
        kill_now = attempt < args.max_kills and (attempt == 0 or rng.random() < 0.5)
        aimed, at = kill_time(rng, windows) if attempt == 0 else ("any", rng.uniform(0.02, 0.9) * ref_seconds)
        at = at if kill_now else None
        try:
            proc.wait(timeout=at if at is not None else args.timeout)
            finished = True
        except subprocess.TimeoutExpired:
            finished = False
            if at is None:
                problems.append("hung")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        if finished:
            if proc.returncode != 0:
                problems.append(f"exit {proc.returncode} (see {log})")
            if at is not None:
                missed.append(aimed)  # it finished before the moment drawn
            break
        kills.append({"after_s": round(at, 1), "aimed_at": aimed, "stage": stage_at_kill(log)})
        target = partial_path(run) if overwrite and partial_path(run).is_dir() else run
        problems += run_checks(target, cache)
        if before is not None and file_hashes(run) != before:
            problems.append("the run being replaced changed")
        cmd = pipeline_cmd(run, env["data"], env["teacher"], cache, "--resume")
    if not problems:
        try:
            got = outcome(run)
            problems += [f"{k} differs" for k in got if got[k] != ref[k]]
            if partial_path(run).exists():
                problems.append("a .partial folder was left")
        except Exception as e:  # noqa: BLE001
            problems.append(f"no complete run: {e}")
    result = {"trial": i, "mode": "overwrite" if overwrite else "new", "kills": kills, "problems": problems,
              "finished_before_the_kill": missed,
              "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result), file=sys.stderr, flush=True)
    if not problems and not args.keep:
        shutil.rmtree(work)
    return result


def render(report: dict) -> str:
    rows = report["trials"]
    n_kills = sum(len(t["kills"]) for t in rows)
    lost = sum(1 for t in rows if t["problems"])
    lines = [f"# Kill campaign: {len(rows)} pipeline runs, {n_kills} SIGKILLs", "", "```", report["command"], "```", "",
             f"- The tiny pipeline (synthetic task of `tests/support.py`, real training and conversion at toy size): "
             f"uninterrupted {report['reference_seconds']:.0f} s here. A trial's first kill aims at a stage drawn "
             f"uniformly, at a uniform moment of that stage's window in the uninterrupted run; each resume is killed "
             f"again with probability 1/2 (uniform over the run), up to {report['max_kills']} kills per trial; "
             f"every third trial is an `--overwrite` of a finished run. {report['seconds']:.0f} s in all.",
             "- Stage windows (s from start): " + ", ".join(f"{k} {a:.1f}-{b:.1f}"
                                                            for k, (a, b) in report["windows"].items()) + ".",
             f"- Runs that finished before the moment drawn (no kill): "
             f"{sum(len(t['finished_before_the_kill']) for t in rows)}.",
             f"- **Trials with data lost or a wrong result: {lost}** of {len(rows)} "
             f"(files differing from the uninterrupted run, accuracies differing, a complete-looking stage missing "
             f"files, an unreadable or duplicated store shard, or the run being replaced changed).",
             "", "| stage running at the kill | kills | trials with a problem |", "|---|---:|---:|"]
    by_stage = collections.Counter(k["stage"] for t in rows for k in t["kills"])
    bad_stage = collections.Counter(k["stage"] for t in rows if t["problems"] for k in t["kills"])
    for stage, n in sorted(by_stage.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {stage} | {n} | {bad_stage.get(stage, 0)} |")
    lines += ["", "| mode | trials | kills | problems |", "|---|---:|---:|---:|"]
    for mode in ("new", "overwrite"):
        ts = [t for t in rows if t["mode"] == mode]
        lines.append(f"| {mode} | {len(ts)} | {sum(len(t['kills']) for t in ts)} | "
                     f"{sum(1 for t in ts if t['problems'])} |")
    problems = [f"- trial {t['trial']}: {'; '.join(t['problems'])}" for t in rows if t["problems"]]
    lines += ["", "## Problems", ""] + (problems or ["None."])
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=24, help="Pipeline runs to interrupt.")
    ap.add_argument("--max-kills", type=int, default=3, help="Most kills per trial (the first always happens).")
    ap.add_argument("--seed", type=int, default=0, help="Seed of the kill times.")
    ap.add_argument("--timeout", type=float, default=900, help="Seconds before a run that is not killed counts as "
                    "hung.")
    ap.add_argument("--keep", action="store_true", help="Keep every trial's folder (else only failed ones).")
    ap.add_argument("--work", default=None, help="Scratch folder (default: a new temporary one).")
    ap.add_argument("--out", default=str(RESULTS / "reliability"), help="Where kill.json and kill.md go.")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="kdedge-kill-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data, teacher = work / "data", work / "tiny_bert"
    write_sst2(data)
    build_tiny_teacher(teacher)
    env = {"work": work, "data": data, "teacher": teacher, "ref_run": work / "ref" / "run",
           "ref_cache": work / "ref" / "cache"}
    t0 = time.perf_counter()
    subprocess.run(pipeline_cmd(env["ref_run"], data, teacher, env["ref_cache"]), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ref_seconds = time.perf_counter() - t0
    ref = outcome(env["ref_run"])
    timings = json.loads((env["ref_run"] / layout.TIMINGS).read_text())
    at = ref_seconds - timings["total"]  # start-up: the interpreter and TensorFlow's import
    windows = {}
    for stage in layout.STAGES:
        windows[stage] = (at, at + timings[stage])
        at += timings[stage]
    rng = random.Random(args.seed)
    trials = [trial(i, rng, ref, ref_seconds, windows, env, args) for i in range(args.trials)]
    report = {"command": "python " + shlex.join(["benchmarks/kill_campaign.py", *sys.argv[1:]]),
              "trials": trials, "reference_seconds": round(ref_seconds, 1), "max_kills": args.max_kills,
              "seconds": round(time.perf_counter() - started, 1), "reference": ref, "windows": windows,
              "kills": sum(len(t["kills"]) for t in trials),
              "trials_with_problems": sum(1 for t in trials if t["problems"])}
    write_named_report(Path(args.out), "kill", report, render(report))
    if not any(t["problems"] for t in trials):
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
