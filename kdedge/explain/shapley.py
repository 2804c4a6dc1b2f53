"""Model-agnostic word attributions: Shapley values by permutation sampling (Štrumbelj & Kononenko, 2014).

The game is the model's probability of the target class with only a subset of the words kept, the others
masked (for a student, ``<UNKNOWN>``: what it reads for ``[MASK]``). Each sampled permutation adds the words
one at a time to the empty text and credits each with the change it makes; permutations come in
antithetic pairs (an order and its reverse). Every permutation's credits add up to
``p(all words) - p(none)``, so the estimate is exactly complete; its standard error is reported per word.

Works on anything that maps word masks to probabilities: a ``.tflite`` through LiteRT (int8 included:
the file that runs on the phone, :func:`tflite_game`), a Keras model, the teacher.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from kdedge.explain.words import Words, masked_ids

Game = Callable[[np.ndarray], np.ndarray]  # keep masks [m, n] bool -> probabilities [m, K]


@dataclasses.dataclass
class ShapleyResult:
    scores: np.ndarray          # per word
    stderr: np.ndarray          # per word, over the permutations
    target: int
    probabilities: np.ndarray   # on the whole text
    calls: int                  # rows the game was asked for


def shapley_values(game: Game, n_words: int, target: int | None = None, permutations: int = 64,
                   seed: int = 0) -> ShapleyResult:
    """Permutation-sampling Shapley values of ``game`` over ``n_words`` words (``permutations`` rounded up to
    an even number; all coalitions go to ``game`` in one call)."""
    full = game(np.ones((1, n_words), bool))[0]
    target = int(np.argmax(full)) if target is None else int(target)
    if n_words == 0:
        return ShapleyResult(np.zeros(0), np.zeros(0), target, full, 1)
    rng = np.random.default_rng(seed)
    half = max(1, (permutations + 1) // 2)
    orders = [rng.permutation(n_words) for _ in range(half)]
    orders += [o[::-1] for o in orders]
    rows = np.zeros((len(orders), n_words + 1, n_words), bool)
    for p, order in enumerate(orders):
        for step, word in enumerate(order):
            rows[p, step + 1:, word] = True
    probs = game(rows.reshape(-1, n_words))[:, target].reshape(len(orders), n_words + 1)
    credit = np.zeros((len(orders), n_words))
    for p, order in enumerate(orders):
        credit[p, order] = np.diff(probs[p])
    stderr = credit.std(0, ddof=1) / np.sqrt(len(orders)) if len(orders) > 1 else np.zeros(n_words)
    return ShapleyResult(credit.mean(0), stderr, target, full, 1 + rows.shape[0] * rows.shape[1])


def tflite_game(classifier, words: Words) -> Game:
    """The game of a ``.tflite`` (a :class:`kdedge.TextClassifier`) on ``words``: masked words -> ``<UNKNOWN>``."""
    tokenizer = classifier.tokenizer

    def game(keep: np.ndarray) -> np.ndarray:
        return classifier.probabilities_of_ids(masked_ids(tokenizer, words, keep))

    return game


def keras_game(model, tokenizer, words: Words, batch: int = 256) -> Game:
    """The game of a Keras student on ``words`` (probabilities from its logits)."""
    import tensorflow as tf

    def game(keep: np.ndarray) -> np.ndarray:
        ids = masked_ids(tokenizer, words, keep)
        out = [tf.nn.softmax(model(ids[i:i + batch], training=False), -1).numpy() for i in range(0, len(ids), batch)]
        return np.concatenate(out)

    return game
