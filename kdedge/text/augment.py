"""Transfer-set augmentation (Tang et al. 2019, "Distilling Task-Specific Knowledge
from BERT into Simple Neural Networks", section 3.3).

A student learns more from the teacher when it sees more inputs than the
labeled set: augmented copies carry no gold label, the teacher labels them.
Three label-free rules, applied to whitespace-separated words:

- **masking**: each word becomes ``[MASK]`` with probability ``p_mask``. The
  teacher reads its mask token; the student's tokenizer maps ``[MASK]`` to
  [UNK]. The student learns what each word contributes.
- **replacement**: with probability ``p_replace`` a word becomes one of its
  distributional neighbours. Tang et al. swap words of the same part of
  speech; a tagger needs downloaded models, so kdedge takes the nearest words
  by cosine in the teacher's word-embedding space (:func:`word_neighbours`),
  which also mostly share the part of speech ("great" -> "terrific", "good").
  The teacher relabels the copy, so a swap that flips the sentiment is a
  useful example, not a wrong one.
- **n-gram sampling**: with probability ``p_ngram`` the example is cut to a
  random n-gram of 1-5 words.

Per word, one uniform draw ``u`` decides: mask if ``u < p_mask``, else replace
if ``u < p_mask + p_replace``, else keep.

Same seed, same copies: the teacher-logits cache key (a hash of the texts) is
stable across runs.
"""

from __future__ import annotations

import numpy as np

MASK = "[MASK]"


def augment_text(text: str, rng: np.random.Generator, p_mask: float, p_ngram: float, p_replace: float = 0.0,
                 neighbours: dict[str, list[str]] | None = None) -> str:
    """One augmented copy of ``text`` (see the module docstring).

    ``neighbours`` maps a lowercased word to its replacements (words without
    an entry are never replaced).
    """
    words = text.split()
    if not words:
        return text
    out = []
    for w in words:
        u = rng.random()
        if u < p_mask:
            w = MASK
        elif u < p_mask + p_replace and neighbours and neighbours.get(w.lower()):
            options = neighbours[w.lower()]
            w = options[int(rng.integers(len(options)))]
        out.append(w)
    words = out
    if len(words) > 1 and rng.random() < p_ngram:
        n = int(rng.integers(1, min(5, len(words)) + 1))
        start = int(rng.integers(0, len(words) - n + 1))
        words = words[start:start + n]
    return " ".join(words)


def augment(texts: list[str], copies: int, p_mask: float = 0.1, p_ngram: float = 0.25, seed: int = 0,
            p_replace: float = 0.0, neighbours: dict[str, list[str]] | None = None) -> list[str]:
    """``copies`` augmented versions of every text, deduplicated against the originals and each other.

    Returns:
        New texts only, in a deterministic order.
    """
    rng = np.random.default_rng(seed)
    seen = set(texts)
    out = []
    for _ in range(copies):
        for text in texts:
            new = augment_text(text, rng, p_mask, p_ngram, p_replace, neighbours)
            if new not in seen:
                seen.add(new)
                out.append(new)
    return out


def word_neighbours(words: list[str], vectors: np.ndarray, k: int = 10) -> dict[str, list[str]]:
    """The ``k`` nearest other words of each alphabetic word, by cosine of ``vectors`` (one row per word)."""
    keep = [i for i, w in enumerate(words) if w.isalpha()]
    names = [words[i] for i in keep]
    v = np.asarray(vectors, dtype=np.float32)[keep]
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-8)
    out = {}
    for start in range(0, len(v), 2048):
        sims = v[start:start + 2048] @ v.T
        for row, i in enumerate(range(start, min(start + 2048, len(v)))):
            sims[row, i] = -np.inf  # not itself
        top = np.argpartition(-sims, min(k, len(v) - 1) - 1, axis=1)[:, :k] if len(v) > 1 else None
        for row, i in enumerate(range(start, min(start + 2048, len(v)))):
            if top is None:
                continue
            order = top[row][np.argsort(-sims[row, top[row]])]
            out[names[i]] = [names[j] for j in order if j != i]
    return out
