"""Parsers of what the on-device timing tools print: TFLite's ``benchmark_model`` and the app's logcat line."""

from __future__ import annotations

import json
import math
import re

import numpy as np

from kdedge.errors import DeviceError
from kdedge.measure.device.adb import last_line
from kdedge.measure.device.config import APP_LOG_TAG, APP_SCHEMA


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
    found = find_app_line(text, run_id)
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


def find_app_line(text: str, run_id: str | None) -> tuple[bool, dict] | None:
    """``(is_error, payload)`` of the last KDEDGE_BENCH line (of run ``run_id`` if given), or None."""
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
