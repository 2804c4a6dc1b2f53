"""Bench stage: size, accuracy and latency of every exported ``.tflite``, side by side.

Everything is measured on the artifact: accuracy, macro precision / recall / F1,
the confusion matrix and the calibration error (ECE) come from the logits of the
``.tflite`` run with LiteRT over the labeled eval split, one example at a time,
exactly as an app would (see :func:`kdedge.metrics.classification_metrics`);
latency is one example per call on 1 thread, warm-up first, then ``runs`` timed
calls cycling through real tokenized eval texts.

Rows have kind ``teacher``, ``student`` or ``baseline`` (a student trained on
labels only); agreement, retention, speed-up and size ratio are relative to the
teacher row, ``retention_vs_float_student`` to the ``student_float32`` row.

Output folder (``kdedge bench --out DIR``)::

    DIR/report.json   machine, models, metrics (schema: kdedge-bench/2, see benchmarks/README.md)
    DIR/report.md     the same as tables
    DIR/report.png    accuracy against latency and size
    DIR/config.json   the resolved BenchConfig
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
from kdedge.progress import progress

from kdedge.errors import ConfigError
from kdedge.io import read_json, require_files, write_json, write_text
from kdedge.metrics import classification_metrics, latency_summary

SCHEMA = "kdedge-bench/2"
ECE_BINS = 15  # equal-width confidence bins of the expected calibration error
FLOAT_STUDENT = "student_float32"  # the row retention_vs_float_student is relative to


@dataclasses.dataclass
class BenchConfig:
    """Settings of the bench stage; each field is a ``kdedge bench`` flag."""

    runs: int = 300  # --runs: timed single-example calls per model (>= 200 for a stable p99)
    warmup: int = 20  # --warmup: untimed calls first (allocations, caches, XNNPACK packing)
    threads: int = 1  # --threads: interpreter threads; 1 is what a phone app usually gets
    max_eval: int | None = None  # --max-eval: cap eval examples (IMDB teacher runs are long)
    seed: int = 0  # --seed

    def validate(self) -> None:
        if self.runs < 1:
            raise ConfigError(f"--runs must be >= 1, got {self.runs}")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be >= 0, got {self.warmup}")
        if self.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {self.threads}")
        if self.max_eval is not None and self.max_eval < 1:
            raise ConfigError(f"--max-eval must be >= 1, got {self.max_eval}")


def model_feeds(export_dir: Path, entry: dict, texts: list[str], max_len: int) -> list[dict[str, np.ndarray]]:
    """One input dict per text, tokenized the way the model's app would."""
    if entry["kind"] == "teacher":
        from transformers import BertTokenizerFast

        from kdedge.teacher import tokenize
        tok = BertTokenizerFast.from_pretrained(str(export_dir / entry["tokenizer"]))
        ids = np.zeros((len(texts), entry["max_len"]), dtype=np.int32)
        for i, row in enumerate(tokenize(tok, texts, entry["max_len"], entry.get("truncation", "head"))):
            ids[i, :len(row)] = row
        mask = (ids != 0).astype(np.int32)
        return [{"input_ids": ids[i:i + 1], "attention_mask": mask[i:i + 1]} for i in range(len(texts))]
    from kdedge.tokenizer import WordTokenizer
    ids = WordTokenizer.load(export_dir / entry["tokenizer"]).encode(texts)
    return [{"input_ids": ids[i:i + 1]} for i in range(len(texts))]


def measure_latency(model, feeds: list[dict], runs: int, warmup: int) -> dict:
    """Time ``runs`` single invocations (inputs set outside the timed region)."""
    for i in range(warmup):
        model(feeds[i % len(feeds)])
    times = np.empty(runs)
    for i in range(runs):
        model.set_inputs(feeds[i % len(feeds)])
        t0 = time.perf_counter()
        model.invoke()
        times[i] = time.perf_counter() - t0
        model.output_value()
    return latency_summary(times)


def machine_info() -> dict:
    import ai_edge_litert
    import tensorflow as tf
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=5).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        commit = None
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown"),
            "git_commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def run_bench(export_dir: str | Path, data_dir: str | Path, out: str | Path, cfg: BenchConfig,
              extra: dict | None = None) -> dict:
    """Bench stage: measure every model in ``export_dir``'s manifest; write the report to ``out``.

    ``extra`` (e.g. the pipeline's stage timings) is stored under ``report["run"]``.
    """
    from kdedge.data import Split
    from kdedge.runtime import TFLiteModel

    cfg.validate()
    export_dir = require_files(export_dir, ["manifest.json", "config.json"], "kdedge export")
    data_dir = require_files(data_dir, ["eval.jsonl"], "kdedge data")
    manifest = read_json(export_dir / "manifest.json")
    evals = Split.from_jsonl(data_dir / "eval.jsonl", "eval")
    keep = np.flatnonzero(evals.labels >= 0)
    if cfg.max_eval is not None and cfg.max_eval < len(keep):
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(keep)[:cfg.max_eval])
    texts = [evals.texts[i] for i in keep]
    gold = evals.labels[keep]
    label_names = read_label_names(data_dir)

    rows = []
    logits_of = {}
    for entry in manifest["models"]:
        path = export_dir / entry["file"]
        feeds = model_feeds(export_dir, entry, texts, manifest["max_len"])
        t0 = time.perf_counter()
        model = TFLiteModel(path, num_threads=cfg.threads)
        load_ms = (time.perf_counter() - t0) * 1000
        logits = np.concatenate([model(f) for f in progress(feeds, desc=f"eval {entry['name']}", unit="ex",
                                                        leave=False)])
        logits_of[entry["name"]] = logits
        rows.append({"name": entry["name"], "kind": entry["kind"], "quantization": entry["quantization"],
                     "file": entry["file"], "bytes": path.stat().st_size, "sha256": entry["sha256"],
                     "load_ms": load_ms,
                     "latency": measure_latency(model, feeds, cfg.runs, cfg.warmup)})

    add_metrics(rows, logits_of, gold, len(label_names) if label_names else None)
    report = {"schema": SCHEMA, "machine": machine_info(), "config": dataclasses.asdict(cfg),
              "eval": {"split": str(data_dir / "eval.jsonl"), "examples": int(len(gold)),
                       "label_names": label_names, "ece_bins": ECE_BINS},
              "models": rows, "run": extra or {}}
    out = Path(out)
    plot_report(report, out / "report.png")
    report["plot"] = "report.png"
    write_json(out / "report.json", report)
    write_text(out / "report.md", render_markdown(report))
    write_json(out / "config.json", {**dataclasses.asdict(cfg), "export": str(export_dir), "data": str(data_dir)})
    return report


def read_label_names(data_dir: Path) -> list[str] | None:
    """``label_names`` from the data stage's ``stats.json``, or None when it is missing."""
    path = Path(data_dir) / "stats.json"
    if not path.is_file():
        return None
    names = read_json(path).get("label_names")
    return [str(n) for n in names] if names else None


def add_metrics(rows: list[dict], logits_of: dict[str, np.ndarray], gold: np.ndarray,
                num_labels: int | None = None) -> None:
    """Fill each row's label metrics from its own logits, then the ratios to the reference rows.

    Every row gets ``metrics`` (the full :func:`kdedge.metrics.classification_metrics`, with
    ``agreement`` against the teacher's predictions when there is a teacher row) and, at the
    top level, ``accuracy``, ``macro_f1``, ``macro_precision``, ``macro_recall``, ``ece`` and
    ``confusion``. With a teacher row: ``agreement_with_teacher``, ``retention``,
    ``speedup_p50``, ``size_ratio``; with a ``student_float32`` student row:
    ``retention_vs_float_student``.
    """
    gold = np.asarray(gold)
    width = max(logits.shape[1] for logits in logits_of.values()) if logits_of else 0
    labels = max(width, num_labels or 0, int(gold.max()) + 1 if gold.size else 0)
    teacher = next((r for r in rows if r["kind"] == "teacher"), None)
    reference = logits_of[teacher["name"]].argmax(1) if teacher is not None else None
    for r in rows:
        m = classification_metrics(logits_of[r["name"]], gold, labels, reference_pred=reference, bins=ECE_BINS)
        r["metrics"] = m
        r.update({k: m[k] for k in ("accuracy", "macro_f1", "macro_precision", "macro_recall", "ece", "confusion")})
    float_student = next((r for r in rows if r["kind"] == "student" and r["name"] == FLOAT_STUDENT), None)
    for r in rows:
        if teacher is not None:
            r["agreement_with_teacher"] = r["metrics"]["agreement"]
            r["retention"] = _ratio(r["accuracy"], teacher["accuracy"])
            r["speedup_p50"] = teacher["latency"]["p50_ms"] / r["latency"]["p50_ms"]
            r["size_ratio"] = teacher["bytes"] / r["bytes"]
        if float_student is not None:
            r["retention_vs_float_student"] = _ratio(r["accuracy"], float_student["accuracy"])


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def render_markdown(report: dict) -> str:
    """The report as Markdown tables."""
    m = report["machine"]
    lines = ["# kdedge benchmark report", "",
             f"- Eval split: `{report['eval']['split']}` ({report['eval']['examples']} labeled examples); "
             "every quality metric comes from running each `.tflite` with LiteRT. Precision, recall and F1 "
             "are macro averages over the labels (0/0 counts as 0); ECE is the expected calibration error of "
             f"the top-1 softmax probability, {report['eval'].get('ece_bins', ECE_BINS)} equal-width bins.",
             f"- Latency: one example per call, {report['config']['threads']} thread(s), "
             f"{report['config']['warmup']} warm-up then {report['config']['runs']} timed calls on real tokenized "
             "eval texts.",
             f"- Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; Python {m['python']}, TensorFlow "
             f"{m['tensorflow']}, ai-edge-litert {m['ai_edge_litert']}; commit {m['git_commit']}; {m['date']}.",
             "",
             "| model | kind | size | accuracy | precision | recall | macro-F1 | ECE | retention "
             "| agreement w/ teacher | p50 ms | p90 ms | p99 ms | speedup (p50) | smaller by |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["models"]:
        lat = r["latency"]

        def opt(key, fmt, r=r):
            return fmt.format(r[key]) if r.get(key) is not None else "-"
        lines.append(
            f"| {r['name']} | {r.get('kind', '-')} | {_size(r['bytes'])} | {opt('accuracy', '{:.4f}')} | "
            f"{opt('macro_precision', '{:.4f}')} | {opt('macro_recall', '{:.4f}')} | {opt('macro_f1', '{:.4f}')} | "
            f"{opt('ece', '{:.4f}')} | {opt('retention', '{:.2%}')} | {opt('agreement_with_teacher', '{:.2%}')} | "
            f"{lat['p50_ms']:.3f} | {lat['p90_ms']:.3f} | {lat['p99_ms']:.3f} | {opt('speedup_p50', '{:.0f}x')} | "
            f"{opt('size_ratio', '{:.0f}x')} |")
    lines += _confusion_section(report)
    if report.get("plot"):
        lines += ["", f"![accuracy vs latency and size]({report['plot']})"]
    run = report.get("run") or {}
    if run:
        lines += ["", "## Run", ""]
        if run.get("command"):
            lines += ["```", run["command"], "```", ""]
        for key, value in run.items():
            if key == "command":
                continue
            if isinstance(value, dict):
                lines.append(f"- {key}:")
                lines += [f"  - {k}: {_fmt(v)}" for k, v in value.items()]
            else:
                lines.append(f"- {key}: {_fmt(value)}")
    return "\n".join(lines) + "\n"


def _confusion_section(report: dict) -> list[str]:
    """``## Confusion matrices``: one table, a row per model and a column per (gold, predicted) pair,
    when there are at most 3 labels; otherwise a small gold-by-predicted table per model."""
    rows = [r for r in report["models"] if r.get("confusion")]
    if not rows:
        return []
    k = max(len(r["confusion"]) for r in rows)
    names = list(report["eval"].get("label_names") or [])
    names += [str(i) for i in range(len(names), k)]  # ids stand in for missing names
    lines = ["", "## Confusion matrices", "",
             "Eval examples counted by gold label and predicted label (`gold → predicted`); "
             "`x → x` (the diagonal) counts the correct predictions.", ""]
    if k <= 3 and all(len(r["confusion"]) == k for r in rows):
        cells = [(g, p) for g in range(k) for p in range(k)]
        lines += ["| model | " + " | ".join(f"{names[g]} → {names[p]}" for g, p in cells) + " |",
                  "|---|" + "---:|" * len(cells)]
        lines += [f"| {r['name']} | " + " | ".join(str(r["confusion"][g][p]) for g, p in cells) + " |"
                  for r in rows]
        return lines
    for r in rows:
        n = len(r["confusion"])
        lines += [f"**{r['name']}**", "", "| gold ↓ predicted → | " + " | ".join(names[:n]) + " |",
                  "|---|" + "---:|" * n]
        lines += [f"| {names[g]} | " + " | ".join(str(c) for c in r["confusion"][g]) + " |" for g in range(n)]
        lines.append("")
    return lines[:-1]


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plot_report(report: dict, path: str | Path) -> None:
    """Accuracy against p50 latency and against size (log scales), one point per model, as PNG."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kdedge.io import write_bytes

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    markers = "os^Dv<>ph"  # students; the teacher is a star and a labels-only baseline an X
    kind_marker = {"teacher": "*", "baseline": "X"}
    for ax, key, label in ((axes[0], "p50", "p50 latency, ms (1 thread, log scale)"),
                           (axes[1], "bytes", "file size, MB (log scale)")):
        # One colour and marker per model, named in the legend: variants often tie on
        # accuracy, and labels beside the points would overlap.
        for i, r in enumerate(report["models"]):
            x = r["latency"]["p50_ms"] if key == "p50" else r["bytes"] / 1e6
            marker = kind_marker.get(r.get("kind"), markers[i % len(markers)])
            ax.scatter(x, 100 * r["accuracy"], s=110 if marker in kind_marker.values() else 55, marker=marker,
                       color=f"C{i}", label=r["name"], zorder=3, alpha=0.85)
        ax.set_xscale("log")
        ax.margins(x=0.25, y=0.15)
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy on the eval split, % (from the .tflite)")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.suptitle(f"{report['eval']['examples']} eval examples; {report['machine']['cpu']}, "
                 f"{report['config']['threads']} thread(s)", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes(path, buf.getvalue())


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"
