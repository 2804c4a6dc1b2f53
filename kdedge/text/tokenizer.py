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

The family: :class:`RegexTokenizer` (format ``kdedge-word-tokenizer/3``, the
default for new students: MediaPipe's RegexTokenizer, see below),
:class:`WordTokenizer` (``/1``), :class:`HashedWordTokenizer` (``/2``:
out-of-vocabulary words hashed into extra ids; it overrides only
:meth:`WordTokenizer.token_id`), and :func:`load_tokenizer`, which reads any of
the three files.

MediaPipe's RegexTokenizer (``kdedge-word-tokenizer/3``)
--------------------------------------------------------

Exactly what MediaPipe Tasks' ``TextClassifier`` (and the TFLite Task
Library's ``NLClassifier``) do with a model whose input tensor carries a
RegexTokenizer process unit, so an app needs no code of ours:

1. cut the text at its first NUL character (the C++ side reads a C string);
2. split it on the delimiter regex ``delim`` (:data:`DELIM`: every run of
   characters that are not a letter, mark or digit of any script, ``_`` or
   ``'``); the pieces between delimiters are the tokens, empty pieces are
   dropped and the delimiters themselves (punctuation, spaces, emoji) are never
   tokens;
3. look each token up **exactly** (no lower-casing, no normalization) in the
   table of :meth:`RegexTokenizer.table`: every vocabulary word (built from
   lower-cased training text) is listed in its lower-case, Capitalized and
   UPPER forms under one id; anything else gets ``<UNKNOWN>`` (id 1);
4. keep the first ``max_len`` ids and right-pad with ``<PAD>`` (id 0). There is
   no ``<START>`` token and there are no hash buckets.

The table is the vocabulary file of the ``.tflite``'s metadata (``token id``
per line). RE2's ``\pL``/``\pM``/``\pN`` are the Python ``regex`` package's.

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
import itertools
import re

import regex
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
FORMAT_REGEX = "kdedge-word-tokenizer/3"
DELIM = r"[^\pL\pM\pN_']+"  # RE2 and Python regex alike: runs of anything but letters, marks, digits, _ and '
WORD = r"[\pL\pM\pN_']+"  # what DELIM leaves: the tokens themselves (findall is faster than split + filter)
# WORD on ASCII text, for the standard re module: ~2x cheaper per call than the regex module (2.5 vs
# 4.6 µs on an SST-2 sentence), most of the tokenizer's share of a one-text request. On ASCII, \w is
# [A-Za-z0-9_], exactly \pL\pN_ there (\pM has no ASCII member); str.isascii() is a flag lookup.
ASCII_WORD = re.compile(r"[\w']+")
REGEX_PAD, REGEX_UNK = "<PAD>", "<UNKNOWN>"  # the names MediaPipe's RegexTokenizer requires
CASES = ("lower", "capitalized", "upper")
OOV_HASH = "fnv1a32"

_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193


def fnv1a32(token: str) -> int:
    """32-bit FNV-1a of the token's UTF-8 bytes (the OOV hash; see the module docstring)."""
    h = _FNV_OFFSET
    for byte in token.encode("utf-8"):
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def ranked(counts: collections.Counter, min_count: int, keep: int) -> list[str]:
    """The ``keep`` tokens seen at least ``min_count`` times, by descending count, ties by the token string."""
    return sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))[:keep]


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
        return cls([PAD, UNK] + ranked(counts, min_count, vocab_size - 2), max_len, lowercase)

    @property
    def num_ids(self) -> int:
        """Rows the embedding table needs: the vocabulary plus any hash buckets."""
        return len(self.vocab) + self.buckets

    def tokens(self, text: str, limit: int | None = None) -> list[str]:
        """The tokens of ``text``; with ``limit``, only the first ``limit`` (the scan stops there)."""
        source = text.lower() if self.lowercase else text
        if limit is None:
            return self._re.findall(source)
        return [m.group() for m in itertools.islice(self._re.finditer(source), limit)]

    def token_id(self, token: str) -> int:
        """The id of one token: its vocabulary index, else ``unk_id``."""
        return self.index.get(token, self.unk_id)

    def encode(self, texts: Iterable[str], masks: bool = True) -> np.ndarray:
        """Token ids, int32 ``[n, max_len]``, truncated and right-padded (the mask token is always [UNK])."""
        texts = list(texts)
        out = np.zeros((len(texts), self.max_len), dtype=np.int32)
        for row, text in enumerate(texts):
            ids = [self.token_id(t) for t in self.tokens(text, self.max_len)]
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


def tokenizer_from_dict(d: dict, source: str = "tokenizer"):
    """A tokenizer of any format from its JSON object."""
    if d.get("format") == FORMAT_REGEX:
        return RegexTokenizer.from_dict(d, source)
    return HashedWordTokenizer.from_dict(d, source)


def load_tokenizer(path):
    """Read a tokenizer file of any format (``/1``: no buckets; ``/3``: :class:`RegexTokenizer`)."""
    return tokenizer_from_dict(read_json(path), str(path))


class RegexTokenizer:
    """MediaPipe's RegexTokenizer with a case-variant table (``kdedge-word-tokenizer/3``; module docstring).

    Args:
        vocab: words in id order; ``vocab[0]`` must be ``<PAD>`` and ``vocab[1]`` ``<UNKNOWN>``; the
            others lower-case words (their Capitalized and UPPER forms share their id).
        max_len: length of every encoded sequence (the model's input width).
        delim: the delimiter regex (RE2 syntax that Python's ``regex`` reads the same way).
    """

    pad_id, unk_id = 0, 1
    buckets = 0
    format = FORMAT_REGEX

    def __init__(self, vocab: list[str], max_len: int, delim: str = DELIM):
        if vocab[:2] != [REGEX_PAD, REGEX_UNK]:
            raise ValueError(f"vocab must start with {REGEX_PAD}, {REGEX_UNK}")
        self.vocab = list(vocab)
        self.max_len = max_len
        self.delim = delim
        self._re = regex.compile(delim)
        self._word = regex.compile(WORD) if delim == DELIM else None  # other delimiters: split and filter
        self.index = {}
        for i, word in enumerate(self.vocab):
            for form in (self.variants(word) if i >= 2 else (word,)):
                self.index.setdefault(form, i)  # a form two words share goes to the more frequent one

    @classmethod
    def from_vocab_file(cls, content: bytes, max_len: int, delim: str) -> "RegexTokenizer":
        """The tokenizer a ``.tflite``'s RegexTokenizer metadata describes: its ``token id`` file as is.

        Raises:
            ValueError: a line is not ``token id``, or ``<PAD>`` / ``<UNKNOWN>`` is missing.
        """
        index: dict[str, int] = {}
        for line_no, line in enumerate(content.decode("utf-8").split("\n"), start=1):
            if not line.strip():
                continue
            token, _, number = line.rpartition(" ")
            if not token or not number.isdigit():
                raise ValueError(f"line {line_no}: expected 'token id', got {line[:40]!r}")
            index.setdefault(token, int(number))
        missing = [t for t in (REGEX_PAD, REGEX_UNK) if t not in index]
        if missing:
            raise ValueError(f"no {' or '.join(missing)} entry")
        tok = cls.__new__(cls)
        tok.max_len, tok.delim, tok._re, tok.index = max_len, delim, regex.compile(delim), index
        tok._word = regex.compile(WORD) if delim == DELIM else None
        tok.pad_id, tok.unk_id = index[REGEX_PAD], index[REGEX_UNK]
        first: dict[int, str] = {}
        for token, i in index.items():
            first.setdefault(i, token)
        tok.vocab = [first.get(i, "") for i in range(max(first) + 1)]
        return tok

    @staticmethod
    def variants(word: str) -> list[str]:
        """The forms of a vocabulary word that share its id: lower, Capitalized, UPPER (distinct, in that order)."""
        forms = [word, word[:1].upper() + word[1:], word.upper()]
        return list(dict.fromkeys(forms))

    @classmethod
    def build(cls, texts: Iterable[str], max_len: int, vocab_size: int, min_count: int = 1,
              delim: str = DELIM) -> "RegexTokenizer":
        """Vocabulary of the ``vocab_size - 2`` most frequent lower-cased tokens (ties by the token string)."""
        if vocab_size < 3:
            raise ConfigError(f"--vocab-size must be >= 3, got {vocab_size}")
        splitter = regex.compile(delim)
        counts = collections.Counter()
        for text in texts:
            counts.update(t for t in splitter.split(cut_at_nul(text).lower()) if t)
        return cls([REGEX_PAD, REGEX_UNK] + ranked(counts, min_count, vocab_size - 2), max_len, delim)

    @property
    def num_ids(self) -> int:
        return len(self.vocab)

    def tokens(self, text: str, limit: int | None = None) -> list[str]:
        """The tokens MediaPipe sees: the non-empty pieces between delimiter matches; with ``limit``, only
        the first ``limit`` (the scan stops there: a 1 MB text costs what its first words do)."""
        text = cut_at_nul(text)
        if self._word is not None:  # the default delimiter: the tokens are the runs of what it leaves
            word = ASCII_WORD if text.isascii() else self._word
            if limit is None or len(text) <= 32 * limit:  # short text: one C call
                found = word.findall(text)
                return found if limit is None else found[:limit]
            return [m.group() for m in itertools.islice(word.finditer(text), limit)]
        pieces = (t for t in self._re.splititer(text) if t)
        return list(pieces if limit is None else itertools.islice(pieces, limit))

    def token_id(self, token: str) -> int:
        return self.index.get(token, self.unk_id)

    def encode(self, texts: Iterable[str], masks: bool = False) -> np.ndarray:
        """Token ids, int32 ``[n, max_len]``, exactly as MediaPipe computes them.

        ``masks=True`` (training on augmented text only) makes each ``[MASK]`` of
        :mod:`kdedge.text.augment` one ``<UNKNOWN>``; MediaPipe would read it as the word ``MASK``.
        """
        texts = list(texts)
        out = np.full((len(texts), self.max_len), self.pad_id, dtype=np.int32)
        for row, text in enumerate(texts):
            if masks and "[" in text:
                ids = []
                for k, piece in enumerate(_split_masks(text)):
                    if k:
                        ids.append(self.unk_id)
                    ids.extend(self.token_id(t) for t in self.tokens(piece, max(0, self.max_len - len(ids))))
                    if len(ids) >= self.max_len:
                        break
            else:
                ids = self.ids(text)
            ids = ids[:self.max_len]
            out[row, :len(ids)] = ids
        return out

    def ids(self, text: str) -> list[int]:
        """The ids of one text's first ``max_len`` tokens, unpadded (one row of :meth:`encode`)."""
        get, unk = self.index.get, self.unk_id
        return [get(t, unk) for t in self.tokens(text, self.max_len)]

    def table(self) -> list[tuple[str, int]]:
        """``(token, id)`` for every form the model knows: the vocabulary file of the ``.tflite``."""
        return sorted(self.index.items(), key=lambda item: (item[1], item[0] != self.vocab[item[1]]))

    def vocab_file(self) -> bytes:
        """The RegexTokenizer vocabulary file: ``token id`` per line, UTF-8."""
        return "".join(f"{tok} {i}\n" for tok, i in self.table()).encode("utf-8")

    def with_vocab(self, vocab: list[str], buckets: int = 0) -> "RegexTokenizer":
        """The same tokenizer over another vocabulary (no hash buckets: MediaPipe has one ``<UNKNOWN>``)."""
        if buckets:
            raise ConfigError(f"{FORMAT_REGEX} (MediaPipe's RegexTokenizer) has no OOV hash buckets; "
                              "build the student with --tokenizer word to use them")
        return RegexTokenizer([REGEX_PAD, REGEX_UNK] + list(vocab[2:]), self.max_len, self.delim)

    def to_dict(self) -> dict:
        return {"format": FORMAT_REGEX, "delim_regex_pattern": self.delim, "case_variants": list(CASES),
                "max_len": self.max_len, "pad_id": self.pad_id, "unk_id": self.unk_id, "vocab": self.vocab}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict, source: str = "tokenizer") -> "RegexTokenizer":
        if d.get("format") != FORMAT_REGEX:
            raise StageInputError(f"{source}: not a {FORMAT_REGEX} file")
        if list(d.get("case_variants", CASES)) != list(CASES):
            raise StageInputError(f"{source}: unknown case_variants {d.get('case_variants')!r}")
        return cls(d["vocab"], d["max_len"], d["delim_regex_pattern"])

    @classmethod
    def load(cls, path) -> "RegexTokenizer":
        return cls.from_dict(read_json(path), str(path))


_MASK_SPLIT = re.compile(r"\[(?:MASK|mask)\]")


def _split_masks(text: str):
    """``text`` split at each ``[MASK]``, lazily (the encoder stops once it has ``max_len`` ids)."""
    start = 0
    for m in _MASK_SPLIT.finditer(text):
        yield text[start:m.start()]
        start = m.end()
    yield text[start:]


def cut_at_nul(text: str) -> str:
    """The text up to its first NUL character (what a C string holds)."""
    nul = text.find("\0")
    return text if nul < 0 else text[:nul]


def build_tokenizer(kind: str, texts: Iterable[str], max_len: int, vocab_size: int):
    """A new student tokenizer: ``regex`` (format 3, MediaPipe) or ``word`` (format 1)."""
    if kind == "regex":
        return RegexTokenizer.build(texts, max_len, vocab_size)
    if kind == "word":
        return WordTokenizer.build(texts, max_len, vocab_size)
    raise ConfigError(f"--tokenizer must be regex or word, got {kind!r}")
