"""`kdedge ensemble`: two tiny teachers averaged, used as distill's teacher, refused where one model is needed."""

import json

import numpy as np
import pytest

from kdedge.cli import main
from tests.support import refused_in_one_line


@pytest.fixture(scope="module")
def ensemble(pipeline_run, tiny_teacher_init, tmp_path_factory):
    """The tiny pipeline's teacher and a second one (another seed and rate), averaged."""
    root = tmp_path_factory.mktemp("ensemble")
    cache = pipeline_run.parent / "cache"
    main(["teacher", "--data", str(pipeline_run / "data"), "--teacher", str(tiny_teacher_init), "--max-len", "16",
          "--epochs", "2", "--batch-size", "16", "--lr", "2e-3", "--seed", "1", "--cache-dir", str(cache),
          "--out", str(root / "t2")])
    main(["ensemble", "--data", str(pipeline_run / "data"), "--member", str(pipeline_run / "teacher"),
          "--member", str(root / "t2"), "--cache-dir", str(cache), "--out", str(root / "ens")])
    return root


def test_ensemble_is_the_mean_of_its_members_logits(pipeline_run, ensemble, tiny_teacher_init):
    from kdedge.data import Split
    from kdedge.models.teacher import load_teacher
    from kdedge.training.labeling import predict_logits

    evals = Split.from_jsonl(pipeline_run / "data" / "eval.jsonl", "eval")
    members = [pipeline_run / "teacher", ensemble / "t2"]
    z = [predict_logits(*load_teacher(m / "model"), list(evals.texts), 16) for m in members]
    assert not np.allclose(z[0], z[1], atol=1e-3)  # two different teachers
    metrics = json.loads((ensemble / "ens" / "metrics.json").read_text())
    mean = np.mean(z, axis=0)
    assert metrics["eval"]["accuracy"] == pytest.approx(float((mean.argmax(1) == evals.labels).mean()))
    for m, zi, folder in zip(metrics["members"], z, members):
        assert m["folder"] == str(folder.resolve())
        assert m["eval"]["accuracy"] == pytest.approx(float((zi.argmax(1) == evals.labels).mean()))
    # The mean has its own namespace in the store, beside the members'.
    store = pipeline_run.parent / "cache" / "teacher_logits"
    assert (store / metrics["store_namespace"]).is_dir()
    assert len([p for p in store.iterdir() if p.is_dir()]) >= 3


def test_distill_learns_from_the_ensemble_and_caches_its_rows(pipeline_run, ensemble, tmp_path, capsys):
    common = ["--data", str(pipeline_run / "data"), "--teacher-dir", str(ensemble / "ens"), "--student-dir",
              str(pipeline_run / "student"), "--epochs", "1", "--batch-size", "16", "--cache-dir",
              str(pipeline_run.parent / "cache")]
    main(["distill", *common, "--out", str(tmp_path / "k1")])
    first = json.loads((tmp_path / "k1" / "metrics.json").read_text())
    ens = json.loads((ensemble / "ens" / "metrics.json").read_text())
    assert first["teacher_eval_accuracy"] == pytest.approx(ens["eval"]["accuracy"])
    main(["distill", *common, "--out", str(tmp_path / "k2")])
    second = json.loads((tmp_path / "k2" / "metrics.json").read_text())
    assert second["teacher_logits_cached"] and second["teacher_texts_labeled"] == 0
    assert second["eval_accuracy"] == first["eval_accuracy"]
    # `kdedge label` on an ensemble finds every row there now.
    capsys.readouterr()
    main(["label", "--data", str(pipeline_run / "data"), "--teacher-dir", str(ensemble / "ens"), "--runner",
          "inprocess", "--cache-dir", str(pipeline_run.parent / "cache"), "--json"])
    s = json.loads(capsys.readouterr().out)
    assert s["unique_missing"] == 0 and s["still_missing"] == 0 and len(s["members"]) == 2


@pytest.mark.parametrize("case", ["one member", "same twice", "nested", "missing", "export", "explain"])
def test_bad_ensembles_and_refusals_exit_2_with_one_line(pipeline_run, ensemble, tmp_path, capsys, case):
    data, t1, ens = str(pipeline_run / "data"), str(pipeline_run / "teacher"), str(ensemble / "ens")
    argv = {
        "one member": ["ensemble", "--data", data, "--member", t1, "--out", str(tmp_path / "e")],
        "same twice": ["ensemble", "--data", data, "--member", t1, "--member", t1 + "/", "--out", str(tmp_path / "e")],
        "nested": ["ensemble", "--data", data, "--member", t1, "--member", ens, "--out", str(tmp_path / "e")],
        "missing": ["ensemble", "--data", data, "--member", t1, "--member", str(tmp_path / "nope"),
                    "--out", str(tmp_path / "e")],
        "export": ["export", "--distill-dir", str(pipeline_run / "distill"), "--teacher-dir", ens, "--data", data,
                   "--out", str(tmp_path / "e")],
        "explain": ["explain", "--export-dir", str(pipeline_run / "export"), "--teacher-dir", ens, "--distill-dir",
                    str(pipeline_run / "distill"), "--data", data, "--out", str(tmp_path / "e")],
    }[case]
    line = refused_in_one_line(main, argv, capsys)
    assert {"one member": "two or more", "same twice": "twice", "nested": "cannot be a member",
            "missing": "nope", "export": "ensemble", "explain": "ensemble"}[case] in line
    assert not (tmp_path / "e").exists()
