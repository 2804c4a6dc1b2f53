"""Shared test helpers: one synthetic task, tiny real models, the tiny pipeline's flags.

Everything is small enough for 2 CPU cores: a 2-layer, hidden-32 BERT with a
~50-word WordPiece vocabulary, a few hundred synthetic review sentences whose
label follows from their sentiment words, and toy students (width 8, max_len 12)
on id rows whose label is whether token 2 or 3 occurs.
"""

from __future__ import annotations

import random

import kdedge  # noqa: F401  (TF_USE_LEGACY_KERAS before any TensorFlow import)
import numpy as np

POSITIVE = ["good", "great", "wonderful", "moving", "funny", "brilliant"]
NEGATIVE = ["bad", "awful", "boring", "dull", "terrible", "weak"]
FILLER = ["the", "film", "movie", "is", "a", "story", "acting", "plot", "was", "really", "quite", "and"]
MAX_LEN = 12  # the toy students' sequence length


def make_sentences(n: int, seed: int) -> list[tuple[str, int]]:
    """``n`` (sentence, label) pairs; the label is the polarity of the sentiment words."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 9))]
        for _ in range(rng.randint(1, 2)):
            words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if label else NEGATIVE))
        rows.append((" ".join(words), label))
    return rows


def write_sst2(folder, n_train: int = 240, n_eval: int = 64) -> None:
    """GLUE SST-2 layout: ``SST-2/{train,dev}.tsv`` with header and trailing space."""
    d = folder / "SST-2"
    d.mkdir(parents=True, exist_ok=True)
    for name, n, seed in (("train.tsv", n_train, 1), ("dev.tsv", n_eval, 2)):
        lines = ["sentence\tlabel"] + [f"{s} \t{y}" for s, y in make_sentences(n, seed)]
        (d / name).write_text("\n".join(lines) + "\n")


def build_tiny_teacher(folder) -> None:
    """A real HF TF BERT checkpoint (tf_model.h5 + WordPiece vocab), untrained, tiny."""
    from transformers import BertConfig, BertTokenizerFast, TFBertForSequenceClassification

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + sorted(set(POSITIVE + NEGATIVE + FILLER))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=2,
                        # No dropout: a resumed run can then be compared exactly with an uninterrupted one.
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    import tensorflow as tf
    tf.keras.utils.set_random_seed(0)
    model = TFBertForSequenceClassification(config)
    model(model.dummy_inputs)
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))


def fit_steps(model, batches, lr: float = 1e-2) -> list[float]:
    """Plain cross-entropy GradientTape steps (Adam, ``lr``), one training-mode call per batch; the losses."""
    import tensorflow as tf
    optimizer = tf.keras.optimizers.Adam(lr)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(yb, logits, from_logits=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    return [float(step(xb, yb)) for xb, yb in batches]


def epochs_of(x, y, epochs: int, batch: int = 32):
    """``epochs`` passes over ``(x, y)`` in order, in batches of ``batch``."""
    return ((x[i:i + batch], y[i:i + batch]) for _ in range(epochs) for i in range(0, len(x), batch))


def tiny_flags(data_dir, teacher_init, cache):
    return ["--dataset", "sst2", "--data-dir", str(data_dir), "--teacher", str(teacher_init),
            "--max-len", "16", "--teacher-epochs", "3", "--teacher-batch-size", "16", "--teacher-lr", "1e-3",
            "--vocab-size", "100", "--embed-dim", "16", "--filters", "8", "--epochs", "6", "--batch-size", "16",
            "--calibration-examples", "50", "--check-examples", "64", "--min-runs", "20", "--warmup", "2",
            "--time-cap", "0.2", "--threads", "1", "--xnnpack", "on,off", "--lengths", "8",
            "--cache-dir", str(cache)]


def tiny_student_config(arch: str, max_len: int = MAX_LEN, **overrides):
    """A toy student config (width 8) of ``arch``."""
    from kdedge.stages.student import StudentConfig
    return StudentConfig(**{"arch": arch, "max_len": max_len, "embed_dim": 8, "filters": 4, "hidden": 8,
                            "lstm_units": 8, "layers": 2, "heads": 2, "ff_dim": 16, **overrides})


def token_ids(n: int = 16, max_len: int = MAX_LEN, vocab: int = 50, seed: int = 0) -> np.ndarray:
    """``n`` rows of random ids in ``[2, vocab)`` with trailing padding (each row 1..max_len real tokens)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, vocab, size=(n, max_len)).astype(np.int32)
    for row, length in enumerate(rng.integers(1, max_len + 1, size=n)):
        ids[row, length:] = 0
    return ids


def synthetic_task(n: int, seed: int, max_len: int = MAX_LEN, vocab: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """The toy task: :func:`token_ids` rows; the label is whether token 2 or 3 occurs."""
    ids = token_ids(n, max_len, vocab, seed)
    return ids, np.isin(ids, [2, 3]).any(axis=1).astype(np.int32)


def representative(rows: np.ndarray):
    """A converter's representative dataset over ``rows``: one ``[row[None]]`` per example."""
    def gen():
        for row in rows:
            yield [row[None]]
    return gen


def file_hashes(folder) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path: a folder's contents, byte for byte."""
    import hashlib
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def incomplete_stages(run) -> list[str]:
    """``"<stage> complete without <file>"`` for each stage folder of the run folder ``run`` that holds its
    completion marker yet lacks one of its files (empty when every complete-looking stage is whole)."""
    from kdedge import layout

    files = {"data": (layout.TRAIN, layout.EVAL, layout.STATS), "teacher": (layout.TEACHER_MODEL, layout.METRICS),
             "student": (layout.TOKENIZER, layout.STUDENT),
             "distill": (layout.STUDENT, layout.TOKENIZER, layout.HISTORY, layout.METRICS),
             "export": (layout.MANIFEST, layout.TOKENIZER), "bench": (layout.REPORT_JSON, layout.REPORT_MD)}
    return [f"{stage} complete without {name}" for stage, names in files.items()
            if layout.is_complete(run / stage) for name in names if not (run / stage / name).exists()]


def refused_in_one_line(main, argv: list[str], capsys) -> str:
    """Run the CLI ``main(argv)``, expect exit code 2 and exactly one line on stderr; return that line."""
    import pytest

    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]
