"""Student stage: a tiny tf-keras model on int32 token ids, TFLite-builtin only.

Architectures (``--arch``):

- ``cnn``: Kim (2014)-style CNN -- embedding, parallel Conv1D of widths 3/4/5,
  global max pooling, dropout, dense logits.
- ``wordavg``: average of the non-padding word embeddings, one hidden layer.
- ``bilstm``: Tang et al. (2019)'s distillation student -- a one-layer BiLSTM,
  masked max pooling over time, a ReLU layer, logits. The backward LSTM reads
  each row reversed within its length, so trailing padding never reaches it.
  Converts to two fused UNIDIRECTIONAL_SEQUENCE_LSTM ops (no WHILE loop) whose
  state tensors are batch 1 -- kdedge invokes TFLite one example at a time.
- ``transformer``: a tiny post-LN encoder (BERT's layout) -- token + learned
  position embeddings, ``--layers`` blocks of masked multi-head self-attention
  and a ReLU feed-forward, masked mean pooling, logits. Width = ``--embed-dim``.

Every op lowers to a TFLite builtin (GATHER, CONV_2D, MAX/SUM, FULLY_CONNECTED,
UNIDIRECTIONAL_SEQUENCE_LSTM, BATCH_MATMUL, SOFTMAX, ...), so the model runs on
a phone's plain LiteRT without the Flex delegate, in every quantization mode of
``converters.keras_to_tflite`` (int8 included). No Lambda layers: the custom
layers are registered classes, loaded with ``safe_mode`` on.

Measured on the 2-core dev CPU (shared with another job), max_len 64, vocab 16k,
embed_dim 64; latency = p50 of 200 single-example LiteRT calls (1 thread, real
lengths 5-40), median of 5 rounds; train = one Keras step, batch 64 (+-20% under
the shared load). (* = default)

    arch         setting            params  f32 MB  int8 MB  f32 ms  dyn ms  int8 ms  train ms
    cnn          filters 64 *        1.07M    4.30     1.09   0.064   0.021    0.019        23
    wordavg      hidden 64 *         1.03M    4.12     1.03   0.005   0.005    0.007         7
    bilstm       units 32 *          1.05M    4.22     1.07   0.21    0.18     1.04         39
    bilstm       units 48            1.07M    4.31     1.09   0.31    0.26     1.59         51
    bilstm       units 64            1.10M    4.41     1.12   0.44    0.35     2.15         79
    bilstm       units 128           1.24M    4.97     1.26   1.13    0.82     5.30        121
    transformer  1L 2 heads ff128    1.06M    4.27     1.10   0.080   0.057    0.27         39
    transformer  2L 2 heads ff128 *  1.10M    4.41     1.15   0.150   0.107    0.50         64
    transformer  2L 4 heads ff128    1.10M    4.41     1.15   0.183   0.139    0.62         88
    transformer  2L 4 heads ff256    1.13M    4.54     1.19   0.224   0.150    0.39         87

TFLite's integer LSTM kernel (int8 weights, int16 cell) is ~5x slower than its
float one: for ``bilstm`` prefer the ``dynamic`` export. The int8 transformer
is slower than float too: it splits into ~17 XNNPACK partitions (float: 1).

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

ARCHS = ("cnn", "wordavg", "bilstm", "transformer")


@dataclasses.dataclass
class StudentConfig:
    """Settings of the student stage; each field is a ``kdedge student`` flag."""

    arch: str = "cnn"  # --arch
    max_len: int = 64  # --max-len: same cap as the teacher; SST-2 phrases are short
    vocab_size: int = 16000  # --vocab-size: SST-2 train has ~15k distinct tokens
    embed_dim: int = 64  # --embed-dim: the embedding table is most of the bytes (16k x 64 int8 = 1 MB)
    filters: int = 64  # --filters: per CNN kernel width
    hidden: int = 64  # --hidden: wordavg hidden layer; bilstm ReLU layer after pooling (Tang et al.)
    lstm_units: int = 32  # --lstm-units: per direction; 0.21 ms float, 64 doubles it (int8 LSTM is ~5x float)
    layers: int = 2  # --layers: transformer blocks; each adds ~34k params and ~0.07 ms (float32)
    heads: int = 2  # --heads: 32-d heads; 4 heads have the same params but run ~20% slower
    ff_dim: int = 128  # --ff-dim: 2x the width; 256 adds 33k params and ~0.04 ms (float32)
    dropout: float = 0.3  # --dropout
    embed_init: str = "teacher-context"  # --embed-init: see teacher_embeddings(); or random
    seed: int = 0  # --seed

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"--arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        for flag, value in (("--max-len", self.max_len), ("--vocab-size", self.vocab_size),
                            ("--embed-dim", self.embed_dim), ("--filters", self.filters),
                            ("--hidden", self.hidden), ("--lstm-units", self.lstm_units),
                            ("--layers", self.layers), ("--heads", self.heads), ("--ff-dim", self.ff_dim)):
            if value < 1:
                raise ConfigError(f"{flag} must be >= 1, got {value}")
        if self.vocab_size < 3:
            raise ConfigError(f"--vocab-size must be >= 3, got {self.vocab_size}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.embed_init not in EMBED_INITS:
            raise ConfigError(f"--embed-init must be one of {', '.join(EMBED_INITS)}, got {self.embed_init!r}")
        if self.arch == "transformer" and self.embed_dim % self.heads:
            raise ConfigError(f"--heads must divide --embed-dim (the transformer width), got --heads {self.heads} "
                              f"and --embed-dim {self.embed_dim}")


def _keras():
    import tensorflow as tf
    return tf.keras


# Attention logits of padding keys are set this far below the row's best real key: exp(-30) ~ 1e-13, so a
# pad gets no weight in float, and the int8 softmax input range stays ~[-30, 0] (a 1e9 mask would leave
# int8 one step per ~4e6, i.e. no attention at all).
MASK_GAP = 30.0
LN_EPSILON = 1e-6


def masked_mean_layer():
    """The registered ``MaskedMean`` layer class (built lazily: importing TF is slow)."""
    return _custom_layers()["MaskedMean"]


def bilstm_layer():
    """The registered ``BiLSTMMaxPool`` layer class."""
    return _custom_layers()["BiLSTMMaxPool"]


def position_embedding_layer():
    """The registered ``PositionEmbedding`` layer class."""
    return _custom_layers()["PositionEmbedding"]


def transformer_block_layer():
    """The registered ``TransformerBlock`` layer class."""
    return _custom_layers()["TransformerBlock"]


_LAYERS: dict | None = None


def _custom_layers() -> dict:
    """Define and register every custom layer once; returns them by class name."""
    global _LAYERS
    if _LAYERS is None:
        _LAYERS = _define_layers()
    return _LAYERS


def _define_layers() -> dict:
    import uuid

    import tensorflow as tf
    keras = tf.keras
    register = keras.utils.register_keras_serializable(package="kdedge")

    def real_tokens(ids, dtype):
        return tf.cast(tf.not_equal(ids, 0), dtype)

    def layer_norm(x, gamma, beta):
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        var = tf.reduce_mean(tf.square(x - mean), axis=-1, keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + LN_EPSILON) * gamma + beta

    def dense(x, kernel, bias):
        """``[batch, T, d] @ [d, k]`` as reshape -> FULLY_CONNECTED -> reshape (no shape ops in TFLite)."""
        y = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), kernel) + bias
        return tf.reshape(y, [-1, x.shape[1], kernel.shape[-1]])

    @register
    class MaskedMean(keras.layers.Layer):
        """Mean of embeddings over positions whose token id is not padding (0)."""

        def call(self, inputs):
            ids, emb = inputs
            mask = real_tokens(ids, emb.dtype)[:, :, None]
            total = tf.reduce_sum(emb * mask, axis=1)
            count = tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
            return total / count

    def lstm_sequence(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
        """One LSTM direction with tf-keras' ``standard_lstm`` signature and outputs.

        The TFLite converter swaps the whole function for one fused
        UNIDIRECTIONAL_SEQUENCE_LSTM op (gates i, f, c, o; cell clip 10, hence
        the clip here too). Only ``outputs`` may be used by the caller.
        """
        batch = tf.shape(inputs)[0]
        h = init_h + tf.zeros([batch, 1], inputs.dtype)
        c = init_c + tf.zeros([batch, 1], inputs.dtype)
        x = tf.transpose(dense(inputs, kernel, bias), [1, 0, 2])  # time-major input projections

        def step(state, x_t):
            h, c = state
            i, f, g, o = tf.split(x_t + tf.matmul(h, recurrent_kernel), 4, axis=1)
            c = tf.clip_by_value(tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g), -10.0, 10.0)
            return tf.sigmoid(o) * tf.tanh(c), c

        hs, _ = tf.scan(step, x, initializer=(h, c))
        outputs = tf.transpose(hs, [1, 0, 2])
        return outputs[:, -1], outputs, init_h, init_c, tf.constant(0.0)

    class FusableLSTM:
        """``lstm_sequence`` as a tf.function the converter recognizes (as it does tf-keras' LSTM).

        Plain object, so Keras does not track it; one per direction (the
        ``api_implements`` name must be unique per function).
        """

        def __init__(self):
            self.fn = tf.function(lstm_sequence, autograph=False, experimental_attributes={
                "time_major": False, "go_backwards": False, "api_implements": f"lstm_{uuid.uuid4()}"})

        def __deepcopy__(self, memo):
            memo[id(self)] = copy = type(self)()
            return copy

    def forget_bias_init(shape, dtype=None):
        units = shape[0] // 4
        return tf.concat([tf.zeros([units]), tf.ones([units]), tf.zeros([2 * units])], axis=0)

    @register
    class BiLSTMMaxPool(keras.layers.Layer):
        """Bidirectional LSTM over the real tokens, then masked max over time of ``[forward; backward]``.

        Padding trails each row. The forward LSTM reads it only after the
        last real token; the backward LSTM reads each row reversed within its
        length (``[c, b, a, 0, 0]``), so it too starts at a real token. Max
        pooling skips padded positions (order-free, so the backward outputs
        need no re-reversal). Converts to two fused
        UNIDIRECTIONAL_SEQUENCE_LSTM ops (batch 1, as kdedge runs TFLite).

        Inputs ``[ids, embeddings]``; output ``[batch, 2 * units]``.
        """

        def __init__(self, units: int, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self._lstms = (FusableLSTM(), FusableLSTM())

        def build(self, input_shape):
            dim, units = int(input_shape[1][-1]), self.units
            self.cells = []
            for direction in ("forward", "backward"):
                self.cells.append((
                    self.add_weight(name=f"{direction}_kernel", shape=(dim, 4 * units), initializer="glorot_uniform"),
                    self.add_weight(name=f"{direction}_recurrent_kernel", shape=(units, 4 * units),
                                    initializer="orthogonal"),
                    self.add_weight(name=f"{direction}_bias", shape=(4 * units,), initializer=forget_bias_init)))
            super().build(input_shape)

        def call(self, inputs):
            ids, x = inputs
            real = tf.not_equal(ids, 0)
            lengths = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)[:, None]
            steps = tf.range(ids.shape[1])[None, :]
            backward = tf.gather(x, tf.where(steps < lengths, lengths - 1 - steps, steps), batch_dims=1)
            # Zero initial states, but computed from the input (ids are never -1): TFLite keeps LSTM
            # states in variable tensors that persist between invokes; a constant zero would be written
            # once, so each example would start from the previous one's final state. Distinct values
            # (1..4 x 0) keep the converter from merging the four state tensors into one.
            never = tf.cast(tf.equal(ids[0, 0], -1), tf.int32)
            mask = tf.cast(real, x.dtype)[:, :, None]
            outputs = []
            for j, (seq, lstm, weights) in enumerate(zip((x, backward), self._lstms, self.cells)):
                h0 = tf.cast(never * tf.fill([1, self.units], 2 * j + 1), x.dtype)
                c0 = tf.cast(never * tf.fill([1, self.units], 2 * j + 2), x.dtype)
                kernel, recurrent, bias = (tf.convert_to_tensor(w) for w in weights)
                h = lstm.fn(seq, h0, c0, kernel, recurrent, bias)[1]
                # Pool each direction before concatenating: a CONCATENATION right after the LSTMs would
                # impose its int8 scale on their outputs, which must share the scale of their h state.
                outputs.append(tf.reduce_max(h * mask + (mask - 1.0), axis=1))  # padding -> -1, below any output
            return tf.concat(outputs, axis=-1)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    @register
    class PositionEmbedding(keras.layers.Layer):
        """Add a learned position embedding (one row per position) and layer-normalize, as BERT does."""

        def build(self, input_shape):
            length, dim = int(input_shape[1]), int(input_shape[2])
            self.position = self.add_weight(name="position", shape=(length, dim),
                                            initializer=keras.initializers.TruncatedNormal(stddev=0.02))
            self.gamma = self.add_weight(name="gamma", shape=(dim,), initializer="ones")
            self.beta = self.add_weight(name="beta", shape=(dim,), initializer="zeros")
            super().build(input_shape)

        def call(self, x):
            return layer_norm(x + self.position[None], self.gamma, self.beta)

    @register
    class TransformerBlock(keras.layers.Layer):
        """Post-LN Transformer encoder block (BERT's): masked multi-head self-attention, then a ReLU FFN.

        Padding keys get no attention weight (see ``MASK_GAP``) and padding
        queries get a zero attention output, so real tokens never see padding.
        Inputs ``[ids, x]`` with ``x`` ``[batch, T, width]``; output the same
        shape as ``x``.
        """

        def __init__(self, heads: int, ff_dim: int, dropout: float = 0.1, **kwargs):
            super().__init__(**kwargs)
            self.heads, self.ff_dim, self.dropout = heads, ff_dim, dropout
            self.attention_dropout = keras.layers.Dropout(dropout)
            self.ff_dropout = keras.layers.Dropout(dropout)

        def build(self, input_shape):
            dim = int(input_shape[1][-1])
            if dim % self.heads:
                raise ValueError(f"width {dim} is not divisible by heads={self.heads}")

            glorot, ff = "glorot_uniform", self.ff_dim
            for name, shape, init in (
                    ("qkv_kernel", (dim, 3 * dim), glorot), ("qkv_bias", (3 * dim,), "zeros"),
                    ("out_kernel", (dim, dim), glorot), ("out_bias", (dim,), "zeros"),
                    ("norm1_gamma", (dim,), "ones"), ("norm1_beta", (dim,), "zeros"),
                    ("ff1_kernel", (dim, ff), glorot), ("ff1_bias", (ff,), "zeros"),
                    ("ff2_kernel", (ff, dim), glorot), ("ff2_bias", (dim,), "zeros"),
                    ("norm2_gamma", (dim,), "ones"), ("norm2_beta", (dim,), "zeros")):
                setattr(self, name, self.add_weight(name=name, shape=shape, initializer=init))
            super().build(input_shape)

        def call(self, inputs, training=None):
            ids, x = inputs
            length, dim = x.shape[1], x.shape[2]
            head_dim = dim // self.heads
            real = real_tokens(ids, x.dtype)

            def split_heads(t):  # [batch, T, dim] -> [batch, heads, T, head_dim]
                return tf.transpose(tf.reshape(t, [-1, length, self.heads, head_dim]), [0, 2, 1, 3])

            q, k, v = (split_heads(t) for t in tf.split(dense(x, self.qkv_kernel, self.qkv_bias), 3, axis=-1))
            scores = tf.matmul(q * head_dim ** -0.5, k, transpose_b=True)  # [batch, heads, T, T]
            key = real[:, None, None, :]
            # Shift so the best real key scores 0 (pads filled with the row minimum never win the max),
            # then put every padding key MASK_GAP below it.
            floor = tf.reduce_min(scores, axis=-1, keepdims=True)
            best = tf.reduce_max(scores * key + (1.0 - key) * floor, axis=-1, keepdims=True)
            scores = (scores - best) * key - (1.0 - key) * MASK_GAP
            context = tf.matmul(tf.nn.softmax(scores, axis=-1), v)  # [batch, heads, T, head_dim]
            context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [-1, length, dim])
            attended = dense(context, self.out_kernel, self.out_bias) * real[:, :, None]  # pads attend to nothing
            x = layer_norm(x + self.attention_dropout(attended, training=training), self.norm1_gamma, self.norm1_beta)
            ff = dense(tf.nn.relu(dense(x, self.ff1_kernel, self.ff1_bias)), self.ff2_kernel, self.ff2_bias)
            return layer_norm(x + self.ff_dropout(ff, training=training), self.norm2_gamma, self.norm2_beta)

        def get_config(self):
            return {**super().get_config(), "heads": self.heads, "ff_dim": self.ff_dim, "dropout": self.dropout}

    return {cls.__name__: cls for cls in (MaskedMean, BiLSTMMaxPool, PositionEmbedding, TransformerBlock)}


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
    elif cfg.arch == "wordavg":
        x = masked_mean_layer()(name="masked_mean")([ids, emb])
        x = keras.layers.Dense(cfg.hidden, activation="relu", name="hidden")(x)
    elif cfg.arch == "bilstm":
        x = bilstm_layer()(cfg.lstm_units, name="bilstm")([ids, emb])
        x = keras.layers.Dense(cfg.hidden, activation="relu", name="hidden")(x)
    else:  # transformer; width = embed_dim
        inner = cfg.dropout / 3  # 0.1 (BERT's rate) at the default --dropout 0.3
        x = position_embedding_layer()(name="position_embedding")(emb)
        x = keras.layers.Dropout(inner, name="embed_dropout")(x)
        for i in range(cfg.layers):
            x = transformer_block_layer()(cfg.heads, cfg.ff_dim, inner, name=f"block{i}")([ids, x])
        x = masked_mean_layer()(name="masked_mean")([ids, x])
    x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_labels, name="logits")(x)
    return keras.Model(ids, logits, name=f"student_{cfg.arch}")


def load_student(path: str | Path):
    """Load a saved student with ``safe_mode`` on (no arbitrary code)."""
    _custom_layers()  # register every custom layer before deserializing
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
    from kdedge.teacher import load_teacher, predict_hidden, word_vectors

    model, tok = load_teacher(Path(teacher_dir))
    if mode == "teacher-context":
        vecs = predict_hidden(model, tok, vocab[2:])
    else:
        vecs = word_vectors(model, tok, vocab[2:])
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
