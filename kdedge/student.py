"""Student stage: a tiny tf-keras model on int32 token ids, TFLite-builtin only.

Architectures (``--arch``):

- ``cnn``: Kim (2014)-style CNN -- embedding, parallel Conv1D of widths 3/4/5,
  global max pooling, dropout, dense logits.
- ``wordavg``: average of the non-padding word embeddings, one hidden layer.

Every op lowers to a TFLite builtin (GATHER, CONV_2D, MAX/SUM, FULLY_CONNECTED,
...), so the model runs on a phone's plain LiteRT without the Flex delegate.
No Lambda layers: the one custom layer is a registered class, loaded with
``safe_mode`` on.

Output folder (``kdedge student --out DIR``)::

    DIR/tokenizer.json  the WordTokenizer contract (see kdedge.tokenizer)
    DIR/student.keras   the initialized, untrained model
    DIR/config.json     the resolved StudentConfig (written last)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from kdedge.errors import ConfigError

ARCHS = ("cnn", "wordavg")


@dataclasses.dataclass
class StudentConfig:
    """Settings of the student stage; each field is a ``kdedge student`` flag."""

    arch: str = "cnn"  # --arch
    max_len: int = 64  # --max-len: same cap as the teacher; SST-2 phrases are short
    vocab_size: int = 16000  # --vocab-size: SST-2 train has ~15k distinct tokens
    embed_dim: int = 64  # --embed-dim: the embedding table is most of the bytes (16k x 64 int8 = 1 MB)
    filters: int = 64  # --filters: per CNN kernel width
    hidden: int = 64  # --hidden: wordavg hidden layer
    dropout: float = 0.3  # --dropout
    embed_init: str = "teacher-context"  # --embed-init: see teacher_embeddings(); or random
    seed: int = 0  # --seed

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"--arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        for flag, value in (("--max-len", self.max_len), ("--vocab-size", self.vocab_size),
                            ("--embed-dim", self.embed_dim), ("--filters", self.filters),
                            ("--hidden", self.hidden)):
            if value < 1:
                raise ConfigError(f"{flag} must be >= 1, got {value}")
        if self.vocab_size < 3:
            raise ConfigError(f"--vocab-size must be >= 3, got {self.vocab_size}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.embed_init not in EMBED_INITS:
            raise ConfigError(f"--embed-init must be one of {', '.join(EMBED_INITS)}, got {self.embed_init!r}")


def _keras():
    import tensorflow as tf
    return tf.keras


def masked_mean_layer():
    """The registered ``MaskedMean`` layer class (built lazily: importing TF is slow)."""
    global _MaskedMean
    if _MaskedMean is None:
        keras = _keras()

        @keras.utils.register_keras_serializable(package="kdedge")
        class MaskedMean(keras.layers.Layer):
            """Mean of embeddings over positions whose token id is not padding (0)."""

            def call(self, inputs):
                import tensorflow as tf
                ids, emb = inputs
                mask = tf.cast(tf.not_equal(ids, 0), emb.dtype)[:, :, None]
                total = tf.reduce_sum(emb * mask, axis=1)
                count = tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
                return total / count

        _MaskedMean = MaskedMean
    return _MaskedMean


_MaskedMean = None


def build_student(cfg: StudentConfig, vocab_size: int, num_labels: int = 2,
                  embeddings: np.ndarray | None = None):
    """Build the student model for ``cfg.arch``.

    Args:
        cfg: architecture settings.
        vocab_size: rows of the embedding table (the tokenizer's vocab size).
        num_labels: output logits.
        embeddings: optional initial embedding table ``[vocab_size, embed_dim]``.

    Returns:
        An uncompiled ``tf.keras.Model`` from int32 ids ``[batch, max_len]`` to
        float logits ``[batch, num_labels]``.
    """
    import tensorflow as tf
    keras = _keras()
    tf.keras.utils.set_random_seed(cfg.seed)
    init = "uniform" if embeddings is None else keras.initializers.Constant(embeddings)
    ids = keras.Input(shape=(cfg.max_len,), dtype="int32", name="input_ids")
    emb = keras.layers.Embedding(vocab_size, cfg.embed_dim, embeddings_initializer=init, name="embedding")(ids)
    if cfg.arch == "cnn":
        x = keras.layers.Dropout(cfg.dropout / 2, name="embed_dropout")(emb)
        pooled = []
        for width in (3, 4, 5):
            c = keras.layers.Conv1D(cfg.filters, width, activation="relu", name=f"conv{width}")(x)
            pooled.append(keras.layers.GlobalMaxPooling1D(name=f"maxpool{width}")(c))
        x = keras.layers.Concatenate(name="concat")(pooled)
    else:
        x = masked_mean_layer()(name="masked_mean")([ids, emb])
        x = keras.layers.Dense(cfg.hidden, activation="relu", name="hidden")(x)
    x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_labels, name="logits")(x)
    return keras.Model(ids, logits, name=f"student_{cfg.arch}")


def load_student(path: str | Path):
    """Load a saved student with ``safe_mode`` on (no arbitrary code)."""
    masked_mean_layer()  # register the custom layer before deserializing
    return _keras().models.load_model(str(path), safe_mode=True, compile=False)


def save_student(model, path: str | Path) -> None:
    from kdedge.io import atomic_path
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(str(tmp))


EMBED_INITS = ("teacher-context", "teacher", "random")


def teacher_embeddings(teacher_dir: str | Path, vocab: list[str], dim: int, mode: str = "teacher-context",
                       seed: int = 0) -> np.ndarray:
    """Initial student embeddings distilled from the teacher, one row per student word.

    ``teacher``: the mean of the word's WordPiece input embeddings.
    ``teacher-context``: the fine-tuned teacher's last hidden states for the
    word fed alone (``[CLS] word [SEP]``), averaged over its pieces. After
    fine-tuning these carry the word's sentiment, not only its identity.

    PCA then projects the 384-d vectors to ``dim``: the student starts with
    the teacher's lexical knowledge instead of learning it from ~15k words.
    [PAD] is zero, [UNK] the mean.
    """
    from kdedge.teacher import load_teacher, predict_hidden

    model, tok = load_teacher(Path(teacher_dir))
    if mode == "teacher-context":
        vecs = predict_hidden(model, tok, vocab[2:])
    else:
        table = model.bert.embeddings.weight.numpy()
        pieces = tok(vocab[2:], add_special_tokens=False)["input_ids"]
        vecs = np.stack([table[ids].mean(axis=0) if ids else table[tok.unk_token_id] for ids in pieces])
    centered = vecs.astype(np.float64) - vecs.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    proj = centered @ vt[:dim].T
    if proj.shape[1] < dim:  # more dims asked than the teacher has: pad with small noise
        rng = np.random.default_rng(seed)
        proj = np.concatenate([proj, rng.normal(0, 1e-3, (len(proj), dim - proj.shape[1]))], axis=1)
    proj *= 0.05 / proj.std()  # Keras-like scale so Adam's first steps are not dwarfed
    out = np.zeros((len(vocab), dim), dtype=np.float32)
    out[2:] = proj
    out[1] = proj.mean(axis=0)
    return out


def run_student(data_dir: str | Path, out: str | Path, cfg: StudentConfig,
                teacher_dir: str | Path | None = None) -> dict:
    """Student stage: build the tokenizer and the initialized model in ``out``.

    ``teacher_dir`` (a teacher stage folder) is needed unless ``embed_init=random``.
    Returns the resolved config written to ``out/config.json``.
    """
    from kdedge.data import Split
    from kdedge.io import require_files, write_json
    from kdedge.tokenizer import WordTokenizer

    cfg.validate()
    data_dir = require_files(data_dir, ["train.jsonl", "config.json"], "kdedge data")
    if cfg.embed_init != "random":
        if teacher_dir is None:
            raise ConfigError(f"--embed-init {cfg.embed_init} needs --teacher-dir (a `kdedge teacher` output folder)")
        teacher_dir = require_files(teacher_dir, ["config.json", "model/config.json"], "kdedge teacher")
    out = Path(out)
    texts = Split.from_jsonl(data_dir / "train.jsonl", "train").texts
    if (data_dir / "unlabeled.jsonl").exists():
        texts = texts + Split.from_jsonl(data_dir / "unlabeled.jsonl", "unlabeled").texts
    tokenizer = WordTokenizer.build(texts, cfg.max_len, cfg.vocab_size)
    emb = None
    if cfg.embed_init != "random":
        emb = teacher_embeddings(Path(teacher_dir) / "model", tokenizer.vocab, cfg.embed_dim, cfg.embed_init,
                                 cfg.seed)
    model = build_student(cfg, len(tokenizer.vocab), embeddings=emb)
    tokenizer.save(out / "tokenizer.json")
    save_student(model, out / "student.keras")
    resolved = {**dataclasses.asdict(cfg), "data": str(data_dir),
                "teacher": str(teacher_dir) if teacher_dir else None,
                "vocab_size_actual": len(tokenizer.vocab), "params": int(model.count_params())}
    write_json(out / "config.json", resolved)
    return resolved
