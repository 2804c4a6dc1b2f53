r"""Embedding compression for the word-level students: the table is most of their bytes.

A student's ``Embedding(V, d)`` table (16k x 64 = 1.02M of its ~1.07M
parameters) dominates the ``.tflite`` file. Four ways to shrink it, each a
rewrite of a trained student (and its tokenizer); the input model is never
modified and everything after the embedding keeps its weights:

- :func:`prune_vocab` keeps the ``keep`` most useful rows, by frequency or by
  :func:`kdedge.models.importance.word_importance`; removed words become [UNK], or fall into
  ``buckets`` hashed out-of-vocabulary rows (:class:`kdedge.text.tokenizer.HashedWordTokenizer`).
  On texts whose words all survive the outputs are *identical*.
- :func:`factorize_embedding` replaces ``Embedding(V, d)`` with
  ``Embedding(V, r)`` + a bias-free ``r x d`` projection (ALBERT's factorization),
  initialized from a truncated SVD of the trained table: ``r (V + d)``
  parameters instead of ``V d``. TFLite: GATHER + FULLY_CONNECTED, builtins.
- int8: ``converters.keras_to_tflite`` already stores the table as int8 in the
  ``int8`` and ``dynamic`` modes (see "Low-bit tables" below).
- :func:`embedding_bytes` / :func:`tflite_embedding_tables`: where the bytes are.

Low-bit tables in LiteRT (measured with TF 2.21's converter, ai-edge-litert 2.3)
------------------------------------------------------------------------------

- ``int8`` (full integer): the GATHER table is int8, one per-tensor scale
  (symmetric), and GATHER outputs int8.
- ``dynamic``: the table is int8 (per-tensor scale) and a DEQUANTIZE follows
  the GATHER, so only the ``max_len`` gathered rows are dequantized. Only for
  tables of >= 1024 elements (the converter's dynamic-range threshold); a real
  table is far above it.
- ``float16``: the table is float16, dequantized as a whole *before* the
  GATHER (a float32 copy of the whole table at run time).
- int4: not reachable with the TF converter. A 4-bit fake-quant on the table
  (``tf.quantization.fake_quant_with_min_max_vars(num_bits=4)``) fails to
  convert ("'tfl.gather' op operand #0 must be tensor of ... but got
  'tensor<200x8x!quant.uniform<i4<-7:7>...>>'") with ``Optimize.DEFAULT`` and
  with ``_experimental_qdq_conversion_mode`` STATIC/DYNAMIC;
  ``_experimental_low_bit_qat`` fails with "params and output must have same
  element type". For FULLY_CONNECTED the same 4-bit fake-quant converts, but
  the kernel is stored as int8 holding 4-bit values (no bytes saved). The
  converter never emits EMBEDDING_LOOKUP (the LiteRT kernel that does read
  int4 tables, with per-row scales); only a post-conversion rewrite of the
  flatbuffer (e.g. ai-edge-quantizer) could reach it. Not done here.
"""

from __future__ import annotations

import collections
from typing import Iterable, Sequence

import numpy as np

from kdedge.errors import ConfigError
from kdedge.text.tokenizer import PAD, UNK, HashedWordTokenizer, RegexTokenizer, WordTokenizer, fnv1a32

PROJECTION = "embedding_projection"  # the Dense layer factorize_embedding() adds after the table


# ----------------------------------------------------------------------------------------------------------------
# Model rewrites


def _embedding_layer_config(config: dict) -> dict:
    found = [layer for layer in config["layers"] if layer["class_name"] == "Embedding"]
    if len(found) != 1:
        raise ValueError(f"expected one Embedding layer, found {len(found)}")
    return found[0]


def embedding_table(model) -> np.ndarray:
    """The effective ``[rows, d]`` table: the Embedding's, times the projection if factorized."""
    import tensorflow as tf
    layer = next(layer for layer in model.layers if isinstance(layer, tf.keras.layers.Embedding))
    table = layer.get_weights()[0]
    if PROJECTION in {layer.name for layer in model.layers}:
        table = table @ model.get_layer(PROJECTION).get_weights()[0]
    return table


def _rebuild(model, edit) -> object:
    """A copy of the functional ``model`` with its config changed by ``edit``; other weights copied by name."""
    import tensorflow as tf

    import kdedge.models.layers  # noqa: F401  (registers the student's layers for from_config)

    config = model.get_config()
    emb = _embedding_layer_config(config)
    emb["config"]["embeddings_initializer"] = "zeros"  # a Constant(table) of the old shape would not fit
    edit(config, emb)
    new = tf.keras.Model.from_config(config)
    for layer in model.layers:
        if layer.weights and not isinstance(layer, tf.keras.layers.Embedding) and layer.name != PROJECTION:
            new.get_layer(layer.name).set_weights(layer.get_weights())
    return new


def _with_table(model, table: np.ndarray):
    """``model`` with its (unfactorized) Embedding table replaced by ``table`` (any number of rows)."""
    import tensorflow as tf

    if PROJECTION in {layer.name for layer in model.layers}:
        raise ValueError("prune before factorizing: the model already has a factorized embedding")

    def edit(config, emb):
        emb["config"]["input_dim"] = int(table.shape[0])

    new = _rebuild(model, edit)
    next(layer for layer in new.layers if isinstance(layer, tf.keras.layers.Embedding)).set_weights([table])
    return new


def word_counts(tokenizer: WordTokenizer, texts: Iterable[str]) -> np.ndarray:
    """How often each vocabulary id occurs in ``texts`` (whole texts, not truncated at ``max_len``)."""
    counts = collections.Counter()
    for text in texts:
        counts.update(tokenizer.tokens(text))
    return np.array([counts.get(tok, 0) for tok in tokenizer.vocab], dtype=np.int64)


def prune_vocab(tokenizer: WordTokenizer, model, keep: int, by: str = "frequency",
                importance: np.ndarray | None = None, texts: Sequence[str] | None = None,
                buckets: int = 0) -> tuple[WordTokenizer, object]:
    """Keep the ``keep`` most useful vocabulary rows; the others become [UNK] or hash buckets.

    The kept words keep their relative (frequency) order; their rows are
    copied, [PAD] and [UNK] stay ids 0 and 1, and every other layer keeps its
    weights, so on texts whose words all survive the outputs are identical.

    Args:
        tokenizer: the student's tokenizer, without buckets.
        model: the trained student (not modified); its table has ``len(tokenizer.vocab)`` rows.
        keep: rows kept, [PAD] and [UNK] included (as ``--vocab-size``).
        by: ``"frequency"``: counts in ``texts``, or, without texts, the vocabulary order
            (``WordTokenizer.build`` sorts by train count); ``"importance"``: ``importance``.
        importance: one score per vocabulary id (e.g. :func:`word_importance`); higher is kept.
        texts: optional texts to count for ``by="frequency"``.
        buckets: hash buckets for the removed (and any unseen) words; 0 maps them to [UNK].
            Bucket ``b`` starts as the mean row of the removed words hashed to ``b``
            ([UNK]'s row if none is).

    Returns:
        ``(tokenizer, model)``: a :class:`WordTokenizer` when ``buckets == 0``, else a
        :class:`HashedWordTokenizer`; the model's table has ``keep + buckets`` rows.
    """
    vocab_size = len(tokenizer.vocab)
    if tokenizer.buckets:
        raise ConfigError("prune a tokenizer without OOV buckets (prune first, then hash)")
    if not 3 <= keep <= vocab_size:
        raise ConfigError(f"keep must be in [3, {vocab_size}] (the vocabulary size), got {keep}")
    table = embedding_table(model)
    if table.shape[0] != vocab_size:
        raise ValueError(f"the model's table has {table.shape[0]} rows, the tokenizer {vocab_size} words")
    if by == "frequency":
        scores = (word_counts(tokenizer, texts).astype(np.float64) if texts is not None
                  else -np.arange(vocab_size, dtype=np.float64))
    elif by == "importance":
        if importance is None or len(importance) < vocab_size:
            raise ConfigError("by=\"importance\" needs one importance score per vocabulary word")
        scores = np.asarray(importance, dtype=np.float64)[:vocab_size]
    else:
        raise ConfigError(f"by must be \"frequency\" or \"importance\", got {by!r}")
    words = np.arange(2, vocab_size)
    order = words[np.lexsort((words, -scores[2:]))]  # best first, ties to the more frequent (lower) id
    kept, removed = np.sort(order[:keep - 2]), order[keep - 2:]
    rows = [table[[0, 1]], table[kept]]
    vocab = [PAD, UNK] + [tokenizer.vocab[i] for i in kept]
    if buckets:
        bucket_rows = np.repeat(table[1:2], buckets, axis=0)
        of = np.array([fnv1a32(tokenizer.vocab[i]) % buckets for i in removed], dtype=np.int64)
        for b in np.unique(of):
            bucket_rows[b] = table[removed[of == b]].mean(axis=0)
        rows.append(bucket_rows)
    return _with_vocab(tokenizer, vocab, buckets), _with_table(model, np.concatenate(rows).astype(np.float32))


def _with_vocab(tokenizer, vocab: list[str], buckets: int):
    """``tokenizer``'s kind and settings over ``vocab`` (plus ``buckets`` hash buckets)."""
    if isinstance(tokenizer, RegexTokenizer):
        return tokenizer.with_vocab(vocab, buckets)
    if buckets:
        return HashedWordTokenizer(vocab, tokenizer.max_len, tokenizer.lowercase, tokenizer.pattern, buckets)
    return WordTokenizer(vocab, tokenizer.max_len, tokenizer.lowercase, tokenizer.pattern)



def add_oov_buckets(tokenizer: WordTokenizer, model, buckets: int) -> tuple[HashedWordTokenizer, object]:
    """Hash out-of-vocabulary words into ``buckets`` new rows, all starting as [UNK]'s row (nothing pruned).

    The outputs are unchanged on every text until the bucket rows are trained.
    """
    table = embedding_table(model)
    new_tok = _with_vocab(tokenizer, tokenizer.vocab, buckets)
    return new_tok, _with_table(model, np.concatenate([table, np.repeat(table[1:2], buckets, axis=0)]))


def svd_factors(table: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Truncated SVD ``table ~ A @ B`` with ``A`` ``[V, rank]``, ``B`` ``[rank, d]``.

    The singular values are split evenly (``A = U sqrt(S)``, ``B = sqrt(S) Vt``)
    so both factors have similar ranges, which int8 quantizes well. Returns
    ``(A, B, relative Frobenius error)``.
    """
    u, s, vt = np.linalg.svd(table.astype(np.float64), full_matrices=False)
    root = np.sqrt(s[:rank])
    a, b = u[:, :rank] * root, root[:, None] * vt[:rank]
    error = float(np.sqrt(np.sum(s[rank:] ** 2) / max(np.sum(s ** 2), 1e-30)))
    return a.astype(np.float32), b.astype(np.float32), error


def reconstruction_errors(table: np.ndarray, ranks: Iterable[int]) -> dict[int, float]:
    """Relative Frobenius error ``|T - A B| / |T|`` of the rank-``r`` SVD, per rank (one SVD)."""
    s = np.linalg.svd(table.astype(np.float64), compute_uv=False)
    total = max(float(np.sum(s ** 2)), 1e-30)
    return {int(r): float(np.sqrt(np.sum(s[r:] ** 2) / total)) for r in ranks}


def factorize_embedding(model, rank: int):
    """Replace ``Embedding(V, d)`` by ``Embedding(V, rank)`` + a bias-free ``[rank, d]`` projection (ALBERT).

    The projection is a plain ``EinsumDense("btr,rd->btd")`` (no custom layer:
    the model saves and loads like any student) and converts to one TFLite
    FULLY_CONNECTED after the GATHER.

    Initialized from the truncated SVD of the trained table (:func:`svd_factors`),
    so at ``rank = d`` the outputs match the original up to float rounding.
    The table keeps the layer name ``embedding`` (``--freeze-embeddings``
    freezes it; the projection ``embedding_projection`` stays trainable).
    Fewer parameters only when ``rank < V d / (V + d)``.

    Returns:
        ``(model, relative_error)``; the input model is not modified.
    """
    import tensorflow as tf

    table = embedding_table(model)
    rows, dim = table.shape
    if not 1 <= rank <= dim:
        raise ConfigError(f"rank must be in [1, {dim}] (the embedding width), got {rank}")
    if PROJECTION in {layer.name for layer in model.layers}:
        raise ValueError("the model's embedding is already factorized")
    a, b, error = svd_factors(table, rank)
    emb_layer = next(layer for layer in model.layers if isinstance(layer, tf.keras.layers.Embedding))
    length = int(emb_layer.output.shape[1])
    # EinsumDense, not Dense: tf-keras' Dense on a [batch, T, r] input is a tensordot whose unknown batch
    # leaves SHAPE/GATHER/REDUCE_PROD/PACK ops in the .tflite (TF 2.21); this one is one FULLY_CONNECTED.
    projection = tf.keras.layers.EinsumDense("btr,rd->btd", output_shape=(length, dim), name=PROJECTION)

    def edit(config, emb):
        emb["config"]["output_dim"] = rank
        name = emb["name"]
        for layer in config["layers"]:  # consumers of the table now read the projection
            layer["inbound_nodes"] = _rename_inbound(layer["inbound_nodes"], name, PROJECTION)
        spec = tf.keras.layers.serialize(projection)
        spec.update(name=PROJECTION, inbound_nodes=[[[name, 0, 0, {}]]])
        config["layers"].insert(config["layers"].index(emb) + 1, spec)
        config["output_layers"] = _rename_inbound(config["output_layers"], name, PROJECTION)

    new = _rebuild(model, edit)
    next(layer for layer in new.layers if isinstance(layer, tf.keras.layers.Embedding)).set_weights([a])
    new.get_layer(PROJECTION).set_weights([b])
    return new, error


def _rename_inbound(nodes, old: str, new: str):
    """Replace layer name ``old`` by ``new`` in a (nested) functional-config inbound list."""
    if isinstance(nodes, list):
        if len(nodes) >= 3 and nodes[0] == old and isinstance(nodes[1], int):
            return [new] + nodes[1:]
        return [_rename_inbound(n, old, new) for n in nodes]
    return nodes


# ----------------------------------------------------------------------------------------------------------------
# Where the bytes are


def embedding_bytes(model) -> dict:
    """Parameter and byte breakdown: the embedding (table + projection, if factorized) vs the rest.

    ``*_int8`` counts one byte per weight (the per-tensor or per-channel scales
    are negligible); a ``.tflite`` adds a few KB of graph on top.
    """
    import tensorflow as tf

    emb = sum(int(np.prod(w.shape)) for layer in model.layers
              if isinstance(layer, tf.keras.layers.Embedding) or layer.name == PROJECTION for w in layer.weights)
    total = int(model.count_params())
    return {"embedding_params": emb, "other_params": total - emb,
            "embedding_float32_bytes": 4 * emb, "other_float32_bytes": 4 * (total - emb),
            "embedding_int8_bytes": emb, "other_int8_bytes": total - emb,
            "embedding_fraction": emb / max(total, 1)}


def tflite_embedding_tables(content: bytes) -> list[dict]:
    """The constant tables read by GATHER / EMBEDDING_LOOKUP in a ``.tflite``: name, dtype, shape, bytes, scales.

    Uses the LiteRT interpreter's op list (``_get_ops_details``, private but stable since TF 2.3).
    """
    from kdedge.runtime import _interpreter_module

    interp = _interpreter_module().Interpreter(model_content=content)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    dequantized = {int(op["outputs"][0]): int(op["inputs"][0]) for op in ops if op["op_name"] == "DEQUANTIZE"}
    out = []
    for op in ops:
        if op["op_name"] not in ("GATHER", "EMBEDDING_LOOKUP"):
            continue
        index = int(op["inputs"][0 if op["op_name"] == "GATHER" else 1])
        t = tensors[dequantized.get(index, index)]  # float16: the stored table is DEQUANTIZE's input
        if len(t["shape"]) != 2:
            continue  # a gather over activations (e.g. bilstm's reversal), not a table
        out.append({"name": t["name"], "dtype": np.dtype(t["dtype"]).name,
                    "shape": tuple(int(s) for s in t["shape"]),
                    "bytes": int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize,
                    "scales": len(t["quantization_parameters"]["scales"])})
    return out
