"""Unlabeled in-domain text for the transfer set.

A student learns the teacher's function only where it sees the teacher's
outputs. SST-2's train split is 67k phrases cut from ~7k sentences, so its
vocabulary misses ~5% of the dev tokens; the 50,000 unlabeled IMDB reviews
(``train/unsup``, same domain: movie reviews) add natural sentences and words
for the teacher to label.
"""

from __future__ import annotations

import re

import numpy as np

from kdedge.data.imdb import load_imdb
from kdedge.data.splits import Split

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def split_sentences(text: str) -> list[str]:
    """Split on ., ! or ? followed by space and a capital (good enough for reviews)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def imdb_unlabeled(data_dir, max_texts: int, seed: int = 0, sentences: bool = True,
                   min_words: int = 3, max_words: int = 64) -> Split:
    """A seeded sample of IMDB ``train/unsup``, as sentences (for SST-2) or whole reviews.

    Args:
        data_dir: folder with ``aclImdb_v1.tar.gz`` or ``aclImdb/``.
        max_texts: sample size.
        sentences: split reviews into sentences, keeping those of
            ``min_words``..``max_words`` words.
    """
    ds = load_imdb(data_dir, include_unlabeled=True)
    reviews = ds.unlabeled.texts
    if sentences:
        texts = [s for r in reviews for s in split_sentences(r) if min_words <= len(s.split()) <= max_words]
    else:
        texts = list(reviews)
    texts = list(dict.fromkeys(texts))  # drop duplicates, keep order
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.permutation(len(texts))[:max_texts])
    picked = [texts[i] for i in keep]
    return Split("unlabeled", picked, np.full(len(picked), -1, dtype=np.int64),
                 f"{ds.unlabeled.source} ({'sentences' if sentences else 'reviews'}, {len(picked)} sampled)")
