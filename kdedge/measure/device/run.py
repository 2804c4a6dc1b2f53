"""Bench stage, device mode: latency of every exported ``.tflite`` on an Android phone over adb.

The run itself; settings in :mod:`.config`, adb in :mod:`.adb`, the tools' outputs in :mod:`.parsers`.

Two tools can do the timing on the device:

- TensorFlow Lite's official ``benchmark_model`` binary (``--benchmark-binary PATH``, an
  Android build on this machine): pushed to the device and run once per model, thread
  count and XNNPACK setting, fed a real tokenized eval text through
  ``--input_layer_value_files``. It prints microseconds; p50 is its ``median=``, printed
  only by LiteRT-era builds (``StatWithPercentiles``: nearest rank, ``sorted[n // 2]``, not
  interpolated); no version prints p90 / p99, so those stay None.
- The android_demo app's benchmark mode (``--app``); its output contract is in
  ``android_demo/README.md`` ("Benchmark mode"): one ``KDEDGE_BENCH {json}`` logcat line
  per run with every latency, from which p50 / p90 / p99 are computed here.

The input is the eval text whose token count (for that model's tokenizer) is the median
of the eval split, as raw little-endian int32 ``[1, max_len]`` per model input.

Output folder::

    DIR/device.json                       the report (schema kdedge-device-bench/1, below)
    DIR/raw/<model>_t<threads>_x<0|1>.txt  the tool's raw output of each run
    DIR/inputs/<model>.<input>.bin         the input tensors pushed to the device

``device.json``: ``schema``, ``platform`` ("android"), ``device`` (``getprop``: manufacturer,
model, sdk, android, abi, soc, board, fingerprint, serial), ``tool`` ("benchmark_model" or
"app"), ``tool_path``, ``config`` (the DeviceConfig), ``eval``, and ``models``: one row per
``.tflite`` with ``name``, ``kind``, ``quantization``, ``file``, ``bytes``, ``sha256``,
``input`` (which eval text, its token count, the input order) and ``latency_grid``: one cell
per (``threads``, ``xnnpack``) with ``inputs`` ("eval-median"), ``p50_ms``, ``p90_ms``,
``p95_ms``, ``p99_ms`` (None where the tool does not give them), ``mean_ms``, ``std_ms``,
``min_ms``, ``max_ms``, ``runs`` (as the tool counted them), ``init_ms``,
``first_inference_ms``, ``peak_memory_mb``, ``raw_file`` and ``raw`` (everything the parser read).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import time
import uuid
from pathlib import Path

import numpy as np

from kdedge import layout
from kdedge.errors import DeviceError
from kdedge.io import read_json, write_bytes, write_json, write_text
from kdedge.measure.device.adb import check_device, device_properties, last_line, run_adb
from kdedge.measure.device.config import APP_ACTIVITY, APP_LOG_TAG, APP_PACKAGE, SCHEMA, DeviceConfig
from kdedge.measure.device.parsers import find_app_line, parse_app_output, parse_benchmark_model


def run_device_bench(export_dir: str | Path, data_dir: str | Path, out: str | Path, cfg: DeviceConfig) -> dict:
    """Device mode of the bench stage: time every model of ``export_dir`` on ``cfg.serial``.

    Pushes the models, one eval-median input per model (and the benchmark binary) to
    ``cfg.remote_dir``, runs the tool once per (model, threads, xnnpack), and writes
    ``out/device.json``, ``out/raw/`` and ``out/inputs/`` (see the module docstring).
    Nothing on the host is modified; the device keeps the pushed files.

    Returns:
        The report: ``schema``, ``platform``, ``device``, ``tool``, ``config``,
        ``eval``, and ``models`` rows with a ``latency_grid`` (see the module docstring).

    Raises:
        ConfigError: a bad setting. DeviceError: adb, the device or the tool failed.
    """
    from kdedge.data import Split
    from kdedge.measure.inputs import model_feeds

    cfg.validate()
    export_dir = layout.require(export_dir, "export", layout.MANIFEST)
    data_dir = layout.require(data_dir, "data", layout.EVAL)
    manifest = read_json(export_dir / layout.MANIFEST)
    texts = Split.from_jsonl(data_dir / layout.EVAL, "eval").texts
    out = Path(out)
    check_device(cfg)
    device = device_properties(cfg)
    remote = cfg.remote_dir.rstrip("/")
    run_adb(cfg, ["shell", f"mkdir -p {remote}/models {remote}/inputs"])
    if cfg.benchmark_binary:
        run_adb(cfg, ["push", str(cfg.benchmark_binary), f"{remote}/benchmark_model"])
        run_adb(cfg, ["shell", f"chmod 755 {remote}/benchmark_model"])

    rows = []
    for entry in manifest["models"]:
        path = export_dir / entry["file"]
        feeds = model_feeds(export_dir, entry, texts, manifest["max_len"])
        lengths = np.array([int(np.count_nonzero(f["input_ids"])) for f in feeds])
        pick = int(np.argsort(lengths, kind="stable")[(len(lengths) - 1) // 2])
        names = input_order(path, {n: a.shape for n, a in feeds[pick].items()})
        inputs = {}  # in the model's input order: name -> (device path, shape)
        for name in names:
            local = out / "inputs" / f"{entry['name']}.{name}.bin"
            write_bytes(local, np.ascontiguousarray(feeds[pick][name], dtype="<i4").tobytes())
            inputs[name] = (f"{remote}/inputs/{local.name}", feeds[pick][name].shape)
            run_adb(cfg, ["push", str(local), inputs[name][0]])
        remote_model = f"{remote}/models/{entry['file']}"
        run_adb(cfg, ["push", str(path), remote_model])
        grid = []
        for threads in cfg.threads:
            for xnnpack in cfg.xnnpack:
                raw_path = out / "raw" / f"{entry['name']}_t{threads}_x{int(xnnpack)}.txt"
                parsed = _time(cfg, entry, remote_model, inputs, threads, xnnpack, raw_path)
                grid.append({"threads": threads, "xnnpack": xnnpack, "inputs": "eval-median",
                             **{k: parsed.get(k) for k in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms",
                                                           "std_ms", "min_ms", "max_ms", "runs", "init_ms",
                                                           "first_inference_ms", "peak_memory_mb")},
                             "raw_file": str(raw_path.relative_to(out)), "raw": parsed})
        rows.append({"name": entry["name"], "kind": entry["kind"], "quantization": entry["quantization"],
                     "file": entry["file"], "bytes": path.stat().st_size, "sha256": entry["sha256"],
                     "input": {"eval_index": pick, "tokens": int(lengths[pick]), "order": names,
                               "shape": [int(d) for d in feeds[pick][names[0]].shape]},
                     "latency_grid": grid})

    report = {"schema": SCHEMA, "platform": "android", "device": device,
              "tool": "app" if cfg.app else "benchmark_model",
              "tool_path": APP_PACKAGE if cfg.app else str(cfg.benchmark_binary),
              "config": dataclasses.asdict(cfg),
              "eval": {"split": str(data_dir / layout.EVAL), "texts": len(texts),
                       "inputs": "eval-median: per model, the eval text of median token count"},
              "models": rows}
    write_json(out / "device.json", report)
    return report


def input_order(model_path: Path, shapes: dict[str, tuple]) -> list[str]:
    """The input names of ``shapes`` in the model's input order (benchmark_model matches by position).

    The TFLite converter orders signature inputs by name (TF 2.21, converting like
    ``converters.hf_bert_to_tflite``): the teacher takes ``attention_mask`` first although
    the manifest lists ``input_ids`` first.

    Raises:
        DeviceError: the model's inputs do not match ``shapes`` (names or shapes).
    """
    from kdedge.runtime import TFLiteModel

    order = []
    for tensor, detail in TFLiteModel(model_path).inputs.items():
        match = [n for n in shapes if n in tensor]
        if len(match) != 1 or tuple(int(d) for d in detail["shape"]) != tuple(shapes[match[0]]):
            raise DeviceError(f"{model_path}: input {tensor} {list(detail['shape'])} does not match the "
                              f"manifest's inputs {({n: list(s) for n, s in shapes.items()})}")
        order += match
    if sorted(order) != sorted(shapes):
        raise DeviceError(f"{model_path}: inputs {order} do not match the manifest's {list(shapes)}")
    return order


def _time(cfg: DeviceConfig, entry: dict, model: str, inputs: dict[str, tuple[str, tuple]], threads: int,
          xnnpack: bool, raw_path: Path) -> dict:
    """One run of the tool on the device; its parsed output, checked against what was asked."""
    if cfg.app:
        parsed = _run_app(cfg, model, inputs["input_ids"][0], threads, xnnpack, raw_path)
        if parsed["model_sha256"] != entry["sha256"]:
            raise DeviceError(f"the app ran a model with sha256 {parsed['model_sha256']}, not {entry['file']} "
                              f"({entry['sha256']}); see {raw_path}")
    else:
        argv = [f"{cfg.remote_dir.rstrip('/')}/benchmark_model", f"--graph={model}", f"--num_threads={threads}",
                f"--use_xnnpack={str(xnnpack).lower()}", f"--num_runs={cfg.runs}", f"--warmup_runs={cfg.warmup}",
                "--min_secs=0", "--warmup_min_secs=0",  # exactly --runs / --warmup runs, not "at least 1 s"
                # benchmark_model matches these to the model's inputs by position; the names only label them.
                f"--input_layer={','.join(inputs)}",
                "--input_layer_shape=" + ":".join(",".join(str(d) for d in shape) for _, shape in inputs.values()),
                "--input_layer_value_files=" + ",".join(f"{n}:{path}" for n, (path, _) in inputs.items())]
        parsed = _run_benchmark_model(cfg, argv, raw_path)
    for key, want in (("num_threads", threads), ("use_xnnpack", xnnpack)):
        if parsed[key] is not None and parsed[key] != want:
            raise DeviceError(f"{entry['name']} ran with {key}={parsed[key]}, not {want} (see {raw_path})")
    return parsed


def _run_benchmark_model(cfg: DeviceConfig, argv: list[str], raw_path: Path) -> dict:
    rc, output = run_adb(cfg, ["shell", shlex.join(argv)], check=False)
    write_text(raw_path, f"$ adb -s {cfg.serial} shell {shlex.join(argv)}\n{output}")
    if rc != 0:
        raise DeviceError(f"benchmark_model exited with status {rc}: {last_line(output)} (full output: {raw_path})")
    parsed = parse_benchmark_model(output)
    if parsed["unconsumed_flags"]:
        raise DeviceError(f"benchmark_model ignored {' '.join(parsed['unconsumed_flags'])}: the binary is too old "
                          f"for these flags (see {raw_path})")
    return parsed


def _run_app(cfg: DeviceConfig, model: str, inputs: str, threads: int, xnnpack: bool, raw_path: Path) -> dict:
    run_id = f"{Path(model).stem}-t{threads}-x{int(xnnpack)}-{uuid.uuid4().hex[:8]}"
    run_adb(cfg, ["logcat", "-c"])
    start = ["am", "start", "-W", "-n", f"{APP_PACKAGE}/{APP_ACTIVITY}", "--es", "model", model, "--es", "inputs",
             inputs, "--ei", "threads", str(threads), "--ez", "xnnpack", str(xnnpack).lower(), "--ei", "runs",
             str(cfg.runs), "--ei", "warmup", str(cfg.warmup), "--es", "run_id", run_id]
    _, started = run_adb(cfg, ["shell", shlex.join(start)])
    if re.search(r"^Error", started, re.M):  # `am start` exits 0 even when the activity does not exist
        raise DeviceError(f"could not start {APP_PACKAGE}{APP_ACTIVITY} (is the android_demo app installed?): "
                          f"{last_line(started)}")
    deadline = time.monotonic() + cfg.timeout_s
    while True:
        _, log = run_adb(cfg, ["logcat", "-d", "-s", f"{APP_LOG_TAG}:I"])
        done = find_app_line(log, run_id) is not None
        if done or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    write_text(raw_path, f"$ adb -s {cfg.serial} shell {shlex.join(start)}\n{started}\n$ adb -s {cfg.serial} "
                         f"logcat -d -s {APP_LOG_TAG}:I\n{log}")
    if not done:
        raise DeviceError(f"the app logged no result for run {run_id} within {cfg.timeout_s:g} s "
                          f"(--device-timeout); logcat in {raw_path}")
    return parse_app_output(log, run_id)
