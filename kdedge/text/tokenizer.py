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

The family: :class:`WordTokenizer` (format ``kdedge-word-tokenizer/1``),
:class:`HashedWordTokenizer` (``/2``: out-of-vocabulary words hashed into extra
ids; it overrides only :meth:`WordTokenizer.token_id`), and
:func:`load_tokenizer`, which reads either file.

Hashing out-of-vocabulary words (``kdedge-word-tokenizer/2``)
--------------------------------------------------------------

Tokenize exactly as ``kdedge-word-tokenizer/1`` (lower-case, the regex). A
token in ``vocab`` gets its index; the mask tokens (``[mask]``, ``[MASK]``)
get ``unk_id``; any other token gets::

    len(vocab) + fnv1a32(utf8(token)) % oov_buckets

where ``fnv1a32`` is 32-bit FNV-1a over the token's UTF-8 bytes (the token as
the regex returned it, i.e. after lower-casing when ``lowercase``)::

    h = 0x811C9DC5
    for each byte b: h = ((h XOR b) * 0x01000193) mod 2**32

(Java/Kotlin: ``h = (h xor b) * 16777619`` on an ``Int`` then
``Integer.toUnsignedLong(h) % buckets``; bytes taken unsigned, ``b and 0xFF``.)
Python's ``hash()`` is salted per process and is never used. The JSON adds
``"oov_buckets": B`` and ``"oov_hash": "fnv1a32"`` with ``"format":
"kdedge-word-tokenizer/2"``; a file with ``B = 0`` is written as format ``/1``
unchanged, so the existing pipeline reads it. :func:`load_tokenizer` reads
both formats. The embedding table has ``len(vocab) + B`` rows.
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
FORMAT_HASHED = "kdedge-word-tokenizer/2"
OOV_HASH = "fnv1a32"

_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193


def fnv1a32(token: str) -> int:
    """32-bit FNV-1a of the token's UTF-8 bytes (the OOV hash; see the module docstring)."""
    h = _FNV_OFFSET
    for byte in token.encode("utf-8"):
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


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
    buckets = 0  # out-of-vocabulary hash buckets (HashedWordTokenizer)

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

    @property
    def num_ids(self) -> int:
        """Rows the embedding table needs: the vocabulary plus any hash buckets."""
        return len(self.vocab) + self.buckets

    def tokens(self, text: str) -> list[str]:
        return self._re.findall(text.lower() if self.lowercase else text)

    def token_id(self, token: str) -> int:
        """The id of one token: its vocabulary index, else ``unk_id``."""
        return self.index.get(token, self.unk_id)

    def encode(self, texts: Iterable[str]) -> np.ndarray:
        """Token ids, int32 ``[n, max_len]``, truncated and right-padded."""
        texts = list(texts)
        out = np.zeros((len(texts), self.max_len), dtype=np.int32)
        for row, text in enumerate(texts):
            ids = [self.token_id(t) for t in self.tokens(text)[:self.max_len]]
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
        """Read a ``/1`` file (a ``/2`` file is refused rather than mis-tokenized)."""
        d = read_json(path)
        if d.get("format") != FORMAT:
            raise StageInputError(f"{path}: not a {FORMAT} file")
        return cls(d["vocab"], d["max_len"], d["lowercase"], d["pattern"])


class HashedWordTokenizer(WordTokenizer):
    """A :class:`WordTokenizer` whose out-of-vocabulary tokens fall into ``buckets`` extra ids.

    Ids ``len(vocab) .. len(vocab) + buckets - 1`` are the buckets (see the
    module docstring for the hash); ``buckets=0`` is a plain WordTokenizer.

    Args:
        vocab, max_len, lowercase, pattern: as :class:`WordTokenizer`.
        buckets: number of hash buckets for out-of-vocabulary tokens.
    """

    def __init__(self, vocab: list[str], max_len: int, lowercase: bool = True, pattern: str = PATTERN,
                 buckets: int = 0):
        super().__init__(vocab, max_len, lowercase, pattern)
        if buckets < 0:
            raise ConfigError(f"buckets must be >= 0, got {buckets}")
        self.buckets = buckets

    def token_id(self, token: str) -> int:
        if token in self.index:
            return self.index[token]
        if self.buckets == 0 or token in MASKS:
            return self.unk_id
        return len(self.vocab) + fnv1a32(token) % self.buckets

    def to_dict(self) -> dict:
        d = super().to_dict()
        if self.buckets:
            d.update(format=FORMAT_HASHED, oov_buckets=self.buckets, oov_hash=OOV_HASH)
        return d

    @classmethod
    def from_dict(cls, d: dict, source: str = "tokenizer") -> "HashedWordTokenizer":
        fmt = d.get("format")
        if fmt not in (FORMAT, FORMAT_HASHED):
            raise StageInputError(f"{source}: not a {FORMAT} or {FORMAT_HASHED} file (format {fmt!r})")
        buckets = int(d.get("oov_buckets", 0)) if fmt == FORMAT_HASHED else 0
        if buckets and d.get("oov_hash") != OOV_HASH:
            raise StageInputError(f"{source}: unknown oov_hash {d.get('oov_hash')!r} (this kdedge knows {OOV_HASH})")
        return cls(d["vocab"], d["max_len"], d["lowercase"], d["pattern"], buckets)

    @classmethod
    def load(cls, path) -> "HashedWordTokenizer":
        """Read a file of either format (``/1``: no buckets)."""
        return cls.from_dict(read_json(path), str(path))


def load_tokenizer(path) -> HashedWordTokenizer:
    """Read a tokenizer file of either format (``/1``: no buckets)."""
    return HashedWordTokenizer.load(path)
