"""End to end: every stage on tiny data with a tiny real BERT, through the CLI."""

import json

import numpy as np
import pytest

from tests.support import tiny_flags
from kdedge.cli import main
from kdedge.layout import STAGES

MODELS = {"student_float32", "student_dynamic", "student_float16", "student_int8", "teacher_float32",
          "baseline_float32"}


@pytest.fixture(scope="module")
def run(pipeline_run):
    return pipeline_run


def test_every_stage_wrote_its_folder_and_config(run):
    cfg = json.loads((run / "config.json").read_text())
    assert set(cfg) == set(STAGES)
    for stage in STAGES:
        assert (run / stage / "config.json").is_file(), stage
    assert (run / "teacher" / "model" / "tf_model.h5").is_file()
    assert not (run / "teacher" / "_checkpoints").exists()
    assert cfg["distill"]["temperature"] == 2.0 and cfg["teacher"]["max_len"] == 16


def test_distill_history_logs_soft_hard_and_eval_accuracy(run):
    history = json.loads((run / "distill" / "history.json").read_text())
    assert len(history) == 6
    assert {"soft_loss", "hard_loss", "gold_loss", "weights", "eval_accuracy"} <= set(history[0])
    assert history[-1]["gold_loss"] < history[0]["gold_loss"]
    # The default schedule hands the soft weight to the gold term over the run.
    assert history[0]["weights"][0] > history[-1]["weights"][0] and history[0]["weights"][2] < history[-1]["weights"][2]
    # The synthetic task is easy: a working student learns it.
    assert history[-1]["eval_accuracy"] >= 0.8


def test_distill_trains_the_labels_only_twin_beside_the_student(run):
    metrics = json.loads((run / "distill" / "metrics.json").read_text())
    history = json.loads((run / "distill" / "baseline_history.json").read_text())
    assert len(history) == 6 and history[-1]["soft_loss"] >= 0
    assert history[-1]["weights"] == [0.0, 0.0, 1.0]  # gold labels only
    assert metrics["baseline_eval_accuracy"] == pytest.approx(history[-1]["eval_accuracy"])
    assert metrics["gain_over_baseline"] == pytest.approx(
        metrics["eval_accuracy"] - metrics["baseline_eval_accuracy"])


def test_report_covers_every_model_with_measured_numbers(run):
    report = json.loads((run / "bench" / "report.json").read_text())
    rows = {r["name"]: r for r in report["models"]}
    assert set(rows) == MODELS
    for r in rows.values():
        assert r["bytes"] == (run / "export" / r["file"]).stat().st_size
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["macro_f1"] <= 1
        assert r["latency"]["runs"] >= 20
        assert 0 < r["latency"]["p50_ms"] <= r["latency"]["p90_ms"] <= r["latency"]["p99_ms"]
        lo, hi = r["latency"]["ci95_ms"]
        assert lo <= r["latency"]["p50_ms"] <= hi
        # The grid: (1 thread) x (XNNPACK on, off) x (eval texts, exactly 8 tokens); the first is the headline.
        grid = r["latency_grid"]
        assert [(g["threads"], g["xnnpack"], g["inputs"]) for g in grid] == [
            (1, True, "eval"), (1, True, "len=8"), (1, False, "eval"), (1, False, "len=8")]
        assert grid[0]["p50_ms"] == r["latency"]["p50_ms"]
        # Fresh-process probe: the model's own load, first call and memory on top of the runtime.
        assert r["load_ms"] > 0 and r["first_inference_ms"] > 0
        assert r["peak_rss_mb"] >= r["baseline_rss_mb"] > 0 and r["model_rss_mb"] >= 0
        assert 0 < r["gzip_bytes"] < r["bytes"]
    assert rows["teacher_float32"]["agreement_with_teacher"] == 1.0
    assert rows["student_int8"]["bytes"] < rows["student_float32"]["bytes"]
    md = (run / "bench" / "report.md").read_text()
    assert "student_int8" in md and "p50 ms" in md
    assert (run / "bench" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_int8_tflite_agrees_with_keras_student(run, tiny_data_dir):
    from kdedge.data import load_sst2
    from kdedge.training.distill import predict
    from kdedge.runtime import TFLiteModel
    from kdedge.models.student import load_student
    from kdedge.text.tokenizer import RegexTokenizer

    texts = load_sst2(tiny_data_dir).eval.texts
    ids = RegexTokenizer.load(run / "export" / "tokenizer.json").encode(texts)
    keras_pred = predict(load_student(run / "distill" / "student.keras"), ids).argmax(1)
    lite = TFLiteModel(run / "export" / "student_int8.tflite")
    assert lite.inputs[next(iter(lite.inputs))]["dtype"] == np.int32
    lite_pred = np.concatenate([lite({"input_ids": r[None]}) for r in ids]).argmax(1)
    assert (lite_pred == keras_pred).mean() >= 0.95


def test_resume_skips_finished_stages(run, tiny_data_dir, tiny_teacher_init, capsys):
    before = (run / "bench" / "report.json").read_bytes()
    main(["pipeline", "--out", str(run), "--resume"]
         + tiny_flags(tiny_data_dir, tiny_teacher_init, run.parent / "cache"))
    err = capsys.readouterr().err
    assert all(f"{s}: done already" in err for s in STAGES)
    assert (run / "bench" / "report.json").read_bytes() == before


def test_teacher_stage_stores_its_eval_logits_for_distill(run):
    # The teacher labeled the eval split while evaluating; distill found those rows.
    def texts(split):
        return {json.loads(line)["text"] for line in (run / "data" / f"{split}.jsonl").read_text().splitlines()}

    metrics = json.loads((run / "distill" / "metrics.json").read_text())
    assert metrics["transfer_parts"] == {"train": 240}
    assert metrics["teacher_texts_labeled"] == len(texts("train") - texts("eval"))


def test_distill_stage_alone_reuses_cached_teacher_logits(run, tmp_path):
    main(["distill", "--data", str(run / "data"), "--teacher-dir", str(run / "teacher"),
          "--student-dir", str(run / "student"), "--out", str(tmp_path / "d"), "--epochs", "1",
          "--batch-size", "16", "--cache-dir", str(run.parent / "cache")])
    metrics = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert metrics["teacher_logits_cached"] is True


def test_distill_with_augmentation_and_frozen_embeddings(run, tmp_path):
    from kdedge.models.student import load_student

    main(["distill", "--data", str(run / "data"), "--teacher-dir", str(run / "teacher"),
          "--student-dir", str(run / "student"), "--out", str(tmp_path / "d"), "--epochs", "1",
          "--batch-size", "16", "--cache-dir", str(run.parent / "cache"), "--augment-copies", "1",
          "--freeze-embeddings", "--p-replace", "0.2"])
    metrics = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert metrics["transfer_examples"] > metrics["labeled_examples"] == 240
    assert metrics["teacher_logits_cached"] is False  # the augmented texts are new to the cache
    assert metrics["transfer_parts"]["train"] == 240 and metrics["transfer_parts"]["augmented"] > 0
    before = load_student(run / "student" / "student.keras").get_layer("embedding").get_weights()[0]
    after = load_student(tmp_path / "d" / "student.keras").get_layer("embedding").get_weights()[0]
    np.testing.assert_array_equal(before, after)


def test_fixed_length_inputs_hold_exactly_that_many_real_tokens(run):
    from kdedge.measure.inputs import input_sets

    manifest = json.loads((run / "export" / "manifest.json").read_text())
    texts = [json.loads(line)["text"] for line in (run / "data" / "eval.jsonl").read_text().splitlines()]
    for entry in manifest["models"]:
        if entry["name"] not in ("student_int8", "teacher_float32"):
            continue
        sets = input_sets(run / "export", entry, texts, manifest["max_len"], (5, "max"), pool=8)
        assert list(sets) == ["eval", "len=5", "len=16"]
        for name, n in (("len=5", 5), ("len=16", 16)):
            ids = sets[name]["input_ids"]
            assert ids.shape == (8, 16) and ((ids != 0).sum(1) == n).all(), (entry["name"], name)
            if "attention_mask" in sets[name]:
                assert (sets[name]["attention_mask"].sum(1) == n).all()
        # Eval inputs are real texts: their lengths vary like the split's.
        assert len(set((sets["eval"]["input_ids"] != 0).sum(1))) > 1


def test_three_labels_end_to_end(tmp_path, tiny_teacher_init):
    """K = 3 named labels (negative / neutral / positive) through every stage, with per-class metrics."""
    import random

    from tests.support import FILLER, NEGATIVE, POSITIVE

    rng = random.Random(3)

    def table(path, n):
        rows = ["text,label"]
        for _ in range(n):
            label = rng.choice(["negative", "neutral", "positive"])
            words = [rng.choice(FILLER) for _ in range(rng.randint(2, 6))]
            if label != "neutral":
                words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if label == "positive" else NEGATIVE))
            rows.append(f"{' '.join(words)},{label}")
        path.write_text("\n".join(rows) + "\n")
        return path

    flags = tiny_flags(tmp_path, tiny_teacher_init, tmp_path / "cache")
    flags[flags.index("sst2")] = "custom"
    del flags[flags.index("--data-dir"):flags.index("--data-dir") + 2]
    flags += ["--train-file", str(table(tmp_path / "train.csv", 240)),
              "--eval-file", str(table(tmp_path / "eval.csv", 60)), "--unlabeled", "none"]
    out = tmp_path / "run"
    main(["pipeline", "--out", str(out)] + flags)
    stats = json.loads((out / "data" / "stats.json").read_text())
    assert stats["label_names"] == ["negative", "neutral", "positive"]
    assert json.loads((out / "teacher" / "config.json").read_text())["num_labels"] == 3
    report = json.loads((out / "bench" / "report.json").read_text())
    for row in report["models"]:
        assert np.array(row["confusion"]).shape == (3, 3), row["name"]
        assert sum(map(sum, row["confusion"])) == 60
        assert len(row["metrics"]["f1"]) == len(row["metrics"]["recall"]) == 3
    student = next(r for r in report["models"] if r["name"] == "student_float32")
    assert student["accuracy"] > 0.5  # chance is 1/3
    md = (out / "bench" / "report.md").read_text()
    assert "neutral" in md and "## Per-class precision / recall / F1" in md


def test_exported_students_are_self_describing_and_predict_reads_them(run, tmp_path, capsys):
    from kdedge import TextClassifier

    manifest = json.loads((run / "export" / "manifest.json").read_text())
    students = [m for m in manifest["models"] if m["kind"] in ("student", "baseline")]
    assert students and all(m["metadata"] and m["output"] == "probabilities" for m in students)
    assert all(m["min_runtime_version"] for m in students)
    assert {m["name"]: m["trailing_pad"] for m in students} == {m["name"]: 5 for m in students}  # cnn: widths 3-5
    clf = TextClassifier(run / "export" / "student_int8.tflite")
    assert clf.trailing_pad == 5
    assert clf.labels == ["negative", "positive"] and clf.info.min_parser_version == "1.2.1"
    assert "cnn" in clf.info.name and clf.info.author == "kdedge"
    probs = clf.probabilities(["a wonderful film", "a dull boring plot"])
    assert np.allclose(probs.sum(1), 1, atol=1e-5)

    capsys.readouterr()
    main(["predict", str(run / "export" / "student_int8.tflite"), "a wonderful film", "a dull boring plot"])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["text"] for r in lines] == ["a wonderful film", "a dull boring plot"]
    assert [r["score"] for r in lines] == pytest.approx(probs.max(1), abs=1e-6)
    assert [r["label"] for r in lines] == [clf.labels[i] for i in probs.argmax(1)]

    texts = tmp_path / "texts.txt"
    texts.write_text("great acting\n\nweak story\n")
    main(["predict", str(run / "export" / "student_float32.tflite"), "--file", str(texts), "--format", "table",
          "--top-k", "1"])
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0].split() == ["text", "label", "score"] and len(table) == 3


@pytest.mark.parametrize(("args", "message"), [
    (["teacher_float32.tflite", "x"], "has no TFLite metadata"),
    (["nope.tflite", "x"], "file not found"),
    (["student_int8.tflite"], "nothing to classify"),
    (["student_int8.tflite", "x", "--top-k", "0"], "--top-k must be >= 1"),
    (["student_int8.tflite", "--file", "missing.txt"], "--file missing.txt"),
])
def test_predict_bad_input_exits_2_with_one_line(run, capsys, monkeypatch, args, message):
    monkeypatch.chdir(run / "export")
    with pytest.raises(SystemExit) as e:
        main(["predict"] + args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_predict_imports_no_tensorflow(run):
    import subprocess
    import sys

    code = ("import sys; from kdedge.cli import main\n"
            "try:\n    main(['predict', sys.argv[1], 'good film'])\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in ('tensorflow', 'tf_keras', 'keras', 'transformers') if m in sys.modules]\n"
            "print('HEAVY', bad)")
    out = subprocess.run([sys.executable, "-c", code, str(run / "export" / "student_int8.tflite")],
                         capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert '"label"' in out.stdout


def test_bench_also_scores_a_test_split_when_the_data_has_one(run, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(run / "data", data)
    shutil.copy(data / "eval.jsonl", data / "test.jsonl")  # a second split: same rows, so same numbers
    main(["bench", "--export-dir", str(run / "export"), "--data", str(data), "--out", str(tmp_path / "b"),
          "--threads", "1", "--xnnpack", "on", "--lengths", "8", "--min-runs", "20", "--time-cap", "0.1",
          "--no-probe", "--models", "student_float32,teacher_float32"])
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["test"]["examples"] == report["eval"]["examples"]
    for row in report["models"]:
        assert row["test"]["accuracy"] == pytest.approx(row["accuracy"])
    assert "## Test split" in (tmp_path / "b" / "report.md").read_text()


def test_a_format_1_student_still_exports_and_benches_without_metadata(run, tmp_path, capsys):
    main(["student", "--data", str(run / "data"), "--teacher-dir", str(run / "teacher"), "--tokenizer", "word",
          "--vocab-size", "100", "--embed-dim", "16", "--filters", "8", "--max-len", "16",
          "--out", str(tmp_path / "s")])
    assert json.loads((tmp_path / "s" / "tokenizer.json").read_text())["format"] == "kdedge-word-tokenizer/1"
    main(["distill", "--data", str(run / "data"), "--teacher-dir", str(run / "teacher"), "--student-dir",
          str(tmp_path / "s"), "--epochs", "2", "--batch-size", "16", "--no-baseline",
          "--cache-dir", str(run.parent / "cache"), "--out", str(tmp_path / "k")])
    capsys.readouterr()
    main(["export", "--distill-dir", str(tmp_path / "k"), "--data", str(run / "data"), "--no-teacher",
          "--modes", "float32,int8", "--calibration-examples", "50", "--no-skip-padding",
          "--out", str(tmp_path / "e")])
    said = capsys.readouterr().out
    assert "no metadata in the student files" in said and "kdedge-word-tokenizer/1" in said
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    assert manifest["metadata"] is False and all(not m["metadata"] for m in manifest["models"])
    assert all(m["trailing_pad"] is None for m in manifest["models"])  # --no-skip-padding: the converter's graph
    main(["bench", "--export-dir", str(tmp_path / "e"), "--data", str(run / "data"), "--out", str(tmp_path / "b"),
          "--threads", "1", "--xnnpack", "on", "--lengths", "8", "--min-runs", "20", "--time-cap", "0.1",
          "--no-probe"])
    rows = json.loads((tmp_path / "b" / "report.json").read_text())["models"]
    assert {r["name"] for r in rows} == {"student_float32", "student_int8"}
    assert all(0.5 < r["accuracy"] <= 1 for r in rows)


def test_a_bilstm_exports_unrolled_with_metadata_and_fused_on_request(run, tmp_path, capsys):
    """The default graph carries metadata and batches; --lstm fused is the same function without either."""
    from kdedge import TextClassifier
    from kdedge.data import Split
    from kdedge.runtime import TFLiteModel
    from kdedge.text.tokenizer import load_tokenizer

    main(["student", "--data", str(run / "data"), "--teacher-dir", str(run / "teacher"), "--arch", "bilstm",
          "--vocab-size", "100", "--embed-dim", "16", "--lstm-units", "8", "--hidden", "8", "--max-len", "16",
          "--out", str(tmp_path / "s")])
    main(["distill", "--data", str(run / "data"), "--teacher-dir", str(run / "teacher"), "--student-dir",
          str(tmp_path / "s"), "--epochs", "1", "--batch-size", "16",
          "--cache-dir", str(run.parent / "cache"), "--out", str(tmp_path / "k")])
    files = {}
    for graph in ("unrolled", "fused"):
        capsys.readouterr()
        main(["export", "--distill-dir", str(tmp_path / "k"), "--data", str(run / "data"), "--no-teacher",
              "--modes", "float32,int8", "--calibration-examples", "50", "--lstm", graph,
              "--out", str(tmp_path / graph)])
        said = capsys.readouterr().out
        manifest = json.loads((tmp_path / graph / "manifest.json").read_text())
        assert manifest["metadata"] is (graph == "unrolled")
        assert ("--lstm fused" in said) is (graph == "fused")
        assert {m["name"] for m in manifest["models"]} == {"student_float32", "student_int8", "baseline_float32"}
        for m in manifest["models"]:
            assert m["metadata"] is (graph == "unrolled")
            if m["kind"] == "student":
                assert m["check"]["label_agreement_with_keras"] >= (1.0 if m["quantization"] == "float32" else 0.9)
        files[graph] = TFLiteModel(tmp_path / graph / "student_float32.tflite")
    texts = Split.from_jsonl(run / "data" / "eval.jsonl", "eval").texts
    ids = load_tokenizer(tmp_path / "k" / "tokenizer.json").encode(texts)
    for row in ids:
        feed = {"input_ids": row[None, :]}
        assert np.abs(files["unrolled"](feed) - files["fused"](feed)).max() <= 1e-5
    names = {d["name"] for d in files["unrolled"].interpreter.get_tensor_details()} - {""}  # "": LiteRT's own
    assert sum(n.startswith("t") and n[1:].isdigit() for n in names) == len(names) - 2  # all but input/output
    clf = TextClassifier(tmp_path / "unrolled" / "student_int8.tflite")
    probs = clf.probabilities(texts[:20])
    assert clf.batchable and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.abs(np.concatenate([clf.probabilities([t]) for t in texts[:20]]) - probs).max() <= 1e-5
