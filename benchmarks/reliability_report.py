"""The reliability table: every robustness case kdedge's tests try, by category, with counts and outcomes,
beside the fuzz campaign's totals.

Runs the robustness tests with pytest (``--junitxml``), sorts each test case into a category by the test
it is, and reads ``fuzz.json`` (``benchmarks/fuzz_models.py``) when it is there::

    python benchmarks/fuzz_models.py --export-dir runs/imdb/export --count 1000
    python benchmarks/reliability_report.py

Writes ``benchmarks/results/reliability.{json,md}``.
"""

from __future__ import annotations

import argparse
import collections
import json
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from common import RESULTS, ROOT, write_named_report

# (category, test node prefixes) in the order of the list; the longest matching prefix wins.
CATEGORIES = [
    ("1. text edge cases", ("tests/robustness/test_text_edges.py", "tests/data/test_table.py::test_table_errors",
                            "tests/data/test_splits.py::test_from_jsonl_refuses",
                            "tests/text/test_tokenizer.py::test_a_huge_text",
                            "tests/serve/test_server.py::test_bad_requests")),
    ("2. property tests (hypothesis)", ("tests/robustness/test_properties.py",)),
    ("3. hostile and corrupt models", ("tests/robustness/test_hostile_models.py",)),
    ("4. interruptions and resume", ("tests/robustness/test_interrupt.py", "tests/training/test_distill.py::test_an_",
                                     "tests/models/test_teacher.py::test_fine_tune_resumes",
                                     "tests/training/test_logit_store.py::test_interrupted",
                                     "tests/test_pipeline.py::test_resume")),
    ("5. crash during a write", ("tests/test_io.py", "tests/robustness/test_crash_during_write.py",
                                 "tests/robustness/test_interrupt.py::test_an_export_killed")),
    ("6. concurrent writers", ("tests/training/test_logit_store.py::test_two_processes",
                               "tests/robustness/test_interrupt.py::test_two_exports")),
    ("7. determinism", ("tests/robustness/test_determinism.py", "tests/text/test_tokenizer.py::test_same")),
    ("8. CLI: bad flags, inputs, outputs", ("tests/robustness/test_cli_outputs.py", "tests/test_cli.py")),
]


# Which stages give the same result again (category 7), each with the test that checks it.
DETERMINISM = [
    ("student", "tokenizer file and initial weights bitwise on a rerun",
     "tests/robustness/test_determinism.py::test_student_distill"),
    ("distill", "trained weights bitwise, every epoch's losses and accuracies equal, on a rerun",
     "tests/robustness/test_determinism.py::test_student_distill"),
    ("distill, killed and resumed", "byte-identical student files",
     "tests/robustness/test_interrupt.py::test_a_pipeline_killed_mid_distill"),
    ("export", "every student `.tflite` byte-identical on a rerun",
     "tests/robustness/test_determinism.py::test_student_distill"),
    ("teacher (tiny, no dropout), killed and resumed", "same eval accuracy and loss, weights within 1e-5",
     "tests/robustness/test_interrupt.py::test_a_teacher_killed"),
    ("teacher (MiniLM, dropout 0.1)", "not bitwise: a rerun from the same start gives other weights "
     "(benchmarks/results/refactor/parity.md); a resume draws new dropout masks after the resume point", None),
    ("bench", "accuracies equal; latencies are measurements (their spread is in each report)", None),
]


def category(node: str) -> str | None:
    matches = [(len(p), name) for name, prefixes in CATEGORIES for p in prefixes if node.startswith(p)]
    return max(matches)[1] if matches else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="Folder for reliability.{json,md}.")
    parser.add_argument("--fuzz", type=Path, default=RESULTS / "reliability" / "fuzz.json",
                        help="The fuzz campaign's report, if run.")
    parser.add_argument("--kill", type=Path, default=RESULTS / "reliability" / "kill.json",
                        help="The kill campaign's report (benchmarks/kill_campaign.py), if run.")
    args = parser.parse_args(argv)

    paths = sorted({p.split("::")[0] for _, prefixes in CATEGORIES for p in prefixes})
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *paths]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        cases = []
        for case in ET.parse(xml).getroot().iter("testcase"):
            file = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
            node = f"{file}::{case.get('name')}"
            outcome = ("failed" if case.find("failure") is not None or case.find("error") is not None
                       else "skipped" if case.find("skipped") is not None else "passed")
            cases.append({"node": node, "category": category(node), "outcome": outcome,
                          "seconds": float(case.get("time", 0))})
    rows = collections.defaultdict(lambda: collections.Counter())
    for c in cases:
        if c["category"]:
            rows[c["category"]][c["outcome"]] += 1
    fuzz = json.loads(args.fuzz.read_text()) if args.fuzz.is_file() else None
    kill = json.loads(args.kill.read_text()) if args.kill.is_file() else None
    report = {"schema": "kdedge-reliability/1", "command": shlex.join(["python", *sys.argv]),
              "pytest": shlex.join(cmd[2:]).replace(str(xml), "<tmp>/junit.xml"),
              "pytest_exit": proc.returncode, "seconds": round(seconds, 1),
              "categories": {k: dict(v) for k, v in sorted(rows.items())},
              "cases": [c for c in cases if c["category"]], "fuzz": None if fuzz is None else {
                  k: fuzz[k] for k in ("command", "files", "child", "kdedge", "kdedge_process_deaths",
                                       "crashed_or_hung_not_refused", "multi_line_messages")},
              "kill": None if kill is None else {k: kill[k] for k in ("command", "kills", "trials_with_problems",
                                                                     "reference_seconds", "seconds")}
              | {"trials": len(kill["trials"])}}
    md = ["# Reliability: the cases kdedge's tests try", "", "```", report["command"], "```", "",
          f"`python -m {report['pytest']}` (exit {proc.returncode}, {seconds:.0f} s on this machine). Each "
          "row counts test cases (a parametrized test counts once per case); the cases are listed in "
          "`reliability.json`.", "",
          "| category | cases | passed | failed | skipped |", "|---|---:|---:|---:|---:|"]
    for name, _ in CATEGORIES:
        c = rows.get(name, collections.Counter())
        md.append(f"| {name} | {sum(c.values())} | {c['passed']} | {c['failed']} | {c['skipped']} |")
    md += ["", "## Determinism: which stages are bitwise reproducible", "",
           "| stage | same again | checked by | outcome |", "|---|---|---|---|"]
    for stage, what, node in DETERMINISM:
        got = [c["outcome"] for c in cases if node and c["node"].startswith(node)]
        outcome = ("passed" if got and all(o == "passed" for o in got) else "FAILED" if got else "not run") \
            if node else "-"
        md.append(f"| {stage} | {what} | {f'`{node}`' if node else '-'} | {outcome} |")
    if fuzz:
        md += ["", f"## Fuzzing model files ({fuzz['files']:,} mutated `.tflite` files)", "",
               "```", fuzz["command"], "```", "",
               "| | files |", "|---|---:|"]
        md += [f"| LiteRT in a child: {k} | {v} |" for k, v in sorted(fuzz["child"].items())]
        md += [f"| kdedge: {k} | {v} |" for k, v in sorted(fuzz["kdedge"].items())]
        md += [f"| kdedge process deaths | {fuzz['kdedge_process_deaths']} |",
               f"| crashed or hung LiteRT yet not refused by kdedge | {fuzz['crashed_or_hung_not_refused']} |",
               f"| kdedge refusals longer than one line | {fuzz['multi_line_messages']} |",
               "", "Per mutation: [reliability/fuzz.md](reliability/fuzz.md)."]
    if kill:
        stages = collections.Counter(k["stage"] for t in kill["trials"] for k in t["kills"])
        md += ["", f"## Kill campaign ({len(kill['trials'])} pipeline runs, {kill['kills']} SIGKILLs)", "",
               "```", kill["command"], "```", "",
               "| | |", "|---|---:|",
               f"| pipeline runs killed and resumed | {len(kill['trials'])} |",
               f"| SIGKILLs | {kill['kills']} ("
               + ", ".join(f"{stage} {n}" for stage, n in stages.most_common()) + ") |",
               f"| runs with data lost or a result unlike the uninterrupted run's | {kill['trials_with_problems']} |",
               "", "Per stage and mode: [reliability/kill.md](reliability/kill.md)."]
    md.append("")
    args.out.mkdir(parents=True, exist_ok=True)
    write_named_report(args.out, "reliability", report, "\n".join(md))
    if proc.returncode != 0:
        print(proc.stdout[-3000:], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
