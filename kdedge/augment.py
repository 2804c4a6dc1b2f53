"""Transfer-set augmentation (Tang et al. 2019, "Distilling Task-Specific Knowledge
from BERT into Simple Neural Networks", section 3.3).

A student learns more from the teacher when it sees more inputs than the
labeled set: augmented copies carry no gold label, the teacher labels them.
Two label-free rules, applied to whitespace-separated words:

- **masking**: each word becomes ``[MASK]`` with probability ``p_mask``. The
  teacher reads its mask token; the student's tokenizer maps ``[MASK]`` to
  [UNK]. The student learns what each word contributes.
- **n-gram sampling**: with probability ``p_ngram`` the example is cut to a
  random n-gram of 1-5 words.

Same seed, same copies: the teacher-logits cache key (a hash of the texts) is
stable across runs.
"""

from __future__ import annotations

import numpy as np

MASK = "[MASK]"


def augment_text(text: str, rng: np.random.Generator, p_mask: float, p_ngram: float) -> str:
    """One augmented copy of ``text`` (see the module docstring)."""
    words = text.split()
    if not words:
        return text
    words = [MASK if rng.random() < p_mask else w for w in words]
    if len(words) > 1 and rng.random() < p_ngram:
        n = int(rng.integers(1, min(5, len(words)) + 1))
        start = int(rng.integers(0, len(words) - n + 1))
        words = words[start:start + n]
    return " ".join(words)


def augment(texts: list[str], copies: int, p_mask: float = 0.1, p_ngram: float = 0.25, seed: int = 0,
            ) -> list[str]:
    """``copies`` augmented versions of every text, deduplicated against the originals and each other.

    Returns:
        New texts only, in a deterministic order.
    """
    rng = np.random.default_rng(seed)
    seen = set(texts)
    out = []
    for _ in range(copies):
        for text in texts:
            new = augment_text(text, rng, p_mask, p_ngram)
            if new not in seen:
                seen.add(new)
                out.append(new)
    return out
