"""`kdedge explain` on a finished run, timed, with its report filed under ``benchmarks/results/<dataset>/``.

    python benchmarks/explain_report.py --run runs/sst2 [--out benchmarks/results/sst2] [-- explain flags]

Runs ``kdedge explain`` on the run's export, teacher, distill and data folders (the teacher, the distilled
student and its labels-only twin in Keras, and the float32 and int8 ``.tflite`` files) into ``RUN/explain``,
then writes to ``--out``:

    explain.json          the stage's figures, plus how they were made (command, wall time, machine, commit)
    explain.md            the stage's report with the command on top
    explain.png           the agreement distributions against their permutation baselines
    explain_example.png   one text's per-word scores, every model
    explain.html          words highlighted by score, models side by side
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

from common import RESULTS, run_timed

from kdedge.io import read_json, write_json, write_text
from kdedge.measure.machine import machine_info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="A finished `kdedge pipeline` folder.")
    parser.add_argument("--out", type=Path, help="Results folder [default: benchmarks/results/<dataset>].")
    parser.add_argument("--explain-out", type=Path, help="kdedge explain's folder [default: RUN/explain].")
    parser.add_argument("extra", nargs="*", help="After --: more `kdedge explain` flags.")
    args = parser.parse_args(argv)
    run = args.run
    dataset = read_json(run / "data" / "stats.json").get("dataset") or run.name
    out = args.out or RESULTS / dataset
    folder = args.explain_out or run / "explain"
    cmd = ["kdedge", "explain", "--export-dir", str(run / "export"), "--teacher-dir", str(run / "teacher"),
           "--distill-dir", str(run / "distill"), "--data", str(run / "data"), "--out", str(folder), "--overwrite",
           *args.extra]
    seconds = run_timed({"explain": cmd})["explain"]
    summary = read_json(folder / "explain.json")
    machine = machine_info()
    summary["run"] = {"command": shlex.join(cmd), "script": shlex.join(["python", *sys.argv]),
                      "wall_seconds": seconds, "machine": machine}
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder / "agreement.png", out / "explain.png")
    shutil.copyfile(folder / "example.png", out / "explain_example.png")
    shutil.copyfile(folder / "explain.html", out / "explain.html")
    report = (folder / "report.md").read_text()
    report = report.replace("(example.png)", "(explain_example.png)").replace("(agreement.png)", "(explain.png)")
    head = (f"```\n{summary['run']['script']}\n\n{summary['run']['command']}\n```\n\n"
            f"- {machine['cpu']}, {machine['cores']} cores; commit {machine['git_commit']}"
            f"{' (dirty)' if machine['git_dirty'] else ''}; {machine['date']}; explain took {seconds / 60:.1f} min.\n"
            f"- Per-text attributions (`attributions.jsonl`) are in `{folder}` and not committed: the command "
            "rewrites them.\n\n")
    title, _, rest = report.partition("\n")
    write_json(out / "explain.json", summary)
    write_text(out / "explain.md", f"{title} ({dataset})\n\n{head}{rest.lstrip()}")
    print(out / "explain.md")


if __name__ == "__main__":
    main()
