"""What the benchmark scripts share: where results go, running kdedge commands timed, writing a bench report.

The scripts are run as ``python benchmarks/<script>.py`` from the repository root
after installing kdedge (README); each imports this module by its file name (its
folder is the script's first ``sys.path`` entry) and kdedge from the install.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from kdedge import layout
from kdedge.io import write_json, write_text
from kdedge.measure.plots import plot_latency_grid, plot_report
from kdedge.measure.report import render_markdown

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def digest(obj) -> str:
    """16 hex digits of sha256 over ``obj`` as sorted JSON: the name of a sweep's run folder for a setting."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def run_timed(commands: dict[str, list[str]]) -> dict[str, float]:
    """Run each stage's command in a fresh process, in order (stop on failure); wall seconds per stage."""
    seconds = {}
    for stage, cmd in commands.items():
        print("$ " + shlex.join(cmd), file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        seconds[stage] = round(time.perf_counter() - t0, 1)
    return seconds


def render_report(report: dict, results: Path) -> None:
    """Write report.json, report.md (with the ``targets`` table, if any), report.png and latency.png."""
    plot_report(report, results / layout.REPORT_PNG)
    plot_latency_grid(report, results / layout.LATENCY_PNG)
    report["plots"] = [layout.REPORT_PNG, layout.LATENCY_PNG]
    write_json(results / layout.REPORT_JSON, report)
    md = render_markdown(report)
    if report.get("targets"):
        md += f"\n## Targets ({report.get('targets_of', 'foundation issue')})\n\n| target | measured | met |\n"
        md += "|---|---:|:---:|\n"
        md += "".join(f"| {c['target']} | {c['shown']} | {'yes' if c['met'] else 'NO'} |\n" for c in report["targets"])
    write_text(results / layout.REPORT_MD, md)
    print(md)


def write_named_report(out: Path, stem: str, report: dict, markdown: str) -> None:
    """``out/stem.json`` and ``out/stem.md`` (the scripts with their own report shape), and print the Markdown."""
    write_json(out / f"{stem}.json", report)
    write_text(out / f"{stem}.md", markdown)
    print(markdown)


def mediapipe_classifier(path: Path):
    """MediaPipe Tasks' own ``TextClassifier`` on ``path`` (it reads the tokenizer and labels from the file's
    metadata); raises whatever MediaPipe raises for a file it refuses. Close it after use."""
    from mediapipe.tasks.python import text
    from mediapipe.tasks.python.core import base_options

    options = text.TextClassifierOptions(base_options=base_options.BaseOptions(model_asset_path=str(path)))
    return text.TextClassifier.create_from_options(options)


def mediapipe_scores(classifier, texts: list[str], labels: int):
    """``[len(texts), labels]``: the score MediaPipe gives each label of each text, one text per call."""
    import numpy as np

    scores = np.zeros((len(texts), labels), np.float32)
    for i, text in enumerate(texts):
        for c in classifier.classify(text).classifications[0].categories:
            scores[i, c.index] = c.score
    return scores
