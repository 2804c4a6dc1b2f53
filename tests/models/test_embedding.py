"""Embedding compression (kdedge/models/embedding.py) on a toy wordavg student: 26 words, width 8, max_len 12.

The student is trained a few epochs on the conftest sentences, whose label is
decided by the sentiment words alone, so a correct importance ranks them first.
"""

import numpy as np
import pytest

from converters import keras_to_tflite
from kdedge.errors import StageInputError
from kdedge.models.embedding import (PROJECTION, add_oov_buckets, embedding_bytes, embedding_table, factorize_embedding,
                                     prune_vocab, reconstruction_errors, tflite_embedding_tables)
from kdedge.models.importance import word_importance
from kdedge.models.student import build_student, load_student, save_student
from kdedge.runtime import TFLiteModel
from kdedge.stages.student import StudentConfig
from kdedge.text.tokenizer import HashedWordTokenizer, WordTokenizer, fnv1a32, load_tokenizer
from tests.support import FILLER, NEGATIVE, POSITIVE, epochs_of, fit_steps, make_sentences

MAX_LEN, DIM = 12, 8
SENTIMENT = POSITIVE + NEGATIVE


def _predict(model, ids):
    return model(ids, training=False).numpy()


@pytest.fixture(scope="module")
def trained():
    """(tokenizer, trained wordavg student, train texts)."""

    rows = make_sentences(256, seed=3)
    texts, labels = [t for t, _ in rows], np.array([y for _, y in rows], dtype=np.int32)
    tok = WordTokenizer.build(texts, MAX_LEN, vocab_size=100)
    assert len(tok.vocab) == 2 + len(set(SENTIMENT + FILLER))
    model = build_student(StudentConfig(arch="wordavg", max_len=MAX_LEN, embed_dim=DIM, hidden=8, dropout=0.0),
                          len(tok.vocab))
    x = tok.encode(texts)
    fit_steps(model, epochs_of(x, labels, 15), lr=2e-2)
    assert (_predict(model, x).argmax(1) == labels).mean() > 0.9  # it learned the task
    return tok, model, texts


def test_fnv1a32_matches_the_spec_vectors():
    # Test vectors of the FNV reference (Fowler/Noll/Vo), 32-bit FNV-1a.
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_hashed_tokenizer_ids_and_json_round_trip(tmp_path):
    tok = HashedWordTokenizer(["[PAD]", "[UNK]", "good", "film"], max_len=6, buckets=4)
    ids = tok.encode(["Good ZEBRA film [MASK] zebra"])[0]
    zebra = 4 + fnv1a32("zebra") % 4  # lower-cased before hashing
    assert ids.tolist() == [2, zebra, 3, 1, zebra, 0]
    tok.save(tmp_path / "hashed.json")
    assert load_tokenizer(tmp_path / "hashed.json").to_dict() == tok.to_dict()
    assert tok.to_dict()["format"] == "kdedge-word-tokenizer/2" and tok.num_ids == 8
    with pytest.raises(StageInputError):  # the /1 loader refuses a /2 file rather than mis-tokenizing it
        WordTokenizer.load(tmp_path / "hashed.json")

    old = WordTokenizer(["[PAD]", "[UNK]", "good"], max_len=4)
    old.save(tmp_path / "old.json")
    loaded = load_tokenizer(tmp_path / "old.json")
    assert loaded.buckets == 0 and loaded.to_dict() == old.to_dict()
    assert loaded.encode(["good zebra"]).tolist() == old.encode(["good zebra"]).tolist() == [[2, 1, 0, 0]]


def _surviving(tok_new, texts):
    return [t for t in texts if all(w in tok_new.index for w in tok_new.tokens(t))]


def test_prune_by_frequency_keeps_outputs_and_maps_removed_words_to_unk(trained):
    tok, model, texts = trained
    new_tok, new_model = prune_vocab(tok, model, keep=16)
    assert new_tok.vocab == tok.vocab[:16]  # the vocabulary is frequency-sorted already
    assert embedding_table(new_model).shape == (16, DIM) and embedding_table(model).shape[0] == len(tok.vocab)
    kept = _surviving(new_tok, texts)
    assert len(kept) > 10
    np.testing.assert_array_equal(_predict(new_model, new_tok.encode(kept)), _predict(model, tok.encode(kept)))
    removed = tok.vocab[20]
    assert new_tok.encode([f"the {removed}"])[0, :2].tolist() == [new_tok.index["the"], 1]
    # A pruned word behaves exactly as [UNK] did in the original model.
    original = tok.encode([f"the film {removed}"])
    original[original == tok.index[removed]] = 1
    np.testing.assert_array_equal(_predict(new_model, new_tok.encode([f"the film {removed}"])),
                                  _predict(model, original))


def test_prune_into_hash_buckets(trained):
    tok, model, texts = trained
    new_tok, new_model = prune_vocab(tok, model, keep=14, by="frequency", texts=texts, buckets=3)
    table, old = embedding_table(new_model), embedding_table(model)
    assert table.shape == (17, DIM) and new_tok.num_ids == 17
    removed = [w for w in tok.vocab[2:] if w not in new_tok.index]
    assert len(removed) == len(tok.vocab) - 14
    for b in range(3):
        members = [tok.index[w] for w in removed if fnv1a32(w) % 3 == b]
        expected = old[members].mean(axis=0) if members else old[1]
        np.testing.assert_allclose(table[14 + b], expected, atol=1e-6)
    word = removed[0]
    assert new_tok.encode([word])[0, 0] == 14 + fnv1a32(word) % 3
    kept = _surviving(new_tok, texts)
    np.testing.assert_array_equal(_predict(new_model, new_tok.encode(kept)), _predict(model, tok.encode(kept)))

    grown_tok, grown = add_oov_buckets(tok, model, 2)  # nothing pruned: unchanged outputs, OOV -> [UNK]'s row
    x = grown_tok.encode(["the zebra is good", "dull quokka"])
    assert (x >= len(tok.vocab)).any()
    np.testing.assert_allclose(_predict(grown, x), _predict(model, tok.encode(["the zebra is good", "dull quokka"])),
                               atol=1e-6)


def test_importance_ranks_decisive_words_above_filler(trained):
    tok, model, texts = trained
    imp = word_importance(model, tok, texts, batch_size=256)
    assert imp.shape == (len(tok.vocab),) and imp[0] == imp[1] == 0
    sentiment, filler = [imp[tok.index[w]] for w in SENTIMENT], [imp[tok.index[w]] for w in FILLER]
    assert min(sentiment) > max(filler)

    # Teacher-measured: a teacher that is sure of the label.
    labels = np.array([y for _, y in make_sentences(256, seed=3)])
    teacher = np.stack([-4.0 * (2 * labels - 1), 4.0 * (2 * labels - 1)], axis=1)
    imp_t = word_importance(model, tok, texts, teacher_logits=teacher, batch_size=256)
    assert min(imp_t[tok.index[w]] for w in SENTIMENT) > max(imp_t[tok.index[w]] for w in FILLER)
    new_tok, _ = prune_vocab(tok, model, keep=2 + len(SENTIMENT), by="importance", importance=imp_t)
    assert sorted(new_tok.vocab[2:]) == sorted(SENTIMENT)


def test_factorized_embedding(trained, tmp_path):
    tok, model, texts = trained
    x = tok.encode(texts[:64])
    full, error = factorize_embedding(model, DIM)
    assert error < 1e-6
    np.testing.assert_allclose(_predict(full, x), _predict(model, x), atol=1e-5)

    low, error2 = factorize_embedding(model, 2)
    errors = reconstruction_errors(embedding_table(model), range(1, DIM + 1))
    assert errors[2] == pytest.approx(error2) and errors[1] > errors[2] > errors[4] > errors[DIM] - 1e-9
    rows = len(tok.vocab)
    assert embedding_bytes(model)["embedding_params"] == rows * DIM
    assert embedding_bytes(low)["embedding_params"] == rows * 2 + 2 * DIM
    assert low.count_params() == model.count_params() - rows * DIM + rows * 2 + 2 * DIM
    assert low.get_layer("embedding").output_dim == 2 and low.get_layer(PROJECTION).get_weights()[0].shape == (2, DIM)

    save_student(low, tmp_path / "low.keras")  # plain Keras layers: reloads in safe mode
    np.testing.assert_allclose(_predict(load_student(tmp_path / "low.keras"), x), _predict(low, x), atol=1e-6)


@pytest.mark.parametrize("rewrite", ["pruned", "factorized"])
def test_rewritten_models_convert_and_track_keras(trained, rewrite):
    tok, model, texts = trained
    if rewrite == "pruned":
        tok, model = prune_vocab(tok, model, keep=16, buckets=2)
    else:
        model, _ = factorize_embedding(model, 4)
    x = tok.encode(texts[:24])
    reference = _predict(model, x)

    def representative():
        for row in x:
            yield [row[None]]

    for mode in ("float32", "int8"):
        content = keras_to_tflite(model, mode, representative if mode == "int8" else None)
        (table,) = tflite_embedding_tables(content)
        assert table["dtype"] == ("int8" if mode == "int8" else "float32")
        assert table["shape"] == (embedding_table(model).shape[0], model.get_layer("embedding").output_dim)
        ops = [op["op_name"] for op in TFLiteModel(content=content).interpreter._get_ops_details()]
        assert "SHAPE" not in ops  # the projection is one FULLY_CONNECTED: projection, hidden, logits
        assert ops.count("FULLY_CONNECTED") == (3 if rewrite == "factorized" else 2)
        runner = TFLiteModel(content=content)
        got = np.concatenate([runner({"input_ids": row[None]}) for row in x])
        if mode == "float32":
            np.testing.assert_allclose(got, reference, atol=1e-5)
        else:
            assert np.abs(got - reference).max() < 0.1 * np.abs(reference).max()
            assert (got.argmax(1) == reference.argmax(1)).mean() >= 0.9


@pytest.mark.parametrize("arch", ["cnn", "bilstm", "transformer"])
def test_rewrites_work_for_every_arch(arch):
    """Pruning is exact and full-rank factorization reproduces the outputs, whatever follows the table."""
    rng = np.random.default_rng(0)
    vocab = ["[PAD]", "[UNK]"] + [f"w{i}" for i in range(30)]
    tok = WordTokenizer(vocab, MAX_LEN)
    cfg = StudentConfig(arch=arch, max_len=MAX_LEN, embed_dim=DIM, filters=4, hidden=8, lstm_units=4, layers=1,
                        heads=2, ff_dim=8)
    model = build_student(cfg, len(vocab), embeddings=rng.normal(0, 0.5, (len(vocab), DIM)).astype(np.float32))
    texts = [" ".join(f"w{i}" for i in rng.integers(0, 12, size=rng.integers(2, MAX_LEN))) for _ in range(8)]
    new_tok, pruned = prune_vocab(tok, model, keep=14)
    np.testing.assert_array_equal(_predict(pruned, new_tok.encode(texts)), _predict(model, tok.encode(texts)))
    full, _ = factorize_embedding(model, DIM)
    np.testing.assert_allclose(_predict(full, tok.encode(texts)), _predict(model, tok.encode(texts)), atol=1e-5)
