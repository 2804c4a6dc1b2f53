"""`kdedge merge`: distilled students averaged into one student file, exported, run by MediaPipe; refusals."""

import json

import numpy as np
import pytest
from mediapipe.tasks.python import text as mp_text
from mediapipe.tasks.python.core import base_options as mp_base

from kdedge.cli import main
from tests.support import refused_in_one_line

TEXTS = ["a great , moving film", "dull and far too long", "", "!!!", "Not GOOD at all", "café crème 🎬"]


@pytest.fixture(scope="module")
def merged(pipeline_run, tmp_path_factory):
    """Two tiny bilstm students (one student folder, distill seeds 0 and 1), merged; and the merge exported."""
    root = tmp_path_factory.mktemp("merge")
    data, teacher, cache = pipeline_run / "data", pipeline_run / "teacher", pipeline_run.parent / "cache"
    main(["student", "--data", str(data), "--teacher-dir", str(teacher), "--arch", "bilstm", "--max-len", "16",
          "--vocab-size", "100", "--embed-dim", "16", "--lstm-units", "8", "--hidden", "8", "--out",
          str(root / "student")])
    for seed in (0, 1):
        main(["distill", "--data", str(data), "--teacher-dir", str(teacher), "--student-dir", str(root / "student"),
              "--epochs", "2", "--batch-size", "16", "--seed", str(seed), "--cache-dir", str(cache),
              "--out", str(root / f"k{seed}")])
    main(["merge", "--member", str(root / "k0"), "--member", str(root / "k1"), "--cache-dir", str(cache),
          "--out", str(root / "m")])
    main(["export", "--distill-dir", str(root / "m"), "--data", str(data), "--no-teacher", "--modes",
          "float32,int8", "--calibration-examples", "50", "--check-examples", "64", "--out", str(root / "e")])
    return root


def _logits(folder, name, texts):
    from kdedge.models.student import load_student
    from kdedge.text.tokenizer import load_tokenizer
    from kdedge.training.distill import predict

    ids = load_tokenizer(folder / "tokenizer.json").encode(texts)
    return predict(load_student(folder / name), ids)


def test_merged_student_is_the_mean_of_its_members_and_so_is_its_twin(pipeline_run, merged):
    from kdedge.data import Split

    evals = Split.from_jsonl(pipeline_run / "data" / "eval.jsonl", "eval")
    texts = list(evals.texts) + TEXTS
    for name in ("student.keras", "baseline.keras"):
        z = [_logits(merged / f"k{s}", name, texts) for s in (0, 1)]
        assert not np.allclose(z[0], z[1], atol=1e-3)  # two different students
        assert np.abs(_logits(merged / "m", name, texts) - np.mean(z, axis=0)).max() <= 1e-5
    metrics = json.loads((merged / "m" / "metrics.json").read_text())
    mean = np.mean([_logits(merged / f"k{s}", "student.keras", list(evals.texts)) for s in (0, 1)], axis=0)
    assert metrics["eval_accuracy"] == pytest.approx(float((mean.argmax(1) == evals.labels).mean()))
    member = json.loads((merged / "k0" / "metrics.json").read_text())
    assert metrics["teacher_eval_accuracy"] == pytest.approx(member["teacher_eval_accuracy"])
    assert [m["eval_accuracy"] for m in metrics["members"]] == [
        json.loads((merged / f"k{s}" / "metrics.json").read_text())["eval_accuracy"] for s in (0, 1)]
    assert "baseline_eval_accuracy" in metrics
    config = json.loads((merged / "m" / "config.json").read_text())
    assert config["merged"] == [str((merged / f"k{s}").resolve()) for s in (0, 1)]


def test_exported_merge_is_unrolled_carries_metadata_and_mediapipe_agrees(merged):
    """The merged bilstm exports as the members' unrolled graphs side by side; the file's probabilities are the
    softmax of the mean of the members' Keras logits, and MediaPipe's TextClassifier returns kdedge's scores."""
    from kdedge import TextClassifier

    manifest = json.loads((merged / "e" / "manifest.json").read_text())
    names = {m["name"] for m in manifest["models"]}
    assert {"student_float32", "student_int8", "baseline_float32"} <= names
    z = np.mean([_logits(merged / f"k{s}", "student.keras", TEXTS) for s in (0, 1)], axis=0)
    want = np.exp(z - z.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    for mode in ("float32", "int8"):
        path = merged / "e" / f"student_{mode}.tflite"
        ours = TextClassifier(path)
        probs = ours.probabilities(TEXTS)
        if mode == "float32":
            assert np.abs(probs - want).max() <= 1e-5
        options = mp_text.TextClassifierOptions(base_options=mp_base.BaseOptions(model_asset_path=str(path)))
        mp = mp_text.TextClassifier.create_from_options(options)
        for text, p in zip(TEXTS, probs):
            scores = np.full(p.shape[0], np.nan)
            for c in mp.classify(text).classifications[0].categories:
                scores[c.index] = c.score
            assert np.abs(scores - p).max() <= 1e-5, (mode, text)


@pytest.mark.parametrize("case", ["one member", "same twice", "nested", "other tokenizer", "fused", "compress",
                                  "explain"])
def test_bad_merges_and_refusals_exit_2_with_one_line(pipeline_run, merged, tmp_path, capsys, case):
    import shutil

    data, k0, m = str(pipeline_run / "data"), str(merged / "k0"), str(merged / "m")
    if case == "other tokenizer":  # k1 with a vocabulary one word shorter
        shutil.copytree(merged / "k1", tmp_path / "k1x")
        tok = json.loads((tmp_path / "k1x" / "tokenizer.json").read_text())
        tok["vocab"] = tok["vocab"][:-1]
        (tmp_path / "k1x" / "tokenizer.json").write_text(json.dumps(tok))
    argv = {
        "one member": ["merge", "--member", k0, "--out", str(tmp_path / "e")],
        "same twice": ["merge", "--member", k0, "--member", k0 + "/", "--out", str(tmp_path / "e")],
        "nested": ["merge", "--member", k0, "--member", m, "--out", str(tmp_path / "e")],
        "other tokenizer": ["merge", "--member", k0, "--member", str(tmp_path / "k1x"), "--out", str(tmp_path / "e")],
        "fused": ["export", "--distill-dir", m, "--data", data, "--no-teacher", "--lstm", "fused",
                  "--out", str(tmp_path / "e")],
        "compress": ["compress", "--distill-dir", m, "--data", data, "--teacher-dir", str(pipeline_run / "teacher"),
                     "--out", str(tmp_path / "e")],
        "explain": ["explain", "--export-dir", str(merged / "e"), "--teacher-dir", str(pipeline_run / "teacher"),
                    "--distill-dir", m, "--data", data, "--out", str(tmp_path / "e")],
    }[case]
    line = refused_in_one_line(main, argv, capsys)
    assert {"one member": "two or more", "same twice": "twice", "nested": "cannot be a member",
            "other tokenizer": "tokenizer differs", "fused": "converts only unrolled", "compress": "merged student",
            "explain": "merged student"}[case] in line
    assert not (tmp_path / "e").exists()
