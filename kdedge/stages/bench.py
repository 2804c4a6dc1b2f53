"""Bench stage: size, accuracy and latency of every exported ``.tflite``, side by side.

Everything is measured on the artifact (:mod:`kdedge.measure`): the label
metrics from running each ``.tflite`` over the labeled eval split
(:mod:`kdedge.measure.quality`); latency one example per call for every
(threads, XNNPACK, inputs) cell of the grid, timed until the median's 95% CI is
tight (:mod:`kdedge.measure.timing`, inputs from :mod:`kdedge.measure.inputs`);
load time, first call and peak memory in a fresh process
(:mod:`kdedge.measure.probe`). With ``--adb SERIAL`` the latency comes from an
Android device instead (:mod:`kdedge.measure.device`), the quality still from
the same files on the host.

Output folder (``kdedge bench --out DIR``)::

    DIR/report.json   machine, models, metrics (schema: kdedge-bench/3, see benchmarks/README.md)
    DIR/report.md     the same as tables
    DIR/report.png    accuracy against latency and size, Pareto fronts marked
    DIR/latency.png   latency against threads, XNNPACK on and off
    DIR/device/       device mode only: the raw on-device run
    DIR/config.json   the resolved BenchConfig (host mode)
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

from kdedge import layout
from kdedge.errors import ConfigError
from kdedge.io import read_json, write_json
from kdedge.measure.timing import TimingPlan
from kdedge.options import comma_ints, comma_list, setting

LATENCY_KEYS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms", "ci95_ms", "ci_rel",
                "runs", "converged", "timing_s", "warmup")
PROBE_KEYS = ("load_ms", "first_inference_ms", "baseline_rss_mb", "peak_rss_mb", "model_rss_mb")


@dataclasses.dataclass
class BenchConfig:
    """Settings of the bench stage; each field is a ``kdedge bench`` flag.

    Latency is measured for every (threads, XNNPACK, inputs) cell of the grid;
    the first cell (``threads[0]``, ``xnnpack[0]``, eval inputs) is each row's headline ``latency``.
    """

    # 1 is what an app usually gets.
    threads: tuple = setting((1, 2, 4), "Comma-separated interpreter thread counts timed; the first is the "
                             "headline.")
    # With LiteRT's default XNNPACK delegate, and without.
    xnnpack: tuple = setting(("on", "off"), "XNNPACK delegate settings timed: on, off or on,off; the first is the "
                             "headline.")
    lengths: tuple = setting((16, "max"), "Fixed token counts timed besides eval texts (max = the model's max "
                             "length).")
    # Allocations, caches, XNNPACK weight packing happen in the first calls.
    warmup: int = setting(20, "Untimed warm-up calls per cell.")
    min_runs: int = setting(200, "Timed calls at least per cell.")  # a p99 from fewer is a guess
    target_ci: float = setting(0.02, "Time until the median's 95% CI is within this fraction of it.")
    time_cap: float = setting(5.0, "Seconds of timing per cell at most (then marked unconverged).")
    probe: bool = setting(True, "Load time, first call and peak RSS in a fresh process per thread setting.")
    # IMDB teacher runs are long.
    max_eval: int | None = setting(None, "Cap the eval examples.", type=int)
    models: tuple = setting((), "Comma-separated model names from the export manifest (default: all).", type=str)
    seed: int = setting(0, "Random seed.", cli=False)  # the shared --seed

    def __post_init__(self):
        self.models = tuple(comma_list(self.models))
        self.threads = tuple(comma_ints(self.threads, "--threads"))
        self.xnnpack = tuple(x.lower() for x in comma_list(self.xnnpack))
        self.lengths = tuple("max" if x == "max" else comma_ints([x], "--lengths")[0]
                             for x in comma_list(self.lengths))

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


def run_bench(export_dir: str | Path, data_dir: str | Path, out: str | Path, cfg: BenchConfig,
              extra: dict | None = None) -> dict:
    """Bench stage: measure every model in ``export_dir``'s manifest; write the report to ``out``.

    Per model: accuracy and the other label metrics from running the ``.tflite`` over
    the eval split; the latency grid; the fresh-process probe; raw and gzip size.
    ``extra`` (e.g. the pipeline's stage timings) is stored under ``report["run"]``.
    """
    from kdedge.measure.machine import machine_info
    from kdedge.measure.quality import ECE_BINS, add_metrics, labeled_eval
    from kdedge.measure.report import SCHEMA, write_report

    cfg.validate()
    export_dir = layout.require(export_dir, "export", layout.MANIFEST, layout.CONFIG)
    data_dir = layout.require(data_dir, "data", layout.EVAL)
    manifest = read_json(export_dir / layout.MANIFEST)
    entries = selected_models(manifest, cfg.models, export_dir)
    from kdedge.untrusted import check_model
    for entry in entries:  # each file runs once in a child first: one that crashes LiteRT is refused
        check_model(export_dir / entry["file"])
    texts, gold, label_names = labeled_eval(data_dir, cfg.max_eval, cfg.seed)
    rows, logits_of = [], {}
    for entry in entries:
        row, logits_of[entry["name"]] = measure_model(export_dir, entry, texts, manifest["max_len"], cfg)
        rows.append(row)
    add_metrics(rows, logits_of, gold, len(label_names) if label_names else None)
    test = test_split_metrics(export_dir, data_dir, entries, rows, manifest["max_len"],
                              len(label_names) if label_names else None)
    head_threads, head_xnn = cfg.cells()[0]
    report = {"schema": SCHEMA, "machine": machine_info(cfg.threads), "config": dataclasses.asdict(cfg),
              "eval": {"split": str(data_dir / layout.EVAL), "examples": int(len(gold)),
                       "label_names": label_names, "ece_bins": ECE_BINS},
              "headline": {"threads": head_threads, "xnnpack": head_xnn, "inputs": "eval"},
              "models": rows, "run": extra or {}}
    if test is not None:
        report["test"] = test
    out = Path(out)
    write_report(report, out)
    write_json(out / layout.CONFIG, {**dataclasses.asdict(cfg), "export": str(export_dir), "data": str(data_dir)})
    return report


def test_split_metrics(export_dir: Path, data_dir: Path, entries: list[dict], rows: list[dict], max_len: int,
                       num_labels: int | None) -> dict | None:
    """Label metrics on the data folder's second eval split (``test.jsonl``; SST-2: the treebank's test
    sentences), from each ``.tflite`` run over it; each row gets ``row["test"]``. None without the split."""
    from kdedge.data import Split
    from kdedge.measure.metrics import classification_metrics
    from kdedge.measure.quality import ECE_BINS, artifact_logits

    path = Path(data_dir) / layout.TEST
    if not path.is_file():
        return None
    split = Split.from_jsonl(path, "test")
    keep = split.labels >= 0
    texts, gold = [t for t, k in zip(split.texts, keep) if k], split.labels[keep]
    logits = {e["name"]: artifact_logits(export_dir, e, texts, max_len) for e in entries}
    k = max([num_labels or 0, int(gold.max()) + 1] + [z.shape[1] for z in logits.values()])
    teacher = next((r["name"] for r in rows if r["kind"] == "teacher"), None)
    reference = logits[teacher].argmax(1) if teacher else None
    for row in rows:
        m = classification_metrics(logits[row["name"]], gold, k, reference_pred=reference, bins=ECE_BINS)
        row["test"] = {key: m.get(key) for key in ("accuracy", "macro_f1", "ece", "agreement", "confusion")}
    return {"split": str(path), "examples": int(len(gold))}


def selected_models(manifest: dict, names: tuple, export_dir: Path) -> list[dict]:
    """The manifest entries named by ``--models`` (all when empty), in manifest order."""
    if not names:
        return layout.manifest_models(export_dir, manifest["models"])
    known = [e["name"] for e in manifest["models"]]
    unknown = [m for m in names if m not in known]
    if unknown:
        raise ConfigError(f"--models {','.join(unknown)}: not in {export_dir}/{layout.MANIFEST} ({', '.join(known)})")
    return layout.manifest_models(export_dir, [e for e in manifest["models"] if e["name"] in names])


def measure_model(export_dir: Path, entry: dict, texts: list[str], max_len: int, cfg: BenchConfig):
    """One model's report row (without the label metrics) and its eval logits."""
    from kdedge.measure.inputs import as_feeds, input_sets
    from kdedge.measure.probe import probe
    from kdedge.measure.quality import artifact_logits
    from kdedge.measure.timing import time_invocations
    from kdedge.progress import progress
    from kdedge.runtime import TFLiteModel

    (head_threads, head_xnn), cells, plan = cfg.cells()[0], cfg.cells(), cfg.timing_plan()
    path = export_dir / entry["file"]
    content = path.read_bytes()
    logits = artifact_logits(export_dir, entry, texts, max_len, head_threads, head_xnn)
    sets = input_sets(export_dir, entry, texts, max_len, cfg.lengths, seed=cfg.seed)
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
    row = {"name": entry["name"], "kind": entry["kind"], "quantization": entry["quantization"],
           "file": entry["file"], "bytes": len(content),
           "gzip_bytes": len(gzip.compress(content, compresslevel=9, mtime=0)),
           "sha256": hashlib.sha256(content).hexdigest(),  # of the bytes measured, not copied from the manifest
           **{k: head.get(k) for k in PROBE_KEYS},
           "latency": {k: head[k] for k in LATENCY_KEYS}, "latency_grid": grid}
    return row, logits


def run_device_report(export_dir: str | Path, data_dir: str | Path, out: str | Path, cfg: BenchConfig,
                      device_cfg) -> dict:
    """Device mode: latency on an Android device (:func:`kdedge.measure.device.run_device_bench`), quality on
    the host.

    The device grid comes from ``benchmark_model`` or the android_demo app (raw outputs
    under ``out/device/``); accuracy and the other label metrics come from running the
    same ``.tflite`` files (same sha256) with LiteRT on the host: the eval split does
    not need to travel, and the arithmetic is the same kernels'. Written as a
    ``kdedge-bench/3`` report with ``platform: "android"``, so ``kdedge bench compare``
    and the plots work on it.
    """
    from kdedge.measure.device import run_device_bench
    from kdedge.measure.machine import machine_info
    from kdedge.measure.quality import ECE_BINS, add_metrics, artifact_logits, labeled_eval
    from kdedge.measure.report import SCHEMA, write_report

    cfg.validate()
    export_dir, out = Path(export_dir), Path(out)
    device = run_device_bench(export_dir, data_dir, out / layout.DEVICE, device_cfg)
    manifest = read_json(export_dir / layout.MANIFEST)
    entries = {e["name"]: e for e in manifest["models"]}
    texts, gold, label_names = labeled_eval(Path(data_dir), cfg.max_eval, cfg.seed)
    rows, logits_of = [], {}
    for d in device["models"]:
        entry = entries[d["name"]]
        logits_of[d["name"]] = artifact_logits(export_dir, entry, texts, manifest["max_len"])
        rows.append(device_row(d, (export_dir / entry["file"]).read_bytes()))
    add_metrics(rows, logits_of, gold, len(label_names) if label_names else None)
    grid = device["models"][0]["latency_grid"]  # every model has the same cells; the first is the headline
    report = {"schema": SCHEMA, "platform": "android", "machine": device_machine(machine_info(device_cfg.threads),
                                                                                   device),
              "config": {**dataclasses.asdict(cfg), "device": device["config"]},
              "eval": {"split": str(Path(data_dir) / layout.EVAL), "examples": int(len(gold)),
                       "label_names": label_names, "ece_bins": ECE_BINS, "metrics_from": "host LiteRT, same files"},
              "headline": {"threads": grid[0]["threads"], "xnnpack": grid[0]["xnnpack"], "inputs": grid[0]["inputs"]},
              "models": rows, "run": {"device_report": f"{layout.DEVICE}/device.json"}}
    write_report(report, out)
    return report


def device_row(d: dict, content: bytes) -> dict:
    """A report row from one model of the device run (``d``) and its file's bytes."""
    grid = d["latency_grid"]
    return ({k: d[k] for k in ("name", "kind", "quantization", "file", "bytes", "sha256")}
            | {"gzip_bytes": len(gzip.compress(content, compresslevel=9, mtime=0)),
               "load_ms": grid[0].get("init_ms"), "first_inference_ms": grid[0].get("first_inference_ms"),
               "peak_memory_mb": grid[0].get("peak_memory_mb"), "device_input": d.get("input"),
               "latency": {k: v for k, v in grid[0].items() if k != "raw"},
               "latency_grid": [{k: v for k, v in g.items() if k != "raw"} for g in grid]})


def device_machine(host: dict, device: dict) -> dict:
    """The report's manifest in device mode: the phone, the timing tool, and the host that scored quality."""
    dev = device["device"]
    return {**host, "platform": "android", "host_cpu": host["cpu"],
            "cpu": " ".join(str(dev.get(k)) for k in ("manufacturer", "model") if dev.get(k))
            + (f", SoC {dev['soc']}" if dev.get("soc") else "") + (f", {dev['abi']}" if dev.get("abi") else ""),
            "cores": dev.get("cores", "?"), "os": f"Android {dev.get('android')} (SDK {dev.get('sdk')})",
            "device": dev, "tool": device["tool"], "tool_path": device["tool_path"]}
