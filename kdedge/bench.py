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
import gzip
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

from kdedge.errors import ConfigError
from kdedge.io import read_json, require_files, write_json, write_text
from kdedge.latency import TimingPlan, as_feeds, input_sets, model_feeds, probe, time_invocations
from kdedge.metrics import classification_metrics
from kdedge.progress import progress

SCHEMA = "kdedge-bench/3"
LATENCY_KEYS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "ci95_ms", "ci_rel",
                "runs", "converged", "timing_s", "warmup")
PROBE_KEYS = ("load_ms", "first_inference_ms", "baseline_rss_mb", "peak_rss_mb", "model_rss_mb")
ECE_BINS = 15  # equal-width confidence bins of the expected calibration error
FLOAT_STUDENT = "student_float32"  # the row retention_vs_float_student is relative to


@dataclasses.dataclass
class BenchConfig:
    """Settings of the bench stage; each field is a ``kdedge bench`` flag.

    Latency is measured for every (threads, XNNPACK, inputs) cell of the grid;
    the first cell (``threads[0]``, ``xnnpack[0]``, eval inputs) is each row's headline ``latency``.
    """

    threads: tuple = (1, 2, 4)  # --threads: interpreter thread counts (1 is what an app usually gets)
    xnnpack: tuple = ("on", "off")  # --xnnpack: with LiteRT's default XNNPACK delegate, and without
    lengths: tuple = (16, "max")  # --lengths: fixed token counts timed besides eval texts; "max" = max_len
    warmup: int = 20  # --warmup: untimed calls first (allocations, caches, XNNPACK packing)
    min_runs: int = 200  # --min-runs: timed calls at least per cell (a p99 from fewer is a guess)
    target_ci: float = 0.02  # --target-ci: time until the median's 95% CI is within ±2% ...
    time_cap: float = 5.0  # --time-cap: ... or this many seconds per cell (then flagged unconverged)
    probe: bool = True  # --probe: load time, first inference and peak RSS in a fresh process per cell
    max_eval: int | None = None  # --max-eval: cap eval examples (IMDB teacher runs are long)
    models: tuple = ()  # --models: names from the export manifest to measure (empty: all)
    seed: int = 0  # --seed

    def __post_init__(self):
        self.models = tuple(str(m) for m in _items(self.models))
        self.threads = tuple(_ints(self.threads, "--threads"))
        self.xnnpack = tuple(str(x).strip().lower() for x in _items(self.xnnpack))
        self.lengths = tuple("max" if str(x).strip() == "max" else _ints([x], "--lengths")[0]
                             for x in _items(self.lengths))

    def validate(self) -> None:
        if not self.threads or min(self.threads) < 1:
            raise ConfigError(f"--threads must be a list of counts >= 1, got {self.threads}")
        if not self.xnnpack or any(x not in ("on", "off") for x in self.xnnpack):
            raise ConfigError(f"--xnnpack must be on, off or on,off; got {','.join(self.xnnpack)}")
        if any(x != "max" and x < 1 for x in self.lengths):
            raise ConfigError(f"--lengths must be token counts >= 1 or max, got {self.lengths}")
        self.timing_plan().validate()
        if self.max_eval is not None and self.max_eval < 1:
            raise ConfigError(f"--max-eval must be >= 1, got {self.max_eval}")

    def timing_plan(self) -> TimingPlan:
        return TimingPlan(warmup=self.warmup, min_runs=self.min_runs, target_rel=self.target_ci,
                          time_cap_s=self.time_cap)

    def cells(self) -> list[tuple[int, bool]]:
        """(threads, xnnpack) pairs in report order; the first is the headline."""
        return [(t, x == "on") for t in self.threads for x in self.xnnpack]


def _items(value) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def _ints(value, flag: str) -> list[int]:
    try:
        return [int(v) for v in _items(value)]
    except ValueError:
        raise ConfigError(f"{flag} must be comma-separated integers, got {value!r}") from None


def machine_info(threads: tuple = ()) -> dict:
    """The manifest of the machine and software a report was measured with."""
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
    commit, dirty = None, None
    try:
        here = Path(__file__).parent
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=here, timeout=5).stdout.strip() or None
        if commit:
            dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                        capture_output=True, text=True, cwd=here, timeout=5).stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "tensorflow": tf.__version__,
            "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown"),
            "git_commit": commit, "git_dirty": dirty, "threads": list(threads),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def run_bench(export_dir: str | Path, data_dir: str | Path, out: str | Path, cfg: BenchConfig,
              extra: dict | None = None) -> dict:
    """Bench stage: measure every model in ``export_dir``'s manifest; write the report to ``out``.

    Per model: accuracy and the other label metrics from running the ``.tflite`` over
    the eval split; the latency grid; the fresh-process probe; raw and gzip size.
    ``extra`` (e.g. the pipeline's stage timings) is stored under ``report["run"]``.
    """
    from kdedge.runtime import TFLiteModel

    cfg.validate()
    export_dir = require_files(export_dir, ["manifest.json", "config.json"], "kdedge export")
    data_dir = require_files(data_dir, ["eval.jsonl"], "kdedge data")
    manifest = read_json(export_dir / "manifest.json")
    if cfg.models:
        known = [e["name"] for e in manifest["models"]]
        unknown = [m for m in cfg.models if m not in known]
        if unknown:
            raise ConfigError(f"--models {','.join(unknown)}: not in {export_dir}/manifest.json ({', '.join(known)})")
        manifest["models"] = [e for e in manifest["models"] if e["name"] in cfg.models]
    texts, gold, label_names = labeled_eval(data_dir, cfg)
    plan = cfg.timing_plan()
    (head_threads, head_xnn), cells = cfg.cells()[0], cfg.cells()

    rows = []
    logits_of = {}
    for entry in manifest["models"]:
        path = export_dir / entry["file"]
        content = path.read_bytes()
        logits_of[entry["name"]] = artifact_logits(export_dir, entry, texts, manifest["max_len"], head_threads,
                                                   head_xnn)
        sets = input_sets(export_dir, entry, texts, manifest["max_len"], cfg.lengths, seed=cfg.seed)
        grid = []
        for threads, xnn in progress(cells, desc=f"time {entry['name']}", unit="cell", leave=False):
            model = TFLiteModel(path, num_threads=threads, xnnpack=xnn)
            cold = probe(path, sets["eval"], threads, xnn) if cfg.probe else {}
            for name, arrays in sets.items():
                grid.append({"threads": threads, "xnnpack": xnn, "inputs": name,
                             **time_invocations(model, as_feeds(arrays), plan),
                             **({k: cold[k] for k in PROBE_KEYS} if cold and name == "eval" else {})})
            del model
        head = grid[0]
        rows.append({"name": entry["name"], "kind": entry["kind"], "quantization": entry["quantization"],
                     "file": entry["file"], "bytes": len(content),
                     "gzip_bytes": len(gzip.compress(content, compresslevel=9, mtime=0)),
                     "sha256": entry["sha256"],
                     **{k: head.get(k) for k in PROBE_KEYS},
                     "latency": {k: head[k] for k in LATENCY_KEYS}, "latency_grid": grid})

    add_metrics(rows, logits_of, gold, len(label_names) if label_names else None)
    report = {"schema": SCHEMA, "machine": machine_info(cfg.threads), "config": dataclasses.asdict(cfg),
              "eval": {"split": str(data_dir / "eval.jsonl"), "examples": int(len(gold)),
                       "label_names": label_names, "ece_bins": ECE_BINS},
              "headline": {"threads": head_threads, "xnnpack": head_xnn, "inputs": "eval"},
              "models": rows, "run": extra or {}}
    out = Path(out)
    write_report(report, out)
    write_json(out / "config.json", {**dataclasses.asdict(cfg), "export": str(export_dir), "data": str(data_dir)})
    return report


def write_report(report: dict, out: Path) -> None:
    """The plots, ``report.json`` and ``report.md`` into ``out`` (``report["plots"]`` names the plots)."""
    plot_report(report, out / "report.png")
    plot_latency_grid(report, out / "latency.png")
    report["plots"] = ["report.png", "latency.png"]
    write_json(out / "report.json", report)
    write_text(out / "report.md", render_markdown(report))


def labeled_eval(data_dir: Path, cfg: BenchConfig) -> tuple[list[str], np.ndarray, list[str] | None]:
    """The labeled eval texts (a seeded ``--max-eval`` sample when capped), their labels, the label names."""
    from kdedge.data import Split
    evals = Split.from_jsonl(Path(data_dir) / "eval.jsonl", "eval")
    keep = np.flatnonzero(evals.labels >= 0)
    if cfg.max_eval is not None and cfg.max_eval < len(keep):
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(keep)[:cfg.max_eval])
    return [evals.texts[i] for i in keep], evals.labels[keep], read_label_names(data_dir)


def artifact_logits(export_dir: Path, entry: dict, texts: list[str], max_len: int, threads: int = 1,
                    xnnpack: bool = True) -> np.ndarray:
    """Logits of the ``.tflite`` itself over ``texts``, one example per call as an app runs it."""
    from kdedge.runtime import TFLiteModel
    model = TFLiteModel(Path(export_dir) / entry["file"], num_threads=threads, xnnpack=xnnpack)
    feeds = model_feeds(export_dir, entry, texts, max_len)
    return np.concatenate([model(f) for f in progress(feeds, desc=f"eval {entry['name']}", unit="ex", leave=False)])


def run_device_report(export_dir: str | Path, data_dir: str | Path, out: str | Path, cfg: BenchConfig,
                      device_cfg) -> dict:
    """Device mode: latency on an Android device (:func:`kdedge.device.run_device_bench`), quality on the host.

    The device grid comes from ``benchmark_model`` or the android_demo app (raw outputs
    under ``out/device/``); accuracy and the other label metrics come from running the
    same ``.tflite`` files (same sha256) with LiteRT on the host: the eval split does
    not need to travel, and the arithmetic is the same kernels'. Written as a
    ``kdedge-bench/3`` report with ``platform: "android"``, so ``kdedge bench compare``
    and the plots work on it.
    """
    from kdedge.device import run_device_bench

    cfg.validate()
    export_dir, out = Path(export_dir), Path(out)
    device = run_device_bench(export_dir, data_dir, out / "device", device_cfg)
    manifest = read_json(export_dir / "manifest.json")
    entries = {e["name"]: e for e in manifest["models"]}
    texts, gold, label_names = labeled_eval(Path(data_dir), cfg)
    rows, logits_of = [], {}
    for d in device["models"]:
        entry = entries[d["name"]]
        content = (export_dir / entry["file"]).read_bytes()
        logits_of[d["name"]] = artifact_logits(export_dir, entry, texts, manifest["max_len"])
        grid = d["latency_grid"]
        rows.append({k: d[k] for k in ("name", "kind", "quantization", "file", "bytes", "sha256")}
                    | {"gzip_bytes": len(gzip.compress(content, compresslevel=9, mtime=0)),
                       "load_ms": grid[0].get("init_ms"), "first_inference_ms": grid[0].get("first_inference_ms"),
                       "peak_memory_mb": grid[0].get("peak_memory_mb"), "device_input": d.get("input"),
                       "latency": {k: v for k, v in grid[0].items() if k != "raw"},
                       "latency_grid": [{k: v for k, v in g.items() if k != "raw"} for g in grid]})
    add_metrics(rows, logits_of, gold, len(label_names) if label_names else None)
    host = machine_info(device_cfg.threads)
    dev = device["device"]
    machine = {**host, "platform": "android", "host_cpu": host["cpu"],
               "cpu": " ".join(str(dev.get(k)) for k in ("manufacturer", "model") if dev.get(k))
               + (f", SoC {dev['soc']}" if dev.get("soc") else "") + (f", {dev['abi']}" if dev.get("abi") else ""),
               "cores": dev.get("cores", "?"), "os": f"Android {dev.get('android')} (SDK {dev.get('sdk')})",
               "device": dev, "tool": device["tool"], "tool_path": device["tool_path"]}
    report = {"schema": SCHEMA, "platform": "android", "machine": machine,
              "config": {**dataclasses.asdict(cfg), "device": device["config"]},
              "eval": {"split": str(Path(data_dir) / "eval.jsonl"), "examples": int(len(gold)),
                       "label_names": label_names, "ece_bins": ECE_BINS, "metrics_from": "host LiteRT, same files"},
              "headline": {"threads": grid[0]["threads"], "xnnpack": grid[0]["xnnpack"], "inputs": grid[0]["inputs"]},
              "models": rows, "run": {"device_report": "device/device.json"}}
    write_report(report, out)
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
    ``retention_vs_float_student`` and ``flip_rate_vs_float_student`` (share of examples
    whose predicted label differs from the float student's).
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
            r["flip_rate_vs_float_student"] = float(
                (logits_of[r["name"]].argmax(1) != logits_of[float_student["name"]].argmax(1)).mean())


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def render_markdown(report: dict) -> str:
    """The report as Markdown: the headline table, the latency grid, confusion matrices, the run."""
    m, c = report["machine"], report["config"]
    h = report.get("headline") or {"threads": c.get("threads"), "xnnpack": True}  # schema 1/2: one setting
    if report.get("platform") == "android":
        d = c["device"]
        timing = (f"timed on the device by `{m['tool']}`: {d['warmup']} warm-up then {d['runs']} timed runs of "
                  "the eval text of median length; accuracy and the other label metrics from the same `.tflite` "
                  "files run with LiteRT on the host.")
    elif "min_runs" in c:
        timing = (f"{c['warmup']} warm-up calls, then at least {c['min_runs']} timed calls, more until the median's "
                  f"95% CI is within ±{c['target_ci']:.0%} (or {c['time_cap']:g} s per cell: marked †). Load, "
                  "first inference and peak RSS come from a fresh process per model and thread setting.")
    else:
        timing = f"{c.get('warmup')} warm-up calls, then {c.get('runs')} timed calls."
    lines = ["# kdedge benchmark report", "",
             f"- Eval split: `{report['eval']['split']}` ({report['eval']['examples']} labeled examples); "
             "every quality metric comes from running each `.tflite` with LiteRT. Precision, recall and F1 "
             "are macro averages over the labels (0/0 counts as 0); ECE is the expected calibration error of "
             f"the top-1 softmax probability, {report['eval'].get('ece_bins', ECE_BINS)} equal-width bins.",
             f"- Latency (headline columns): one example per `invoke()`, {h['threads']} thread(s), XNNPACK "
             f"{'on' if h['xnnpack'] else 'off'}, real tokenized eval texts; {timing}",
             f"- Manifest: {m['cpu']}, {m['cores']} cores, {m['os']}; Python {m['python']}, numpy "
             f"{m.get('numpy', '?')}, TensorFlow {m['tensorflow']}, ai-edge-litert {m['ai_edge_litert']}; "
             f"commit {m['git_commit']}{' (dirty)' if m.get('git_dirty') else ''}; {m['date']}. Model sha256 "
             "in `report.json`.",
             "",
             "| model | kind | size | gzip | accuracy | macro-F1 | precision | recall | ECE | retention "
             "| vs float student | flips vs float | agreement w/ teacher | p50 ms (95% CI) | p90 ms | p99 ms | load ms "
             "| first call ms | peak RSS MB (+model) | speedup (p50) | smaller by |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["models"]:
        lat = r["latency"]

        def opt(key, fmt, r=r):
            return fmt.format(r[key]) if r.get(key) is not None else "-"
        lines.append(
            f"| {r['name']} | {r.get('kind', '-')} | {_size(r['bytes'])} | "
            f"{_size(r['gzip_bytes']) if r.get('gzip_bytes') else '-'} | "
            f"{opt('accuracy', '{:.4f}')} | {opt('macro_f1', '{:.4f}')} | {opt('macro_precision', '{:.4f}')} | "
            f"{opt('macro_recall', '{:.4f}')} | {opt('ece', '{:.4f}')} | {opt('retention', '{:.2%}')} | "
            f"{opt('retention_vs_float_student', '{:.2%}')} | {opt('flip_rate_vs_float_student', '{:.2%}')} | "
            f"{opt('agreement_with_teacher', '{:.2%}')} | "
            f"{_p50(lat)} | {_ms(lat['p90_ms'])} | {_ms(lat['p99_ms'])} | {opt('load_ms', '{:.1f}')} | "
            f"{opt('first_inference_ms', '{:.2f}')} | {_rss(r)} | "
            f"{opt('speedup_p50', '{:.0f}x')} | {opt('size_ratio', '{:.0f}x')} |")
    lines += _grid_section(report)
    lines += _confusion_section(report)
    for plot in report.get("plots", []):
        lines += ["", f"![{plot}]({plot})"]
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


def _grid_section(report: dict) -> list[str]:
    """``## Latency grid``: p50 ms (± the CI half-width, % of p50) per model and (threads, XNNPACK)
    cell, one table per input set."""
    rows = [r for r in report["models"] if r.get("latency_grid")]
    if not rows:
        return []
    cells = list(dict.fromkeys((g["threads"], g["xnnpack"]) for g in rows[0]["latency_grid"]))
    inputs = list(dict.fromkeys(g["inputs"] for g in rows[0]["latency_grid"]))
    lines = ["", "## Latency grid", "",
             "p50 in ms (± half the median's 95% CI, in % of p50) per thread count and XNNPACK setting; "
             "`eval` cycles through eval texts, `len=L` feeds exactly L real tokens. † = the CI target was not "
             "reached within the time cap. After the slash: peak RSS in MB of a fresh process running the model "
             "(eval inputs), and in brackets what the model added to the bare runtime.", ""]
    head = " | ".join(f"{t} thr, XNNPACK {'on' if x else 'off'}" for t, x in cells)
    for name in inputs:
        lines += [f"**{name}**", "", f"| model | {head} |", "|---|" + "---:|" * len(cells)]
        for r in rows:
            by = {(g["threads"], g["xnnpack"]): g for g in r["latency_grid"] if g["inputs"] == name}
            vals = []
            for cell in cells:
                g = by.get(cell)
                if g is None:
                    vals.append("-")
                    continue
                vals.append(f"{_p50(g)}" + (f" / {_rss(g)}" if g.get("peak_rss_mb") is not None else ""))
            lines.append(f"| {r['name']} | " + " | ".join(vals) + " |")
        lines.append("")
    return lines[:-1]


def _rss(r: dict) -> str:
    """Peak RSS and, in brackets, what loading and running the model added to the bare runtime."""
    if r.get("peak_rss_mb") is None:
        return "-"
    return f"{r['peak_rss_mb']:.0f} (+{r['model_rss_mb']:.1f})"


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def _p50(lat: dict) -> str:
    ci = f" ±{100 * lat['ci_rel']:.1f}%" if lat.get("ci_rel") is not None else ""
    return f"{_ms(lat['p50_ms'])}{ci}{'' if lat.get('converged', True) else ' †'}"


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


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower x, higher y), by ascending x.

    A point is dominated when another has ``x <=`` and ``y >=`` with one strictly better.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_report(report: dict, path: str | Path) -> None:
    """Accuracy against headline p50 latency and against size (log scales), Pareto fronts marked, as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kdedge.io import write_figure

    h = report.get("headline") or {"threads": report["config"].get("threads"), "xnnpack": True}
    threads = h["threads"][0] if isinstance(h["threads"], (list, tuple)) else h["threads"]
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4))
    markers = "os^Dv<>ph"  # students; the teacher is a star and a labels-only baseline an X
    kind_marker = {"teacher": "*", "baseline": "X"}
    models = report["models"]
    for ax, key, label in ((axes[0], "p50", f"p50 latency, ms ({threads} thread, "
                            f"XNNPACK {'on' if h.get('xnnpack', True) else 'off'}; log scale)"),
                           (axes[1], "bytes", "file size, MB (log scale)")):
        xs = [r["latency"]["p50_ms"] if key == "p50" else r["bytes"] / 1e6 for r in models]
        ys = [100 * r["accuracy"] for r in models]
        # One colour and marker per model, named in the legend: variants often tie on
        # accuracy, and labels beside the points would overlap.
        for i, r in enumerate(models):
            marker = kind_marker.get(r.get("kind"), markers[i % len(markers)])
            ax.scatter(xs[i], ys[i], s=110 if marker in kind_marker.values() else 55, marker=marker,
                       color=f"C{i}", label=r["name"], zorder=3, alpha=0.85)
        front = pareto_front(list(zip(xs, ys)))
        ax.step([xs[i] for i in front], [ys[i] for i in front], where="post", color="0.3", lw=1, ls="--",
                zorder=2, label="Pareto front")
        ax.scatter([xs[i] for i in front], [ys[i] for i in front], s=190, facecolors="none", edgecolors="0.3",
                   lw=1, zorder=2)
        ax.set_xscale("log")
        ax.margins(x=0.25, y=0.15)
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy on the eval split, % (from the .tflite)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[1].get_legend_handles_labels()
    axes[1].legend(handles, labels, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.suptitle(f"{report['eval']['examples']} eval examples; {report['machine']['cpu']}; "
                 "ringed points: the Pareto front (nothing is both faster/smaller and more accurate)", fontsize=9)
    fig.tight_layout()
    write_figure(path, fig)


def plot_latency_grid(report: dict, path: str | Path) -> None:
    """p50 latency (eval inputs) against thread count per model, XNNPACK on solid and off dashed,
    with the medians' 95% CIs as error bars, as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kdedge.io import write_figure

    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    for i, r in enumerate(report["models"]):
        for xnn, style in ((True, "-"), (False, "--")):
            grid = r.get("latency_grid", [])
            first = grid[0]["inputs"] if grid else None  # eval texts (host) or the median text (device)
            cells = sorted((g for g in grid if g["inputs"] == first and g["xnnpack"] == xnn),
                           key=lambda g: g["threads"])
            if not cells:
                continue
            t = [g["threads"] for g in cells]
            p50 = np.array([g["p50_ms"] for g in cells])
            err = (np.array([[g["p50_ms"] - g["ci95_ms"][0], g["ci95_ms"][1] - g["p50_ms"]] for g in cells]).T
                   if all(g.get("ci95_ms") for g in cells) else None)
            ax.errorbar(t, p50, yerr=err, color=f"C{i}", ls=style, marker="o", ms=4, capsize=3,
                        label=f"{r['name']}, XNNPACK {'on' if xnn else 'off'}")
    ax.set_yscale("log")
    ax.set_xticks(sorted({g["threads"] for r in report["models"] for g in r.get("latency_grid", [])}))
    ax.set_xlabel(f"interpreter threads ({report['machine']['cores']} cores on this machine)")
    ax.set_ylabel("p50 latency per example, ms (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7)
    ax.set_title(f"Latency grid, {report['headline']['inputs'] if report.get('headline') else 'eval'} inputs; "
                 f"{report['machine']['cpu']}", fontsize=9)
    fig.tight_layout()
    write_figure(path, fig)


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"
