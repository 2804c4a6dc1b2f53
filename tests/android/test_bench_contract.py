"""Both ends of the app benchmark contract against its one definition, android_demo/bench/contract.json.

The Java formatter (android_demo/bench, what BenchmarkActivity logs) writes real lines in its JUnit
test; ``kdedge bench --adb --app``'s own parser reads them here. kdedge's constants, the hand-written
logcat fixture and the app's manifest are checked against the same file.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from kdedge.errors import DeviceError
from kdedge.measure.device import config
from kdedge.measure.device.parsers import find_app_line, parse_app_output
from tests.android.jvm import ANDROID_DEMO, compile_module, run_junit

CONTRACT = json.loads((ANDROID_DEMO / "bench" / "contract.json").read_text(encoding="utf-8"))
FIXTURE = ANDROID_DEMO.parent / "tests" / "fixtures" / "device" / "app_logcat_fixture.txt"
TYPES = {"string": str, "int": int, "bool": bool}


def _check_fields(payload: dict, fields: dict, where: str) -> None:
    """``payload`` has exactly ``fields``, in that order, of those types."""
    assert list(payload) == list(fields), f"{where}: fields {list(payload)} != contract {list(fields)}"
    for name, kind in fields.items():
        value = payload[name]
        if isinstance(kind, dict):
            _check_fields(value, kind, f"{where}.{name}")
        elif kind == "int[]":
            assert isinstance(value, list) and all(type(v) is int for v in value), f"{where}.{name}"
        else:
            assert type(value) is TYPES[kind], f"{where}.{name}: {value!r} is not {kind}"


def _logcat(line: str) -> str:
    """A line as `adb logcat -v threadtime` prints it."""
    priority = "E" if line.startswith(CONTRACT["error_prefix"]) else "I"
    return f"06-01 14:02:11.020  8123  8150 {priority} {CONTRACT['log_tag']}: {line}"


def test_kdedge_speaks_the_contract():
    assert (config.APP_SCHEMA, config.APP_PACKAGE, config.APP_ACTIVITY, config.APP_LOG_TAG, config.APP_MAX_RUNS) == (
        CONTRACT["schema"], CONTRACT["package"], CONTRACT["activity"], CONTRACT["log_tag"], CONTRACT["max_runs"])


def test_the_logcat_fixture_follows_the_contract():
    lines = [line for line in FIXTURE.read_text(encoding="utf-8").splitlines() if re.search(r"KDEDGE_BENCH(_ERROR)? \{", line)]
    assert lines
    for line in lines:
        error, payload = find_app_line(line, None)
        _check_fields(payload, CONTRACT["error_fields" if error else "result_fields"], FIXTURE.name)


def test_the_app_manifest_and_build_name_the_contracts_activity():
    manifest = (ANDROID_DEMO / "app" / "src" / "main" / "AndroidManifest.xml").read_text(encoding="utf-8")
    build = (ANDROID_DEMO / "app" / "build.gradle.kts").read_text(encoding="utf-8")
    assert f'android:name="{CONTRACT["activity"]}"' in manifest
    assert f'applicationId = "{CONTRACT["package"]}"' in build


@pytest.fixture(scope="module")
def java_lines(tmp_path_factory):
    """The lines BenchLineTest formatted with the Java code BenchmarkActivity calls, and the ids it read."""
    folder = tmp_path_factory.mktemp("bench")
    ids = np.array([[2, 17, 5, 0, 0, 0, 0, 0], [9, 1, 1, 3, 0, 0, 0, 0]], dtype=np.int32)
    (folder / "inputs.bin").write_bytes(np.ascontiguousarray(ids, dtype="<i4").tobytes())  # as run.py writes it
    classes = compile_module("bench", folder / "classes")
    run_junit(classes, "dev.kdedge.bench.BenchLineTest", **{"kdedge.bench.out": str(folder / "lines.txt"),
                                                            "kdedge.bench.inputs": str(folder / "inputs.bin"),
                                                            "kdedge.bench.max_len": "8"})
    return (folder / "lines.txt").read_text(encoding="utf-8").splitlines(), ids, folder / "inputs.bin"


def test_java_result_lines_parse_with_kdedges_parser(java_lines):
    lines, _, _ = java_lines
    results = [line for line in lines if line.startswith(CONTRACT["result_prefix"])]
    assert len(results) == 4
    for line in results:
        payload = json.loads(line[len(CONTRACT["result_prefix"]):])
        _check_fields(payload, CONTRACT["result_fields"], payload["run_id"])
        log = "\n".join(_logcat(other) for other in lines if other.startswith("KDEDGE_BENCH"))
        parsed = parse_app_output(log, payload["run_id"])
        ms = np.asarray(payload["latencies_us"]) / 1000.0
        assert parsed["runs"] == payload["runs"] == len(ms) <= CONTRACT["max_runs"]
        assert parsed["p50_ms"] == pytest.approx(np.percentile(ms, 50))
        assert (parsed["num_threads"], parsed["use_xnnpack"], parsed["model_sha256"]) == (
            payload["threads"], payload["xnnpack"], payload["model_sha256"])
    odd = json.loads(next(line for line in results if "strings" in line)[len(CONTRACT["result_prefix"]):])
    assert odd["run_id"] == 'odd "strings" \\ ü 😀' and odd["model"] == '/sdcard/Download/a "b"\n\\c.tflite'


def test_java_percentiles_are_kdedges(java_lines):
    lines, _, _ = java_lines
    p50, p90, p99 = (float(x) for x in next(line for line in lines if line.startswith("PERCENTILES")).split()[2:])
    parsed = parse_app_output("\n".join(_logcat(line) for line in lines if line.startswith("KDEDGE_BENCH")),
                              "fixture-10")
    assert (parsed["p50_ms"], parsed["p90_ms"], parsed["p99_ms"]) == pytest.approx((p50 / 1e3, p90 / 1e3, p99 / 1e3))


def test_java_error_lines_stop_kdedge_with_the_apps_message(java_lines):
    lines, _, _ = java_lines
    errors = [line for line in lines if line.startswith(CONTRACT["error_prefix"])]
    assert len(errors) == 2
    for line in errors:
        _check_fields(json.loads(line[len(CONTRACT["error_prefix"]):]), CONTRACT["error_fields"], "error")
    with pytest.raises(DeviceError, match=r"IllegalArgumentException: Cannot copy .*\nfrom \"x\""):
        parse_app_output(_logcat(errors[0]), "err-1")
    with pytest.raises(DeviceError, match=r"java.lang.NullPointerException"):
        parse_app_output(_logcat(errors[1]), "err-2")


def test_java_constants_and_input_reader_match(java_lines):
    lines, ids, inputs = java_lines
    _, schema, tag, max_runs, result, error, extras = next(line for line in lines if line.startswith("CONTRACT")).split()
    assert (schema, tag, int(max_runs), result + " ", error + " ") == (
        CONTRACT["schema"], CONTRACT["log_tag"], CONTRACT["max_runs"], CONTRACT["result_prefix"],
        CONTRACT["error_prefix"])
    assert extras.split(",") == list(CONTRACT["extras"])
    _, n, sha, *values = next(line for line in lines if line.startswith("INPUT_ROWS")).split()
    assert int(n) == len(ids) and [int(v) for v in values] == ids.ravel().tolist()
    assert sha == hashlib.sha256(inputs.read_bytes()).hexdigest()


def test_readme_documents_every_extra_and_field():
    readme = (ANDROID_DEMO / "README.md").read_text(encoding="utf-8")
    for name in [*CONTRACT["extras"], *CONTRACT["result_fields"]]:
        assert re.search(rf"`{name}`", readme), name
