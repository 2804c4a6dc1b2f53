"""adb: run it, list devices, check that the one asked for is there, read its properties."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from kdedge.errors import DeviceError
from kdedge.measure.device.config import DEVICE_PROPS, DeviceConfig


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
