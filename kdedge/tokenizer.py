r"""The student's word tokenizer: small, deterministic, and portable.

The whole contract is in ``tokenizer.json`` so an Android app (or any other
language) can reproduce the ids exactly:

1. lower-case the text (Unicode ``str.lower``) if ``lowercase``;
2. split with the regular expression ``pattern``: every match is a token
   (the literal ``[MASK]`` or ``[mask]``, runs of letters/digits/apostrophes, or one other
   non-space character);
3. map each token to ``vocab[token]``, unknown tokens (and the mask, which
   the vocabulary never holds) to ``unk_id``;
4. keep the first ``max_len`` ids and right-pad with ``pad_id``.

``\w`` is Unicode-aware (Python ``re``): letters and digits of any script.
The vocabulary is built from the training text: tokens sorted by descending
count, ties broken by the token string, cut at ``vocab_size`` (ids 0 and 1 are
[PAD] and [UNK]). The same text always gives the same file.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path
from typing import Iterable

import numpy as np

from kdedge.errors import ConfigError, StageInputError
from kdedge.io import read_json, write_json

PATTERN = r"\[(?:mask|MASK)\]|[\w']+|[^\w\s]"
MASKS = ("[mask]", "[MASK]")  # the mask token of augmented text; never in the vocabulary
PAD, UNK = "[PAD]", "[UNK]"
FORMAT = "kdedge-word-tokenizer/1"


class WordTokenizer:
    """Word-level tokenizer with a fixed output length.

    Args:
        vocab: tokens in id order; ``vocab[0]`` must be [PAD] and ``vocab[1]`` [UNK].
        max_len: length of every encoded sequence.
        lowercase: lower-case before splitting.
    """

    def __init__(self, vocab: list[str], max_len: int, lowercase: bool = True, pattern: str = PATTERN):
        if vocab[:2] != [PAD, UNK]:
            raise ValueError("vocab must start with [PAD], [UNK]")
        self.vocab = list(vocab)
        self.index = {tok: i for i, tok in enumerate(self.vocab)}
        self.max_len = max_len
        self.lowercase = lowercase
        self.pattern = pattern
        self._re = re.compile(pattern)

    pad_id, unk_id = 0, 1

    @classmethod
    def build(cls, texts: Iterable[str], max_len: int, vocab_size: int, min_count: int = 1,
              lowercase: bool = True) -> "WordTokenizer":
        """Build the vocabulary from ``texts`` (see the module docstring for the order)."""
        if vocab_size < 3:
            raise ConfigError(f"--vocab-size must be >= 3, got {vocab_size}")
        splitter = re.compile(PATTERN)
        counts = collections.Counter()
        for text in texts:
            counts.update(splitter.findall(text.lower() if lowercase else text))
        for mask in MASKS:
            counts.pop(mask, None)
        ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK] + ranked[:vocab_size - 2], max_len, lowercase)

    def tokens(self, text: str) -> list[str]:
        return self._re.findall(text.lower() if self.lowercase else text)

    def encode(self, texts: Iterable[str]) -> np.ndarray:
        """Token ids, int32 ``[n, max_len]``, truncated and right-padded."""
        texts = list(texts)
        out = np.zeros((len(texts), self.max_len), dtype=np.int32)
        for row, text in enumerate(texts):
            ids = [self.index.get(t, self.unk_id) for t in self.tokens(text)[:self.max_len]]
            out[row, :len(ids)] = ids
        return out

    def to_dict(self) -> dict:
        return {"format": FORMAT, "lowercase": self.lowercase, "pattern": self.pattern,
                "max_len": self.max_len, "pad_id": self.pad_id, "unk_id": self.unk_id,
                "vocab": self.vocab}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "WordTokenizer":
        d = read_json(path)
        if d.get("format") != FORMAT:
            raise StageInputError(f"{path}: not a {FORMAT} file")
        return cls(d["vocab"], d["max_len"], d["lowercase"], d["pattern"])
