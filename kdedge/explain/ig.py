"""Integrated Gradients (Sundararajan et al., 2017) on the students' and the teacher's embeddings.

The attribution of input position ``i`` to the probability of class ``c`` is
``(e_i - b_i) · mean_k ∂p_c/∂e_i (b + α_k (e - b))`` over ``steps`` midpoints ``α_k = (k + ½) / steps``; the
attributions add up to ``p_c(e) - p_c(b)`` (completeness), and the gap is reported as ``completeness_error``.
The steps start at 32 and double while the gap is above 0.01 (at most 512): a saturated model's
probability can jump between two midpoints.

- Student (Keras): the path runs through the embedding layer's output; the layers after it are re-run on
  the interpolated embeddings with the real ids beside them (the masks the pooling and attention layers
  take), so every architecture works, the cnn included. Baseline: every word's embedding replaced by the
  ``<PAD>`` row.
- Teacher (TF BERT): the path runs through ``inputs_embeds`` (``teacher({"inputs_embeds", "attention_mask"})``);
  baseline: the ``[PAD]`` embedding at every word piece, ``[CLS]`` and ``[SEP]`` kept at their real
  embeddings. Piece attributions are summed onto the student's words by character offsets
  (:func:`kdedge.explain.words.piece_to_word`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kdedge.explain.words import Words, piece_to_word


@dataclasses.dataclass
class Attribution:
    """One model's explanation of one text."""

    scores: np.ndarray          # per student word: contribution to the target class's probability
    target: int                 # the class explained (the model's prediction unless given)
    probabilities: np.ndarray   # the model's probabilities on the whole text
    completeness_error: float | None = None  # |Δp − Σ attributions| (IG only)
    steps: int | None = None    # IG steps used


def _midpoints(steps: int) -> np.ndarray:
    return ((np.arange(steps) + 0.5) / steps).astype(np.float32)


def _integrate(f, x, base, target: int | None, steps: int, max_steps: int, tolerance: float, chunk: int = 128):
    """IG of ``softmax(f(z))[target]`` from ``base`` to ``x`` (``[T, H]`` each); (per-position scores, p(x),
    target, completeness error, steps used).

    A saturated model's probability can jump within one step of the path, and the sum then misses
    the jump: while the completeness error is above ``tolerance``, the steps double (up to ``max_steps``).
    """
    import tensorflow as tf

    p_x = tf.nn.softmax(f(tf.constant(x[None])), axis=-1).numpy()[0]
    p_b = tf.nn.softmax(f(tf.constant(base[None])), axis=-1).numpy()[0]
    target = int(np.argmax(p_x)) if target is None else int(target)
    while True:
        grads = np.zeros_like(x)
        alphas = _midpoints(steps)
        for i in range(0, steps, chunk):
            a = alphas[i:i + chunk][:, None, None]
            z = tf.constant(base[None] + a * (x - base)[None])
            with tf.GradientTape() as tape:
                tape.watch(z)
                p = tf.nn.softmax(f(z), axis=-1)[:, target]
            grads += tape.gradient(p, z).numpy().sum(0)
        per_position = ((x - base) * grads / steps).sum(-1)
        error = abs(float(p_x[target] - p_b[target]) - float(per_position.sum()))
        if error <= tolerance or steps * 2 > max_steps:
            return per_position, p_x, target, error, steps
        steps *= 2


def embedding_forward(model):
    """``(ids, embeddings) -> logits`` for a kdedge student: its layers after ``embedding``, re-run in order.

    Reads the functional graph from the model's config (each layer's inbound layer names), so it needs no
    sub-model; every student layer has one inbound node and one output.
    """
    config = model.get_config()
    input_name = config["input_layers"][0][0]
    output_name = config["output_layers"][0][0]
    plan = []
    for layer in config["layers"]:
        name = layer["name"]
        if name in (input_name, "embedding"):
            continue
        inbound = [node[0] for node in layer["inbound_nodes"][0]]
        plan.append((model.get_layer(name), inbound))

    def forward(ids, emb):
        values = {input_name: ids, "embedding": emb}
        for layer, inbound in plan:
            args = [values[n] for n in inbound]
            values[layer.name] = layer(args if len(args) > 1 else args[0], training=False)
        return values[output_name]

    return forward


def student_ig(model, tokenizer, words: Words, target: int | None = None, steps: int = 32, max_steps: int = 512,
               tolerance: float = 0.01) -> Attribution:
    """IG of a Keras student on the embedding output, one score per word of ``words``."""
    import tensorflow as tf

    from kdedge.explain.words import masked_ids

    ids = masked_ids(tokenizer, words, np.ones((1, len(words)), bool))
    table = model.get_layer("embedding").embeddings.numpy()
    x = table[ids[0]]
    base = x.copy()
    base[:len(words)] = table[tokenizer.pad_id]
    forward = embedding_forward(model)

    def f(z):
        return forward(tf.constant(np.repeat(ids, int(z.shape[0]), 0)), z)

    per_position, p_x, target, error, used = _integrate(f, x, base, target, steps, max_steps, tolerance)
    return Attribution(per_position[:len(words)].astype(np.float64), target, p_x, error, used)


def teacher_pieces(tokenizer, text: str, max_len: int, truncation: str = "head") -> tuple[np.ndarray, list]:
    """The word-piece ids the teacher reads for ``text`` (as :func:`kdedge.models.teacher.tokenize` picks
    them under ``truncation``), with each piece's character offsets (``(0, 0)`` for [CLS]/[SEP])."""
    enc = tokenizer(text, add_special_tokens=False, truncation=False, return_offsets_mapping=True,
                    return_attention_mask=False, return_token_type_ids=False, verbose=False)
    from kdedge.models.teacher import kept_pieces

    keep = kept_pieces(len(enc["input_ids"]), max_len, truncation)
    ids = [enc["input_ids"][i] for i in keep]
    offsets = [tuple(enc["offset_mapping"][i]) for i in keep]
    return (np.asarray([tokenizer.cls_token_id, *ids, tokenizer.sep_token_id], dtype=np.int32),
            [(0, 0), *offsets, (0, 0)])


def teacher_ig(model, tokenizer, words: Words, max_len: int, target: int | None = None, steps: int = 32,
               max_steps: int = 512, tolerance: float = 0.01, truncation: str = "head") -> Attribution:
    """IG of the BERT teacher on ``inputs_embeds``, word pieces summed onto the student's ``words``; the
    pieces are those the teacher reads under ``truncation`` (words it does not read score 0)."""
    import tensorflow as tf

    ids, offsets = teacher_pieces(tokenizer, words.text, max_len, truncation)
    table = model.bert.embeddings.weight.numpy()
    x = table[ids]
    special = np.isin(ids, [tokenizer.cls_token_id, tokenizer.sep_token_id])
    base = np.where(special[:, None], x, table[tokenizer.pad_token_id][None, :])
    mask = tf.ones((1, len(ids)), tf.int32)

    def f(z):
        n = int(z.shape[0])
        return model({"inputs_embeds": z, "attention_mask": tf.repeat(mask, n, 0)}, training=False).logits

    per_piece, p_x, target, error, used = _integrate(f, x, base, target, steps, max_steps, tolerance)
    owner = piece_to_word(offsets, words)
    scores = np.zeros(len(words))
    np.add.at(scores, owner[owner >= 0], per_piece[owner >= 0])
    return Attribution(scores, target, p_x, error, used)
