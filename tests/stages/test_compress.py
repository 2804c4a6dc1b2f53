"""`kdedge compress` and `kdedge export --compress`: variants of the tiny pipeline's student, and the gate."""

import json
import shutil

import numpy as np
import pytest

from kdedge.cli import main
from kdedge.stages.compress import parse_variant, slug
from kdedge.errors import ConfigError

VARIANTS = ("ptq", "qat", "prune=0.5+ptq", "prune=2:4+qat", "cluster=4+qat", "vocab=16+ptq",
            "vocabf=16+rank=4+ptq")


@pytest.fixture(scope="module")
def compressed(pipeline_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("compress") / "c"
    main(["compress", "--distill-dir", str(pipeline_run / "distill"), "--data", str(pipeline_run / "data"),
          "--teacher-dir", str(pipeline_run / "teacher"), "--out", str(out), "--variants", ",".join(VARIANTS),
          "--max-examples", "200", "--batch-size", "16", "--epochs", "2", "--lr", "2e-3",
          "--calibration-examples", "50", "--importance-texts", "100", "--cache-dir",
          str(pipeline_run.parent / "cache")])
    return out


@pytest.fixture(scope="module")
def exported(pipeline_run, compressed, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "e"
    main(["export", "--distill-dir", str(pipeline_run / "distill"), "--teacher-dir", str(pipeline_run / "teacher"),
          "--data", str(pipeline_run / "data"), "--compress-dir", str(compressed), "--out", str(out),
          "--calibration-examples", "50", "--check-examples", "64", "--min-retention", "0.5",
          "--sensitivity", "--keep-float", "1"])
    return out


@pytest.mark.parametrize("spec, message", [
    ("int4", "unknown step"), ("prune=0.5", "end with exactly one"), ("ptq+qat", "end with exactly one"),
    ("rank=4+vocab=40+ptq", "order"), ("prune=0.5+cluster=8+qat", "do not combine"), ("rank=8+qat", "rank=R"),
    ("prune=1.5+ptq", "bad value"), ("cluster=0+ptq", "bad value"), ("qat=3", "takes no value"),
])


def test_bad_variants_are_refused_with_the_reason(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_variant(spec)


def test_variant_names_are_file_safe():
    assert parse_variant("vocab=8000+buckets=64+qat") == [("vocab", "8000"), ("buckets", "64"), ("qat", None)]
    assert slug("prune=2:4+qat") == "prune2of4_qat" and slug("prune=0.5+ptq") == "prune0p5_ptq"


def test_every_variant_is_built_fine_tuned_and_saved(compressed):
    manifest = json.loads((compressed / "manifest.json").read_text())
    assert [v["spec"] for v in manifest["variants"]] == list(VARIANTS)
    v = {x["spec"]: x for x in manifest["variants"]}
    for spec in VARIANTS:
        folder = compressed / slug(spec)
        assert (folder / "student.keras").is_file() and (folder / "tokenizer.json").is_file()
        assert (folder / "qat.weights.h5").is_file() == spec.endswith("qat")
        assert 0 <= v[spec]["keras_eval_accuracy"] <= 1
    # The pruned table is half zeros after stripping; 2:4 too; clustering leaves <= 4 values per weight.
    table = next(k for k in v["prune=0.5+ptq"]["sparsity"] if k.startswith("embedding"))
    assert v["prune=0.5+ptq"]["sparsity"][table]["zeros"] >= 0.45
    assert v["prune=2:4+qat"]["sparsity"][table]["zeros"] >= 0.45
    assert v["cluster=4+qat"]["sparsity"][table]["unique"] <= 4
    assert v["ptq"]["sparsity"][table]["zeros"] < 0.1
    # Vocabulary pruning to 16 rows (the MediaPipe tokenizer keeps its format); a rank-4 factorized table is smaller.
    assert v["vocab=16+ptq"]["vocab_rows"] == 16
    tok = json.loads((compressed / slug("vocab=16+ptq") / "tokenizer.json").read_text())
    assert tok["format"] == "kdedge-word-tokenizer/3" and len(tok["vocab"]) == 16
    assert tok["vocab"][:2] == ["<PAD>", "<UNKNOWN>"]
    assert v["vocabf=16+rank=4+ptq"]["params"] < v["vocab=16+ptq"]["params"] < v["ptq"]["params"]


def test_export_converts_every_variant_and_records_the_gate(exported):
    from kdedge.runtime import TFLiteModel

    manifest = json.loads((exported / "manifest.json").read_text())
    names = {m["name"]: m for m in manifest["models"]}
    for spec in VARIANTS:
        entry = names[f"variant_{slug(spec)}"]
        assert entry["variant"] == spec and (exported / entry["file"]).is_file()
        assert (exported / entry["tokenizer"]).is_file()
        details = TFLiteModel(exported / entry["file"]).interpreter.get_tensor_details()
        assert any(d["dtype"] == np.int8 for d in details), spec  # ptq and qat variants are int8
    gate = manifest["gate"]
    assert gate["reference"] == "student_float32.tflite" and gate["min_retention"] == 0.5
    rows = {r["name"]: r for r in gate["models"]}
    assert set(rows) == {m["name"] for m in manifest["models"] if m["kind"] == "student"}
    assert rows["student_float32"]["flip_rate"] == 0.0 and rows["student_float32"]["retention"] == 1.0
    for r in rows.values():
        assert r["retention"] >= 0.5 and 0 <= r["flip_rate"] <= 1
    assert not (exported.parent / ".e.partial").exists()


def test_bench_lists_variants_with_their_flip_rate(exported, pipeline_run, tmp_path):
    main(["bench", "--export-dir", str(exported), "--data", str(pipeline_run / "data"), "--out", str(tmp_path / "b"),
          "--threads", "1", "--xnnpack", "on", "--lengths", "8", "--min-runs", "20", "--time-cap", "0.1",
          "--no-probe", "--models", "student_float32,variant_ptq,variant_vocab16_ptq"])
    rows = {r["name"]: r for r in json.loads((tmp_path / "b" / "report.json").read_text())["models"]}
    assert rows["student_float32"]["flip_rate_vs_float_student"] == 0.0
    assert 0 <= rows["variant_vocab16_ptq"]["flip_rate_vs_float_student"] <= 1
    assert rows["variant_ptq"]["gzip_bytes"] < rows["student_float32"]["gzip_bytes"]


def test_hash_buckets_are_refused_for_the_mediapipe_tokenizer(pipeline_run, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["compress", "--distill-dir", str(pipeline_run / "distill"), "--data", str(pipeline_run / "data"),
              "--teacher-dir", str(pipeline_run / "teacher"), "--out", str(tmp_path / "c"),
              "--variants", "vocab=16+buckets=8+ptq"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no hash buckets" in err[0] and "--tokenizer word" in err[0]
    assert not (tmp_path / "c").exists()


def test_gate_refuses_a_damaged_variant_and_writes_nothing(pipeline_run, compressed, tmp_path, capsys):
    from kdedge.models.student import load_student, save_student

    damaged = tmp_path / "c"
    shutil.copytree(compressed, damaged)
    model = load_student(damaged / "ptq" / "student.keras")
    kernel, bias = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([-kernel, -bias])  # every prediction flips
    save_student(model, damaged / "ptq" / "student.keras")
    out = tmp_path / "e"
    with pytest.raises(SystemExit) as e:
        main(["export", "--distill-dir", str(pipeline_run / "distill"), "--data", str(pipeline_run / "data"),
              "--no-teacher", "--compress-dir", str(damaged), "--out", str(out), "--calibration-examples", "50",
              "--min-retention", "0.9"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "variant_ptq keeps" in err and "nothing written" in err
    assert not out.exists() and not (tmp_path / ".e.partial").exists()


def test_sensitivity_ranks_layers_and_mixed_precision_keeps_the_worst_float(exported):
    from kdedge.runtime import TFLiteModel

    layers = json.loads((exported / "sensitivity.json").read_text())
    assert len(layers) >= 3 and all(0 <= r["rel_mse"] and -1 <= r["cosine"] <= 1 for r in layers)
    assert [r["rel_mse"] for r in layers] == sorted((r["rel_mse"] for r in layers), reverse=True)
    assert "| 1 |" in (exported / "sensitivity.md").read_text()
    manifest = json.loads((exported / "manifest.json").read_text())
    mixed = next(m for m in manifest["models"] if m["name"] == "student_int8_mixed")
    assert mixed["float_nodes"] == [layers[0]["tensor"]]
    assert mixed["check"]["label_agreement_with_keras"] >= 0.9
    int8 = next(m for m in manifest["models"] if m["name"] == "student_int8")

    def conversions(m):  # QUANTIZE / DEQUANTIZE ops: where the file switches between int8 and float
        ops = [o["op_name"] for o in TFLiteModel(exported / m["file"]).interpreter._get_ops_details()]
        return sum(op in ("QUANTIZE", "DEQUANTIZE") for op in ops)
    assert conversions(mixed) > conversions(int8)  # the worst layer runs in float
