"""Device mode's settings and the constants of its contracts (benchmark_model, the android_demo app)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from kdedge.errors import ConfigError
from kdedge.options import setting

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


@dataclasses.dataclass
class DeviceConfig:
    """Settings of device mode; each field is a ``kdedge bench`` flag or comes from one."""

    serial: str | None = setting(None, "Device mode: time the models on this Android device (adb serial).",
                                 type=str, flag="--adb")
    adb: str = setting("adb", "Device mode: the adb executable.", flag="--adb-path")
    benchmark_binary: str | None = setting(None, "Device mode: host path of TFLite's benchmark_model built for "
                                           "Android.", type=str)
    app: bool = setting(False, "Device mode: time with the android_demo app's benchmark mode.")
    threads: tuple[int, ...] = setting((1, 2, 4), "Interpreter thread counts (bench's --threads).", cli=False)
    xnnpack: tuple[bool, ...] = setting((True, False), "With and/or without XNNPACK (bench's --xnnpack).", cli=False)
    # >= 200 for a stable p99.
    runs: int = setting(200, "Device mode: timed runs per cell.")
    warmup: int = setting(20, "Untimed runs first (bench's --warmup).", cli=False)
    remote_dir: str = setting("/data/local/tmp/kdedge", "Device mode: device folder for models, inputs and the "
                              "binary.")
    # A whole benchmark run is one adb command.
    timeout_s: float = setting(600.0, "Device mode: seconds per adb command.", flag="--device-timeout")

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
