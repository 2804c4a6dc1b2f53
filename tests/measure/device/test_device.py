"""Device mode of the bench stage without a device.

The parsers run on recorded ``benchmark_model`` outputs (tests/fixtures/device/SOURCES.md says
where each comes from) and on a hand-written fixture of the app's own logcat contract.
adb is replaced by a small shell script (a test double of the external tool) that records
every call, stores pushed files under a folder, and answers ``benchmark_model`` runs with
the recorded outputs.
"""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from kdedge.measure.device import (DeviceConfig, DeviceError, check_device, parse_adb_devices, parse_app_output,
                           parse_benchmark_model, run_device_bench)
from kdedge.errors import ConfigError, KdedgeError

DATA = Path(__file__).parents[2] / "fixtures" / "device"
NONE = {"p5_ms": None, "p50_ms": None, "p95_ms": None, "num_threads": None, "use_xnnpack": None,
        "memory_init_mb": None, "memory_overall_mb": None, "peak_memory_mb": None}

# Every number as printed by the tool (microseconds), divided by 1000.
EXPECTED = {
    "benchmark_model_2019_zedboard_average_timings.txt": {
        **NONE, "init_ms": 18.764, "first_inference_ms": 393.5, "warmup_mean_ms": 395.037, "mean_ms": 394.183,
        "std_ms": 4.373, "min_ms": 389.982, "max_ms": 417.669, "runs": 50, "num_threads": 2},
    "benchmark_model_2020_x86_peak_memory.txt": {
        **NONE, "init_ms": 0.388, "first_inference_ms": 48.197, "warmup_mean_ms": 45.51, "mean_ms": 44.4724,
        "std_ms": 0.488, "min_ms": 44.04, "max_ms": 46.213, "runs": 50, "num_threads": 1, "use_xnnpack": False,
        "memory_init_mb": 4.53516, "memory_overall_mb": 10.9258, "peak_memory_mb": 10.9258},
    "benchmark_model_tf2_riscv_op_profiling.txt": {
        **NONE, "init_ms": 17.187, "first_inference_ms": 3512.391, "warmup_mean_ms": 3512.39, "mean_ms": 2950.34,
        "std_ms": 109.798, "min_ms": 2727.568, "max_ms": 3189.954, "runs": 50, "num_threads": 4,
        "memory_init_mb": 4.21094, "memory_overall_mb": 46.0859, "peak_memory_mb": 46.0859},
    "benchmark_model_tf24_android_mi11.txt": {
        **NONE, "init_ms": 1.779, "first_inference_ms": 152.949, "warmup_mean_ms": 110.69, "mean_ms": 95.7883,
        "std_ms": 1.284, "min_ms": 93.066, "max_ms": 99.49, "runs": 50,
        "memory_init_mb": 5.15625, "memory_overall_mb": 36.9883, "peak_memory_mb": 36.9883},
    "benchmark_model_percentiles_xnnpack_off.txt": {
        "init_ms": 5.579, "first_inference_ms": 1357.602, "warmup_mean_ms": 1357.6, "mean_ms": 1240.27,
        "std_ms": 2.565, "min_ms": 1238.588, "max_ms": 1252.566, "runs": 50, "p5_ms": 1238.753,
        "p50_ms": 1239.807, "p95_ms": 1247.415, "num_threads": None, "use_xnnpack": False,
        "memory_init_mb": 6.36328, "memory_overall_mb": 109.832, "peak_memory_mb": 109.832},
    "benchmark_model_percentiles_xnnpack_on.txt": {
        "init_ms": 614.333, "first_inference_ms": 905.463, "warmup_mean_ms": 905.463, "mean_ms": 899.641,
        "std_ms": 1.549, "min_ms": 898.007, "max_ms": 906.121, "runs": 50, "p5_ms": 898.333,
        "p50_ms": 899.281, "p95_ms": 904.305, "num_threads": None, "use_xnnpack": True,
        "memory_init_mb": 146.363, "memory_overall_mb": 150.141, "peak_memory_mb": 150.141},
}


def test_every_recorded_sample_is_covered():
    assert sorted([*EXPECTED, "benchmark_model_tf24_android_nnapi_failed.txt"]) == sorted(
        p.name for p in DATA.glob("benchmark_model_*.txt"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parse_benchmark_model_reads_recorded_outputs(name):
    parsed = parse_benchmark_model((DATA / name).read_text())
    expected = EXPECTED[name]
    assert parsed == {**{k: pytest.approx(v) if isinstance(v, float) else v for k, v in expected.items()},
                      "unconsumed_flags": []}
    assert isinstance(parsed["runs"], int)


def test_parse_benchmark_model_failure_quotes_the_last_line():
    with pytest.raises(DeviceError, match=r"no inference timings; its last line: Benchmarking failed\.$"):
        parse_benchmark_model((DATA / "benchmark_model_tf24_android_nnapi_failed.txt").read_text())
    with pytest.raises(DeviceError, match=r"\(no output\)"):
        parse_benchmark_model("")


APP_LOG = (DATA / "app_logcat_fixture.txt").read_text()


def test_parse_app_output_computes_percentiles_from_the_latencies():
    r = parse_app_output(APP_LOG, "student_int8-t1-x1-0a1b2c3d")
    # latencies 1.0, 1.1, ..., 1.9 ms (shuffled): linear percentiles, sample std (ddof 1).
    assert r["p50_ms"] == pytest.approx(1.45) and r["p90_ms"] == pytest.approx(1.81)
    assert r["p99_ms"] == pytest.approx(1.891) and r["mean_ms"] == pytest.approx(1.45)
    assert r["std_ms"] == pytest.approx(np.sqrt(0.825 / 9)) and (r["min_ms"], r["max_ms"]) == (1.0, 1.9)
    assert (r["runs"], r["init_ms"], r["first_inference_ms"]) == (10, 5.3, 2.4)
    assert (r["num_threads"], r["use_xnnpack"]) == (1, True)
    assert r["model_sha256"].startswith("5f1b2a3c") and r["device"]["model"] == "Pixel 7"
    assert r["warmup_mean_ms"] is None and r["peak_memory_mb"] is None


def test_parse_app_output_picks_the_run_and_reports_app_errors():
    without_error = "\n".join(line for line in APP_LOG.splitlines() if "KDEDGE_BENCH_ERROR" not in line)
    assert parse_app_output(without_error)["run_id"] == "teacher_float32-t4-x1-77aa88bb"  # the last line
    assert parse_app_output(APP_LOG, "teacher_float32-t4-x1-77aa88bb")["p50_ms"] == pytest.approx(21.5)
    with pytest.raises(DeviceError, match="benchmark failed: java.lang.IllegalArgumentException: Cannot copy"):
        parse_app_output(APP_LOG, "teacher_float32-t4-x0-c0ffee00")
    with pytest.raises(DeviceError, match="no kdedge-bench KDEDGE_BENCH line for run nope"):
        parse_app_output(APP_LOG, "nope")
    with pytest.raises(DeviceError, match="schema 'kdedge-device/0'"):
        parse_app_output(APP_LOG.replace("kdedge-device/1", "kdedge-device/0"), "student_int8-t1-x1-0a1b2c3d")
    with pytest.raises(DeviceError, match="contract"):
        parse_app_output(APP_LOG.replace('"latencies_us": [1300', '"latency": [1300'), "student_int8-t1-x1-0a1b2c3d")


# -- config and device checks ----------------------------------------------------------------------

@pytest.fixture
def binary(tmp_path):
    path = tmp_path / "benchmark_model"
    path.write_bytes(b"\x7fELF not really")
    return path


@pytest.mark.parametrize("change, flag", [
    ({}, "exactly one of --benchmark-binary PATH"),
    ({"app": True, "benchmark_binary": "BIN"}, "exactly one of --benchmark-binary PATH"),
    ({"benchmark_binary": "/no/such/benchmark_model"}, "--benchmark-binary /no/such/benchmark_model: file not"),
    ({"benchmark_binary": "BIN", "threads": (1, 0)}, "--threads"),
    ({"benchmark_binary": "BIN", "xnnpack": ()}, "--xnnpack"),
    ({"benchmark_binary": "BIN", "runs": 0}, "--runs"),
    ({"app": True, "runs": 1000}, "--runs must be <= 400 with --app"),
    ({"benchmark_binary": "BIN", "warmup": -1}, "--warmup"),
    ({"benchmark_binary": "BIN", "remote_dir": "/data/local/tmp/my models"}, "--remote-dir"),
    ({"benchmark_binary": "BIN", "timeout_s": 0}, "--device-timeout"),
    ({"benchmark_binary": "BIN", "serial": ""}, "--adb needs the device serial"),
])


def test_config_errors_name_the_flag(change, flag, binary):
    change = {k: str(binary) if v == "BIN" else v for k, v in change.items()}
    cfg = DeviceConfig(**{"serial": "FAKE123", **change})
    with pytest.raises(ConfigError, match=flag.replace("(", r"\(")):
        cfg.validate()
    DeviceConfig("FAKE123", benchmark_binary=str(binary)).validate()
    DeviceConfig("FAKE123", app=True).validate()


def fake_adb(tmp_path, devices: str = "FAKE123\tdevice\n", on: str = "benchmark_model_percentiles_xnnpack_on.txt",
             off: str = "benchmark_model_percentiles_xnnpack_off.txt") -> Path:
    """A shell script standing in for adb; it logs each call to ``calls.log`` and keeps pushed
    files under ``device/`` (the device's file system)."""
    root, script = tmp_path / "device", tmp_path / "adb"
    root.mkdir(exist_ok=True)
    latencies = "1300, 1000, 1900, 1100, 1500, 1200, 1800, 1400, 1700, 1600"
    script.write_text(f"""#!/bin/sh
printf '%s\\n' "$*" >> {tmp_path}/calls.log
if [ "$1" = devices ]; then
  printf '* daemon not running; starting now at tcp:5037\\n* daemon started successfully\\n'
  printf 'List of devices attached\\n{devices}\\n'
  exit 0
fi
[ "$1" = -s ] && [ "$2" = FAKE123 ] || {{ echo "error: device '$2' not found"; exit 1; }}
shift 2
case "$1" in
  push) mkdir -p "{root}$(dirname "$3")" && cp "$2" "{root}$3" && echo "$2: 1 file pushed."; exit $?;;
  logcat)
    [ "$2" = -c ] && exit 0
    am=$(cat {root}/last_am)
    run=$(echo "$am" | sed 's/.*--es run_id \\([^ ]*\\).*/\\1/')
    model=$(echo "$am" | sed 's/.*--es model \\([^ ]*\\).*/\\1/')
    threads=$(echo "$am" | sed 's/.*--ei threads \\([^ ]*\\).*/\\1/')
    xnn=$(echo "$am" | sed 's/.*--ez xnnpack \\([^ ]*\\).*/\\1/')
    sha=$(sha256sum "{root}$model" | cut -d' ' -f1)
    echo "--------- beginning of main"
    echo "06-01 14:02:11.020  8123  8150 I kdedge-bench: KDEDGE_BENCH {{\\"schema\\": \\"kdedge-device/1\\", \\
\\"run_id\\": \\"$run\\", \\"model_sha256\\": \\"$sha\\", \\"threads\\": $threads, \\"xnnpack\\": $xnn, \\
\\"init_us\\": 5300, \\"first_us\\": 2400, \\"latencies_us\\": [{latencies}]}}"
    exit 0;;
  shell)
    case "$2" in
      getprop) printf '[ro.build.version.sdk]: [34]\\n[ro.product.cpu.abi]: [arm64-v8a]\\n'
               printf '[ro.product.manufacturer]: [Google]\\n[ro.product.model]: [Pixel 7]\\n'; exit 0;;
      "am start"*) echo "$2" > {root}/last_am; printf 'Starting: Intent {{ cmp=dev.kdedge.demo/.BenchmarkActivity }}\\n'
                   printf 'Status: ok\\nLaunchState: COLD\\nComplete\\n'; exit 0;;
      *benchmark_model*--use_xnnpack=true*) cat {DATA / on}; exit 0;;
      *benchmark_model*) cat {DATA / off}; exit 0;;
      *) exit 0;;
    esac;;
esac
exit 1
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_missing_adb_is_one_clear_error(tmp_path, binary):
    for adb in (str(tmp_path / "no-such" / "adb"), "kdedge-no-such-adb"):
        cfg = DeviceConfig("FAKE123", adb=adb, benchmark_binary=str(binary))
        with pytest.raises(DeviceError, match=r"adb not found .*install Android platform-tools or pass --adb-path"):
            check_device(cfg)
    assert issubclass(DeviceError, KdedgeError)  # the CLI turns it into one line and exit code 2


@pytest.mark.parametrize("listing, message", [
    ("", r"device FAKE123 not connected; adb sees: none$"),
    ("emulator-5554\tdevice\nR58M12ABCDE\toffline\n", r"FAKE123 not connected; adb sees: emulator-5554 \(device\), "
                                                       r"R58M12ABCDE \(offline\)"),
    ("FAKE123\tunauthorized\n", r"FAKE123 is unauthorized: accept the USB debugging prompt"),
    ("FAKE123\toffline\n", r"FAKE123 is offline: reconnect it"),
])


def test_check_device_names_what_adb_sees(tmp_path, binary, listing, message):
    cfg = DeviceConfig("FAKE123", adb=str(fake_adb(tmp_path, devices=listing)), benchmark_binary=str(binary))
    with pytest.raises(DeviceError, match=message):
        check_device(cfg)


def test_check_device_accepts_a_connected_device(tmp_path, binary):
    check_device(DeviceConfig("FAKE123", adb=str(fake_adb(tmp_path)), benchmark_binary=str(binary)))
    assert parse_adb_devices("List of devices attached\nA1\tdevice\nB2\tno permissions (user in plugdev group)\n\n") \
        == {"A1": "device", "B2": "no permissions (user in plugdev group)"}


# -- end to end with the fake adb -------------------------------------------------------------------

@pytest.fixture(scope="module")
def export_and_data(tmp_path_factory):
    """A tiny export folder with real ``.tflite`` files (a 1-input student, a 2-input teacher), their
    tokenizers and a manifest, and a data folder with an eval split."""
    import tensorflow as tf
    from tests.support import FILLER, NEGATIVE, POSITIVE, make_sentences
    from transformers import BertTokenizerFast

    from kdedge.data import Split
    from kdedge.io import sha256_file, write_json
    from kdedge.text.tokenizer import WordTokenizer

    root = tmp_path_factory.mktemp("device")
    data, export = root / "data", root / "export"
    rows = make_sentences(31, seed=3)
    Split("eval", [t for t, _ in rows], [y for _, y in rows], "test").to_jsonl(data / "eval.jsonl")
    WordTokenizer.build([t for t, _ in rows], max_len=12, vocab_size=30).save(export / "tokenizer.json")
    (export / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                                                + sorted(set(POSITIVE + NEGATIVE + FILLER))) + "\n")
    BertTokenizerFast(vocab_file=str(export / "vocab.txt")).save_pretrained(str(export / "teacher_tokenizer"))

    def convert(names, length):
        """Like converters.hf_bert_to_tflite: a signature function converted with its module."""
        module = tf.Module()
        specs = [tf.TensorSpec([1, length], tf.int32, name=n) for n in names]

        @tf.function(input_signature=specs)
        def serve(*inputs):
            x = tf.cast(tf.add_n(list(inputs)), tf.float32)
            return {"logits": tf.stack([tf.reduce_sum(x, 1), -tf.reduce_sum(x, 1)], axis=1)}
        module.serve = serve
        return tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], module).convert()

    (export / "student_int8.tflite").write_bytes(convert(["input_ids"], 12))
    (export / "teacher_float32.tflite").write_bytes(convert(["input_ids", "attention_mask"], 16))
    write_json(export / "manifest.json", {"max_len": 12, "models": [
        {"name": "student_int8", "file": "student_int8.tflite", "kind": "student", "quantization": "int8",
         "inputs": ["input_ids"], "tokenizer": "tokenizer.json",
         "sha256": sha256_file(export / "student_int8.tflite")},
        {"name": "teacher_float32", "file": "teacher_float32.tflite", "kind": "teacher", "quantization": "float32",
         "inputs": ["input_ids", "attention_mask"], "max_len": 16, "truncation": "head",
         "tokenizer": "teacher_tokenizer", "sha256": sha256_file(export / "teacher_float32.tflite")}]})
    return export, data, [t for t, _ in rows]


def test_run_device_bench_with_benchmark_model(export_and_data, tmp_path, binary):
    from kdedge.text.tokenizer import WordTokenizer

    export, data, texts = export_and_data
    out = tmp_path / "out"
    cfg = DeviceConfig("FAKE123", adb=str(fake_adb(tmp_path)), benchmark_binary=str(binary), threads=(1, 4),
                       runs=50, warmup=3)
    report = run_device_bench(export, data, out, cfg)

    dev = tmp_path / "device" / "data" / "local" / "tmp" / "kdedge"
    assert (dev / "benchmark_model").read_bytes() == binary.read_bytes()
    for name in ("student_int8.tflite", "teacher_float32.tflite"):
        assert (dev / "models" / name).stat().st_size == (export / name).stat().st_size
    pushed = {p.name: p for p in (dev / "inputs").iterdir()}
    assert sorted(pushed) == ["student_int8.input_ids.bin", "teacher_float32.attention_mask.bin",
                              "teacher_float32.input_ids.bin"]
    assert pushed["student_int8.input_ids.bin"].stat().st_size == 4 * 12
    assert pushed["teacher_float32.input_ids.bin"].stat().st_size == 4 * 16
    # The student's input is the eval text of median token count, as little-endian int32.
    lengths = np.count_nonzero(WordTokenizer.load(export / "tokenizer.json").encode(texts), axis=1)
    ids = np.frombuffer(pushed["student_int8.input_ids.bin"].read_bytes(), dtype="<i4")
    assert np.count_nonzero(ids) == np.sort(lengths)[len(texts) // 2] == report["models"][0]["input"]["tokens"]
    mask = np.frombuffer(pushed["teacher_float32.attention_mask.bin"].read_bytes(), dtype="<i4")
    teacher_ids = np.frombuffer(pushed["teacher_float32.input_ids.bin"].read_bytes(), dtype="<i4")
    np.testing.assert_array_equal(mask, teacher_ids != 0)

    calls = (tmp_path / "calls.log").read_text().splitlines()
    runs = [c for c in calls if "benchmark_model --graph" in c]
    assert len(runs) == 2 * 2 * 2  # models x threads x xnnpack
    teacher_run = next(c for c in runs if "teacher_float32" in c)
    # The converter puts attention_mask first; benchmark_model matches inputs by position.
    assert "--input_layer=attention_mask,input_ids --input_layer_shape=1,16:1,16" in teacher_run
    assert ("--input_layer_value_files=attention_mask:/data/local/tmp/kdedge/inputs/teacher_float32."
            "attention_mask.bin,input_ids:/data/local/tmp/kdedge/inputs/teacher_float32.input_ids.bin") in teacher_run
    assert "--num_runs=50 --warmup_runs=3" in teacher_run

    assert report["device"]["model"] == "Pixel 7" and report["tool"] == "benchmark_model"
    student = report["models"][0]
    assert (student["name"], student["bytes"]) == ("student_int8", (export / "student_int8.tflite").stat().st_size)
    cells = {(c["threads"], c["xnnpack"]): c for c in student["latency_grid"]}
    assert sorted(cells) == [(1, False), (1, True), (4, False), (4, True)]
    on, off = cells[(4, True)], cells[(4, False)]
    assert (on["p50_ms"], on["mean_ms"], on["runs"]) == (pytest.approx(899.281), pytest.approx(899.641), 50)
    assert (off["p50_ms"], off["p90_ms"], off["p99_ms"]) == (pytest.approx(1239.807), None, None)
    assert off["raw"]["use_xnnpack"] is False and off["inputs"] == "eval-median"
    assert (out / off["raw_file"]).read_text().endswith(
        (DATA / "benchmark_model_percentiles_xnnpack_off.txt").read_text())
    assert json.loads((out / "device.json").read_text()) == json.loads(json.dumps(report))


def test_run_device_bench_refuses_a_run_with_other_settings_than_asked(export_and_data, tmp_path, binary):
    export, data, _ = export_and_data
    adb = fake_adb(tmp_path, on="benchmark_model_percentiles_xnnpack_off.txt")  # ignores --use_xnnpack=true
    cfg = DeviceConfig("FAKE123", adb=str(adb), benchmark_binary=str(binary), threads=(1,), xnnpack=(True,))
    with pytest.raises(DeviceError, match="ran with use_xnnpack=False, not True"):
        run_device_bench(export, data, tmp_path / "out", cfg)


def test_run_device_bench_with_the_app(export_and_data, tmp_path):
    export, data, _ = export_and_data
    cfg = DeviceConfig("FAKE123", adb=str(fake_adb(tmp_path)), app=True, threads=(2,), xnnpack=(False,), runs=10)
    report = run_device_bench(export, data, tmp_path / "out", cfg)
    assert report["tool"] == "app"
    for row in report["models"]:
        (cell,) = row["latency_grid"]
        assert (cell["threads"], cell["xnnpack"], cell["runs"]) == (2, False, 10)
        assert (cell["p50_ms"], cell["p90_ms"], cell["p99_ms"]) == (pytest.approx(1.45), pytest.approx(1.81),
                                                                    pytest.approx(1.891))
        assert cell["raw"]["model_sha256"] == row["sha256"]
    starts = [c for c in (tmp_path / "calls.log").read_text().splitlines() if "am start" in c]
    assert len(starts) == 2 and "--es inputs /data/local/tmp/kdedge/inputs/teacher_float32.input_ids.bin" in starts[1]
    assert "--ei threads 2 --ez xnnpack false --ei runs 10 --ei warmup 20" in starts[0]
    assert os.path.exists(tmp_path / "out" / "raw" / "teacher_float32_t2_x0.txt")


def test_cli_device_mode_writes_a_bench_report_with_host_quality(export_and_data, tmp_path, binary):
    import json

    from kdedge.cli import main

    export, data, _ = export_and_data
    out = tmp_path / "bench"
    main(["bench", "--export-dir", str(export), "--data", str(data), "--out", str(out), "--adb", "FAKE123",
          "--adb-path", str(fake_adb(tmp_path)), "--benchmark-binary", str(binary), "--threads", "1,4",
          "--xnnpack", "on", "--runs", "50", "--warmup", "3"])
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "kdedge-bench/3" and report["platform"] == "android"
    assert report["machine"]["cpu"].startswith("Google Pixel 7") and report["machine"]["tool"] == "benchmark_model"
    assert (out / "device" / "device.json").is_file() and (out / "report.png").is_file()
    rows = {r["name"]: r for r in report["models"]}
    device = json.loads((out / "device" / "device.json").read_text())
    for d in device["models"]:
        r = rows[d["name"]]
        # Latency from the device's tool; label metrics from the same file run on the host.
        assert r["latency"]["p50_ms"] == d["latency_grid"][0]["p50_ms"] and r["sha256"] == d["sha256"]
        assert [(g["threads"], g["xnnpack"]) for g in r["latency_grid"]] == [(1, True), (4, True)]
        assert 0 <= r["accuracy"] <= 1 and r["metrics"]["examples"] == report["eval"]["examples"]
    assert rows["teacher_float32"]["agreement_with_teacher"] == 1.0
    assert "timed on the device by `benchmark_model`" in (out / "report.md").read_text()
