"""The students' custom Keras layers, registered for safe loading.

Four layers, each a TFLite-builtin-only building block of a student
architecture (:mod:`kdedge.models.student`):

- :class:`MaskedMean` -- the mean of the real (non-padding) token vectors (wordavg, transformer);
- :class:`BiLSTMMaxPool` -- a bidirectional LSTM over the real tokens, max-pooled (bilstm);
- :class:`PositionEmbedding` -- learned positions plus a layer norm (transformer);
- :class:`TransformerBlock` -- a post-LN encoder block with padding masked out (transformer).

They are registered under the package ``kdedge`` (``kdedge>MaskedMean``, ...),
so a saved ``student.keras`` loads with ``safe_mode`` on: no Lambda layer, no
pickled code. Importing this module imports TensorFlow; the stage configs and
the CLI never do.
"""

from __future__ import annotations

import uuid

import kdedge  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow: these are tf-keras layers)
import tensorflow as tf

keras = tf.keras
register = keras.utils.register_keras_serializable(package="kdedge")

# Attention logits of padding keys are set this far below the row's best real key: exp(-30) ~ 1e-13, so a
# pad gets no weight in float, and the int8 softmax input range stays ~[-30, 0] (a 1e9 mask would leave
# int8 one step per ~4e6, i.e. no attention at all).
MASK_GAP = 30.0
LN_EPSILON = 1e-6


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


def lstm_unrolled(inputs, kernel, recurrent_kernel, bias):
    """:func:`lstm_sequence`'s outputs from zero states, one Python step per time step (static ``max_len``).

    Plain ops only (the first step needs no recurrent product: its states are zero), so the converter
    writes no state tensor and nothing for it to fuse.
    """
    x = dense(inputs, kernel, bias)
    h = c = None
    hs = []
    for x_t in tf.unstack(x, axis=1):
        z = x_t if h is None else x_t + tf.matmul(h, recurrent_kernel)
        i, f, g, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(i) * tf.tanh(g) if c is None else tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        c = tf.clip_by_value(c, -10.0, 10.0)
        h = tf.sigmoid(o) * tf.tanh(c)
        hs.append(h)
    return tf.stack(hs, axis=1)


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
    need no re-reversal).

    Two graphs of the same function (the same weights and outputs):

    - ``unroll=False`` (training): a ``tf.scan`` per direction, which the
      converter fuses into one UNIDIRECTIONAL_SEQUENCE_LSTM op (batch 1). Its
      state tensors are computed from the input, so MediaPipe Tasks refuses
      the file, and the op's integer kernel is slow.
    - ``unroll=True`` (export, :func:`kdedge.models.student.export_graph`):
      ``max_len`` steps of plain FULLY_CONNECTED / ADD / LOGISTIC / TANH /
      MUL ops per direction, no state tensors: MediaPipe loads it, any batch
      size runs, and int8 runs on the ordinary integer kernels.

    Inputs ``[ids, embeddings]``; output ``[batch, 2 * units]``.
    """

    def __init__(self, units: int, unroll: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.unroll = bool(unroll)
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
            kernel, recurrent, bias = (tf.convert_to_tensor(w) for w in weights)
            if self.unroll:
                h = lstm_unrolled(seq, kernel, recurrent, bias)
            else:
                h0 = tf.cast(never * tf.fill([1, self.units], 2 * j + 1), x.dtype)
                c0 = tf.cast(never * tf.fill([1, self.units], 2 * j + 2), x.dtype)
                h = lstm.fn(seq, h0, c0, kernel, recurrent, bias)[1]
            # Pool each direction before concatenating: a CONCATENATION right after the LSTMs would
            # impose its int8 scale on their outputs, which must share the scale of their h state.
            outputs.append(tf.reduce_max(h * mask + (mask - 1.0), axis=1))  # padding -> -1, below any output
        return tf.concat(outputs, axis=-1)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "unroll": self.unroll}


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
