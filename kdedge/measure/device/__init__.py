"""Device mode of the bench stage: time exported ``.tflite`` files on an Android phone over adb.

    config.py    DeviceConfig (the --adb flags), the contracts' constants
    adb.py       run adb, check the device, read its properties
    parsers.py   benchmark_model's output and the android_demo app's KDEDGE_BENCH line
    run.py       run_device_bench: push, time every (model, threads, XNNPACK), write device.json
"""

from kdedge.errors import DeviceError
from kdedge.measure.device.adb import check_device, parse_adb_devices
from kdedge.measure.device.config import DeviceConfig
from kdedge.measure.device.parsers import parse_app_output, parse_benchmark_model
from kdedge.measure.device.run import input_order, run_device_bench

__all__ = ["DeviceConfig", "DeviceError", "check_device", "input_order", "parse_adb_devices", "parse_app_output",
           "parse_benchmark_model", "run_device_bench"]
