"""The student architectures: tiny tf-keras models on int32 token ids, TFLite-builtin only.

Architectures (``--arch``):

- ``cnn``: Kim (2014)-style CNN -- embedding, parallel Conv1D of widths 3/4/5,
  global max pooling, dropout, dense logits.
- ``wordavg``: average of the non-padding word embeddings, one hidden layer.
- ``bilstm``: Tang et al. (2019)'s distillation student -- a one-layer BiLSTM,
  masked max pooling over time, a ReLU layer, logits. The backward LSTM reads
  each row reversed within its length, so trailing padding never reaches it.
  Trained as a scan that converts to two fused UNIDIRECTIONAL_SEQUENCE_LSTM ops
  (batch 1; MediaPipe refuses them); exported by default as its unrolled graph
  (:func:`export_graph`: plain ops per time step, same weights and outputs).
- ``transformer``: a tiny post-LN encoder (BERT's layout) -- token + learned
  position embeddings, ``--layers`` blocks of masked multi-head self-attention
  and a ReLU feed-forward, masked mean pooling, logits. Width = ``--embed-dim``.

Every op lowers to a TFLite builtin (GATHER, CONV_2D, MAX/SUM, FULLY_CONNECTED,
UNIDIRECTIONAL_SEQUENCE_LSTM, BATCH_MATMUL, SOFTMAX, ...), so the model runs on
a phone's plain LiteRT without the Flex delegate, in every quantization mode of
``converters.keras_to_tflite`` (int8 included). No Lambda layers: the custom
layers (:mod:`kdedge.models.layers`) are registered classes, loaded with ``safe_mode`` on.

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
    bilstm       32 unrolled         1.05M   5.12m    2.08m   0.131   0.109    0.140        --
    transformer  1L 2 heads ff128    1.06M    4.27     1.10   0.080   0.057    0.27         39
    transformer  2L 2 heads ff128 *  1.10M    4.41     1.15   0.150   0.107    0.50         64
    transformer  2L 4 heads ff128    1.10M    4.41     1.15   0.183   0.139    0.62         88
    transformer  2L 4 heads ff256    1.13M    4.54     1.19   0.224   0.150    0.39         87

The other bilstm rows are of the fused graph: TFLite's integer LSTM kernel
(int8 weights, int16 cell) is ~5x slower than its float one. The unrolled graph
that export writes by default runs int8 on ordinary kernels (m = with its
metadata, 0.64 MB of which is the vocabulary file; measured on a quiet machine
against the fused graph in benchmarks/results/sst2/bilstm_graph.md). The int8 transformer
is slower than float too: it splits into ~17 XNNPACK partitions (float: 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from kdedge.io import atomic_path
from kdedge.models.layers import BiLSTMMaxPool, MaskedMean, PositionEmbedding, TransformerBlock

from kdedge.models import ARCHS  # noqa: F401  (re-exported: the architectures build_student takes)

keras = tf.keras


def build_student(cfg, vocab_size: int, num_labels: int = 2,
                  embeddings: np.ndarray | None = None):
    """Build the student model for ``cfg.arch``.

    Args:
        cfg: architecture settings (a :class:`kdedge.stages.student.StudentConfig`: ``arch``,
            ``max_len``, ``embed_dim``, ``filters``, ``hidden``, ``lstm_units``, ``layers``,
            ``heads``, ``ff_dim``, ``dropout``, ``seed``).
        vocab_size: rows of the embedding table (the tokenizer's vocab size).
        num_labels: output logits.
        embeddings: optional initial embedding table ``[vocab_size, embed_dim]``.

    Returns:
        An uncompiled ``tf.keras.Model`` from int32 ids ``[batch, max_len]`` to
        float logits ``[batch, num_labels]``.
    """
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
        x = MaskedMean(name="masked_mean")([ids, emb])
        x = keras.layers.Dense(cfg.hidden, activation="relu", name="hidden")(x)
    elif cfg.arch == "bilstm":
        x = BiLSTMMaxPool(cfg.lstm_units, name="bilstm")([ids, emb])
        x = keras.layers.Dense(cfg.hidden, activation="relu", name="hidden")(x)
    else:  # transformer; width = embed_dim
        inner = cfg.dropout / 3  # 0.1 (BERT's rate) at the default --dropout 0.3
        x = PositionEmbedding(name="position_embedding")(emb)
        x = keras.layers.Dropout(inner, name="embed_dropout")(x)
        for i in range(cfg.layers):
            x = TransformerBlock(cfg.heads, cfg.ff_dim, inner, name=f"block{i}")([ids, x])
        x = MaskedMean(name="masked_mean")([ids, x])
    x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_labels, name="logits")(x)
    return keras.Model(ids, logits, name=f"student_{cfg.arch}")


# What a student's config may name. safe_mode alone is not enough: tf_keras 2.21 refuses a Lambda's Python
# bytecode, but resolves a Lambda "function" named by module and name (e.g. os.system) and calls it while it
# rebuilds the model (tests/robustness/test_hostile_models.py). So every object the config names must come
# from Keras or kdedge, and no Lambda-like layer (a layer that calls a named function) is accepted.
ALLOWED_MODULES = ("keras.", "tf_keras.", "kdedge.models.")
FUNCTION_LAYERS = ("Lambda", "TFOpLambda", "SlicingOpLambda")


def check_archive(path: Path) -> None:
    """Refuse a ``.keras`` archive whose ``config.json`` names code from outside Keras and kdedge.

    Raises:
        StageInputError: names the file and the offending entry.
    """
    import json
    import zipfile

    from kdedge.errors import StageInputError

    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except (KeyError, ValueError, zipfile.BadZipFile, OSError) as e:
        raise StageInputError(f"{path}: cannot load this student (no readable config.json: {e})") from None
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        name = node.get("class_name")
        if name in FUNCTION_LAYERS:
            raise StageInputError(f"{path}: refused, it holds a {name} layer (it would call a named Python "
                                  "function; kdedge students have none)")
        module = node.get("module")
        if "class_name" in node and module is not None and not (
                isinstance(module, str) and module.startswith(ALLOWED_MODULES)):
            raise StageInputError(f"{path}: refused, {name!r} comes from module {str(module)[:60]!r} (only Keras and "
                                  "kdedge objects are loaded)")
        stack.extend(node.values())


def load_student(path: str | Path):
    """Load a saved student with ``safe_mode`` on (no arbitrary code).

    Raises:
        StageInputError: the file is not a Keras archive (a pickle, say), holds code (a ``Lambda`` layer) or
            layers kdedge does not know, or cannot be read; one line naming it.
    """
    import zipfile

    from kdedge.errors import StageInputError

    path = Path(path)
    if not path.is_file():
        raise StageInputError(f"{path}: file not found")
    if not zipfile.is_zipfile(path):
        raise StageInputError(f"{path}: not a .keras archive (kdedge loads no pickles or other formats)")
    check_archive(path)
    # The custom layers are registered by importing kdedge.models.layers (above).
    try:
        return keras.models.load_model(str(path), safe_mode=True, compile=False)
    except Exception as e:  # Keras reports unsafe or unknown content with ValueError/TypeError and others
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        if "lambda" in str(e).lower() or "unsafe" in str(e).lower() or "safe_mode" in str(e):
            raise StageInputError(f"{path}: refused, it holds Python code (a Lambda layer) and safe_mode stays "
                                  "on") from None
        raise StageInputError(f"{path}: cannot load this student ({first[:200]})") from None


def save_student(model, path: str | Path) -> None:
    """Save a student as ``.keras``, atomically."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(str(tmp))


def save_weights(model, path: str | Path) -> None:
    """Save a model's weights (``.weights.h5``, e.g. a QAT model's: see converters.qat.load_qat), atomically."""
    with atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(str(tmp))


def leaf_layers(model):
    """``model``'s layers, those of nested models (a merged student's members) in their place."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer


def is_merged(model) -> bool:
    """Whether ``model`` is a merged student (:func:`merge_students`): it holds whole students."""
    return any(isinstance(layer, keras.Model) for layer in model.layers)


def merge_students(models: list, name: str = "student_merged"):
    """One student whose logits are the mean of ``models``' logits (a seed ensemble in one file).

    Each member goes in whole, as a nested model named ``member<i>``, on one shared ``input_ids``;
    an ``Average`` layer (named ``logits``) makes the output. Standard layers only: it saves, loads
    (``safe_mode``) and converts like any student. The members must take the same ids (one tokenizer,
    one length) and give the same number of logits; the members themselves are not modified.

    Raises:
        ValueError: fewer than two members, or members of different input length or outputs.
    """
    if len(models) < 2:
        raise ValueError(f"merging needs two or more students, got {len(models)}")
    shapes = {(tuple(m.input_shape[1:]), tuple(m.output_shape[1:])) for m in models}
    if len(shapes) != 1:
        raise ValueError(f"the students differ in input length or number of labels: {sorted(shapes)}")
    ids = keras.Input(shape=models[0].input_shape[1:], dtype="int32", name="input_ids")
    outs = []
    for i, m in enumerate(models):
        # Rebuilt from its config without the embedding table the teacher-context init puts there (saving
        # serializes a nested model's config once per object it holds: the table made that take minutes).
        config = _rewrite_layers(m.get_config())
        config["name"] = f"member{i}"
        member = keras.Model.from_config(config)
        member.set_weights(m.get_weights())
        outs.append(member(ids))
    logits = keras.layers.Average(name="logits")(outs)
    return keras.Model(ids, logits, name=name)


def has_fused_lstm(model) -> bool:
    """Whether ``model`` converts to a fused LSTM op (a bilstm not yet switched to its unrolled graph)."""
    return any(isinstance(layer, BiLSTMMaxPool) and not layer.unroll for layer in leaf_layers(model))


def has_unrolled_lstm(model) -> bool:
    """Whether ``model`` is a bilstm switched to its unrolled graph (:func:`export_graph`)."""
    return any(isinstance(layer, BiLSTMMaxPool) and layer.unroll for layer in leaf_layers(model))


def export_graph(model):
    """``model`` as it is best converted: a bilstm switched to its unrolled graph, anything else unchanged.

    The same weights and the same outputs (the two graphs compute one function, see
    :class:`kdedge.models.layers.BiLSTMMaxPool`); ``model`` itself is not modified.
    """
    if not has_fused_lstm(model):
        return model
    new = keras.Model.from_config(_rewrite_layers(model.get_config(), unroll=True))
    new.set_weights(model.get_weights())
    return new


def _rewrite_layers(config: dict, unroll: bool = False) -> dict:
    """A model ``config`` (modified in place, returned) whose embedding layers hold no initial table (the
    teacher-context init puts one there; the caller sets the weights), with ``unroll`` every BiLSTMMaxPool
    switched to its unrolled graph. Nested models (a merged student's members) are rewritten too."""
    stack = list(config["layers"])
    while stack:
        layer = stack.pop()
        if unroll and layer["class_name"].endswith("BiLSTMMaxPool"):
            layer["config"]["unroll"] = True
        elif "embeddings_initializer" in layer.get("config", {}):
            layer["config"]["embeddings_initializer"] = "zeros"
        stack.extend(layer.get("config", {}).get("layers", []))
    return config
