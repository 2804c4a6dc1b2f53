"""Bench stage, device mode: latency of every exported ``.tflite`` on an Android phone over adb.

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
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np

from kdedge.errors import ConfigError, KdedgeError
from kdedge.io import read_json, require_files, write_bytes, write_json, write_text

SCHEMA = "kdedge-device-bench/1"
APP_SCHEMA = "kdedge-device/1"  # of the app's KDEDGE_BENCH lines
APP_PACKAGE = "dev.kdedge.demo"
APP_ACTIVITY = ".BenchmarkActivity"
APP_LOG_TAG = "kdedge-bench"
APP_MAX_RUNS = 400  # every latency goes on one logcat line, which Android cuts at ~4 KB
DEVICE_PROPS = {"manufacturer": "ro.product.manufacturer", "model": "ro.product.model",
                "sdk": "ro.build.version.sdk", "android": "ro.build.version.release",
                "abi": "ro.product.cpu.abi", "soc": "ro.soc.model", "board": "ro.board.platform",
                "fingerprint": "ro.build.fingerprint"}


class DeviceError(KdedgeError):
    """adb, the device or the on-device tool failed; the message says which and how."""


@dataclasses.dataclass
class DeviceConfig:
    """Settings of device mode; each field is a ``kdedge bench`` flag."""

    serial: str  # --adb: the device serial, as `adb devices` lists it
    adb: str = "adb"  # --adb-path: the adb executable
    benchmark_binary: str | None = None  # --benchmark-binary: a benchmark_model built for Android (host path)
    app: bool = False  # --app: time with the android_demo app's benchmark mode instead
    threads: tuple[int, ...] = (1, 2, 4)  # --threads: comma-separated interpreter thread counts
    xnnpack: tuple[bool, ...] = (True, False)  # --xnnpack: with and/or without the XNNPACK delegate
    runs: int = 200  # --runs: timed runs per (model, threads, xnnpack); >= 200 for a stable p99
    warmup: int = 20  # --warmup: untimed runs first
    remote_dir: str = "/data/local/tmp/kdedge"  # --remote-dir: device folder for models, inputs and the binary
    timeout_s: float = 600.0  # --device-timeout: seconds per adb command (a whole benchmark run)

    def validate(self) -> None:
        if not self.serial:
            raise ConfigError("--adb needs the device serial (see `adb devices`)")
        if bool(self.benchmark_binary) == bool(self.app):
            raise ConfigError("device mode needs exactly one of --benchmark-binary PATH (benchmark_model built "
                              "for Android) and --app (the android_demo app's benchmark mode)")
        if self.benchmark_binary and not Path(self.benchmark_binary).is_file():
            raise ConfigError(f"--benchmark-binary {self.benchmark_binary}: file not found")
        if not self.threads or any(int(t) < 1 for t in self.threads):
            raise ConfigError(f"--threads must be thread counts >= 1, got {list(self.threads)}")
        if not self.xnnpack:
            raise ConfigError("--xnnpack needs at least one of true, false")
        if self.runs < 1:
            raise ConfigError(f"--runs must be >= 1, got {self.runs}")
        if self.app and self.runs > APP_MAX_RUNS:
            raise ConfigError(f"--runs must be <= {APP_MAX_RUNS} with --app (one logcat line holds every "
                              f"latency), got {self.runs}")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be >= 0, got {self.warmup}")
        # benchmark_model splits --input_layer_value_files on ',' and ':'.
        if not self.remote_dir.startswith("/") or re.search(r"[\s,:]", self.remote_dir):
            raise ConfigError(f"--remote-dir must be an absolute device path without spaces, ',' or ':', "
                              f"got {self.remote_dir!r}")
        if self.timeout_s <= 0:
            raise ConfigError(f"--device-timeout must be > 0, got {self.timeout_s}")


# -- adb -------------------------------------------------------------------------------------------

def run_adb(cfg: DeviceConfig, args: list[str], serial: bool = True, check: bool = True,
            timeout: float | None = None) -> tuple[int, str]:
    """Run ``adb [-s SERIAL] ARGS``; return the exit status and stdout+stderr.

    Raises:
        DeviceError: adb is missing, timed out, or (with ``check``) exited non-zero.
    """
    argv = [cfg.adb, *(["-s", cfg.serial] if serial else []), *args]
    hint = "" if timeout else " (--device-timeout)"
    timeout = timeout or cfg.timeout_s
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", timeout=timeout)
    except FileNotFoundError:
        raise DeviceError(f"adb not found ({cfg.adb}): install Android platform-tools or pass --adb-path") from None
    except OSError as e:
        raise DeviceError(f"cannot run adb ({cfg.adb}): {e.strerror} (pass --adb-path)") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"`adb {' '.join(args)}` timed out after {timeout:g} s{hint}") from None
    output = proc.stdout.replace("\r\n", "\n")
    if check and proc.returncode != 0:
        raise DeviceError(f"`adb {' '.join(args)}` failed (exit {proc.returncode}): {last_line(output)}")
    return proc.returncode, output


def parse_adb_devices(text: str) -> dict[str, str]:
    """``{serial: state}`` from ``adb devices`` output (states: device, unauthorized, offline, ...)."""
    devices = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("*") or line.startswith("List of devices"):
            continue
        serial, _, state = line.replace("\t", " ").partition(" ")
        devices[serial] = state.strip() or "unknown"
    return devices


def check_device(cfg: DeviceConfig) -> None:
    """Check that adb runs and ``cfg.serial`` is connected, authorized and online.

    Raises:
        DeviceError: one line naming the problem and the devices adb sees.
    """
    if os.sep in cfg.adb:
        if not os.access(cfg.adb, os.X_OK):
            raise DeviceError(f"adb not found ({cfg.adb}): install Android platform-tools or pass --adb-path")
    elif shutil.which(cfg.adb) is None:
        raise DeviceError(f"adb not found ({cfg.adb} is not on PATH): install Android platform-tools "
                          "or pass --adb-path")
    devices = parse_adb_devices(run_adb(cfg, ["devices"], serial=False, timeout=60)[1])
    seen = ", ".join(f"{s} ({state})" for s, state in devices.items()) or "none"
    state = devices.get(cfg.serial)
    if state is None:
        raise DeviceError(f"device {cfg.serial} not connected; adb sees: {seen}")
    if state != "device":
        hint = {"unauthorized": "accept the USB debugging prompt on the phone",
                "offline": "reconnect it, or run `adb kill-server`"}.get(state, "it must be in state 'device'")
        raise DeviceError(f"device {cfg.serial} is {state}: {hint} (adb sees: {seen})")


def device_properties(cfg: DeviceConfig) -> dict:
    """Manufacturer, model, SDK level, ABI, ... from ``adb shell getprop``."""
    props = dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]$", run_adb(cfg, ["shell", "getprop"], timeout=60)[1], re.M))
    return {"serial": cfg.serial, **{key: props.get(prop) or None for key, prop in DEVICE_PROPS.items()}}


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


# -- parsers ---------------------------------------------------------------------------------------

_NUM = r"[-+]?(?:nan|inf|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
_SUMMARY = re.compile(rf"Inference timings in us: Init: ({_NUM}), First inference: ({_NUM}), "
                      rf"Warmup \(avg\): ({_NUM}), Inference \(avg\): ({_NUM})")
_SUMMARY_OLD = re.compile(rf"Average inference timings in us: Warmup: ({_NUM}), Init: ({_NUM}), "
                          rf"(?:no stats|Inference): ({_NUM})")  # 2019-era builds
_STAT = re.compile(r"(?:^|\s|:)count=\d")
# "Peak memory footprint" up to TF 2.4 at least, "Memory footprint delta ..." later; both are deltas
# of the process's memory since the tool started.
_MEMORY = re.compile(rf"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
                     rf"init=({_NUM}) overall=({_NUM})")
_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUM})")


def parse_benchmark_model(text: str) -> dict:
    """Timings (ms) and settings from the output of TFLite's ``benchmark_model``.

    Reads stdout or logcat of every format seen since TF 1.x: log prefixes (``INFO:``,
    ``I tflite  :``) are ignored. Missing values are None: ``p5_ms`` / ``p50_ms`` /
    ``p95_ms`` need a LiteRT-era binary, ``num_threads`` / ``use_xnnpack`` the
    parameter echo, ``peak_memory_mb`` the memory line (the periodic-monitoring
    peak when ``--report_peak_memory_footprint`` was on, else the overall max-RSS
    delta).

    Raises:
        DeviceError: the text holds no inference timings (the tool failed); the
            message quotes its last line.
    """
    lines = text.splitlines()
    at, summary = next(((i, m) for i, line in enumerate(lines) if (m := _SUMMARY.search(line))), (None, None))
    if summary is not None:
        init_us, first_us, warmup_us, mean_us = (float(g) for g in summary.groups())
    else:
        at, summary = next(((i, m) for i, line in enumerate(lines) if (m := _SUMMARY_OLD.search(line))),
                           (None, None))
        if summary is None:
            raise DeviceError(f"benchmark_model printed no inference timings; its last line: {last_line(text)}")
        warmup_us, init_us, mean_us = (float(g) for g in summary.groups())
        first_us = None
    if math.isnan(warmup_us):  # no warm-up run: "First inference" is then a placeholder 0
        first_us = None
    # The last stat line before the summary is the timed runs, the one before it the warm-up;
    # the op profiler's "Timings (microseconds): count=..." lines are not run stats.
    stats = [_stat(line) for line in lines[:at] if _STAT.search(line) and "(microseconds)" not in line
             and "(bytes)" not in line]
    timed = stats[-1] if stats else {}
    if first_us is None and len(stats) >= 2:
        first_us = stats[-2].get("first")
    memory = next((m for line in lines if (m := _MEMORY.search(line))), None)
    peak = next((m for line in lines if (m := _PEAK.search(line))), None)
    threads = _echo(text, r"Num threads") or _echo(text, r"#threads used for CPU inference")
    xnnpack = _echo(text, r"Use xnnpack")
    unconsumed = re.search(r"Unconsumed cmdline flags: (.*)", text)

    def ms(us):
        return None if us is None or math.isnan(us) else us / 1000.0
    return {"init_ms": ms(init_us), "first_inference_ms": ms(first_us), "warmup_mean_ms": ms(warmup_us),
            "mean_ms": ms(mean_us), "std_ms": ms(timed.get("std")), "min_ms": ms(timed.get("min")),
            "max_ms": ms(timed.get("max")), "runs": int(timed["count"]) if timed else None,
            "p5_ms": ms(timed.get("p5")), "p50_ms": ms(timed.get("median")), "p95_ms": ms(timed.get("p95")),
            "memory_init_mb": float(memory.group(1)) if memory else None,
            "memory_overall_mb": float(memory.group(2)) if memory else None,
            "peak_memory_mb": float(peak.group(1)) if peak else (float(memory.group(2)) if memory else None),
            "num_threads": int(threads) if threads is not None else None,
            "use_xnnpack": bool(int(xnnpack)) if xnnpack is not None else None,
            "unconsumed_flags": unconsumed.group(1).split() if unconsumed else []}


def _stat(line: str) -> dict:
    """``count=50 first=... avg=... std=... [p5=... median=... p95=...]`` as numbers (microseconds)."""
    stat = {k: float(v) for k, v in re.findall(rf"\b(count|first|curr|min|max|avg|std|p5|median|p95)=({_NUM})",
                                                line)}
    if "avg" not in stat and "curr" in stat:  # "count=N curr=X": every run took X us (tsl Stat::all_same)
        stat.update(first=stat.get("first", stat["curr"]), min=stat["curr"], max=stat["curr"],
                    avg=stat["curr"], std=0.0)
    return stat


def _echo(text: str, name: str) -> str | None:
    """The value of a ``Name: [value]`` parameter echo line (``Use xnnpack : [0]`` in old versions)."""
    m = re.search(rf"{name}\s*:\s*\[(\d+)\]", text)
    return m.group(1) if m else None


_APP_LINE = re.compile(r"KDEDGE_BENCH(_ERROR)? (\{.*\})\s*$")


def parse_app_output(text: str, run_id: str | None = None) -> dict:
    """Latency summary (ms) from the android_demo app's ``KDEDGE_BENCH`` logcat line.

    Other logcat lines are ignored. With ``run_id``, only that run's line counts; otherwise
    the last one. p50 / p90 / p99 are linear-interpolated percentiles of ``latencies_us``
    (``np.percentile``), ``std_ms`` the sample standard deviation (ddof 1, as the host bench;
    benchmark_model's ``std=`` is the population one).

    Raises:
        DeviceError: no such line, the app reported ``KDEDGE_BENCH_ERROR``, or the
            line breaks the contract (schema, fields).
    """
    found = _app_line(text, run_id)
    if found is None:
        raise DeviceError(f"no {APP_LOG_TAG} KDEDGE_BENCH line{f' for run {run_id}' if run_id else ''} in the "
                          f"logcat output; its last line: {last_line(text)}")
    error, payload = found
    if error:
        raise DeviceError(f"the app's benchmark failed: {payload.get('error', payload)}")
    if payload.get("schema") != APP_SCHEMA:
        raise DeviceError(f"KDEDGE_BENCH line has schema {payload.get('schema')!r}, expected {APP_SCHEMA!r}")
    try:
        us = np.asarray(payload["latencies_us"], dtype=np.float64)
        if us.ndim != 1 or us.size == 0:
            raise ValueError("latencies_us must be a non-empty list")
        ms = us / 1000.0
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return {"schema": APP_SCHEMA, "run_id": payload.get("run_id"), "init_ms": payload["init_us"] / 1000.0,
                "first_inference_ms": payload["first_us"] / 1000.0, "warmup_mean_ms": None,
                "mean_ms": float(ms.mean()), "std_ms": float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
                "min_ms": float(ms.min()), "max_ms": float(ms.max()), "runs": int(ms.size), "p50_ms": float(p50),
                "p90_ms": float(p90), "p99_ms": float(p99), "peak_memory_mb": None,
                "num_threads": int(payload["threads"]), "use_xnnpack": bool(payload["xnnpack"]),
                "model_sha256": payload["model_sha256"], "device": payload.get("device")}
    except (KeyError, TypeError, ValueError) as e:
        raise DeviceError(f"KDEDGE_BENCH line breaks the contract in android_demo/README.md: {e!r}") from None


def _app_line(text: str, run_id: str | None) -> tuple[bool, dict] | None:
    found = None
    for line in text.splitlines():
        m = _APP_LINE.search(line)
        if not m:
            continue
        try:
            payload = json.loads(m.group(2))
        except json.JSONDecodeError:
            raise DeviceError(f"KDEDGE_BENCH line is not valid JSON: {line.strip()[:200]}") from None
        if run_id is None or payload.get("run_id") == run_id:
            found = (bool(m.group(1)), payload)
    return found


# -- the run ---------------------------------------------------------------------------------------

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
    from kdedge.bench import model_feeds
    from kdedge.data import Split

    cfg.validate()
    export_dir = require_files(export_dir, ["manifest.json"], "kdedge export")
    data_dir = require_files(data_dir, ["eval.jsonl"], "kdedge data")
    manifest = read_json(export_dir / "manifest.json")
    texts = Split.from_jsonl(data_dir / "eval.jsonl", "eval").texts
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
              "eval": {"split": str(data_dir / "eval.jsonl"), "texts": len(texts),
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
        done = _app_line(log, run_id) is not None
        if done or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    write_text(raw_path, f"$ adb -s {cfg.serial} shell {shlex.join(start)}\n{started}\n$ adb -s {cfg.serial} "
                         f"logcat -d -s {APP_LOG_TAG}:I\n{log}")
    if not done:
        raise DeviceError(f"the app logged no result for run {run_id} within {cfg.timeout_s:g} s "
                          f"(--device-timeout); logcat in {raw_path}")
    return parse_app_output(log, run_id)
