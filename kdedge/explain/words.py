"""The units every explainer scores: the student's words of a text, with their character spans."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from kdedge.text.tokenizer import RegexTokenizer, cut_at_nul


@dataclasses.dataclass(frozen=True)
class Words:
    """The student's words of one text: ``words[i]`` is ``text[spans[i][0]:spans[i][1]]``, in order.

    Only the first ``max_len`` words reach the student; the rest are left out of every explanation.
    """

    text: str
    words: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]

    def __len__(self) -> int:
        return len(self.words)


def student_words(tokenizer, text: str, max_words: int | None = None) -> Words:
    """The words ``tokenizer`` (a kdedge student tokenizer) makes of ``text``, with spans: the first
    ``max_words`` (default the tokenizer's ``max_len``: the words the student reads)."""
    text = cut_at_nul(text) if isinstance(tokenizer, RegexTokenizer) else text
    limit = tokenizer.max_len if max_words is None else max_words
    if isinstance(tokenizer, RegexTokenizer):
        spans, start = [], 0
        for m in tokenizer._re.finditer(text):
            if len(spans) >= limit:
                break
            if m.start() > start:
                spans.append((start, m.start()))
            start = m.end()
        if start < len(text) and len(spans) < limit:
            spans.append((start, len(text)))
    else:  # the format-1 word tokenizer: its pattern's matches (on lower-cased text: same offsets)
        source = text.lower() if tokenizer.lowercase else text
        spans = [(m.start(), m.end()) for m in itertools.islice(tokenizer._re.finditer(source), limit)]
    return Words(text, tuple(text[a:b] for a, b in spans), tuple(spans))


def masked_ids(tokenizer, words: Words, keep: np.ndarray) -> np.ndarray:
    """Student ids ``[len(keep), max_len]`` of ``words`` with the words where ``keep`` is False replaced by
    ``<UNKNOWN>`` (what the student reads for ``[MASK]``); ``keep`` is ``[n, len(words)]`` bool."""
    keep = np.atleast_2d(keep)
    lower = getattr(tokenizer, "lowercase", False)  # the format-1 tokenizer looks words up lower-cased
    base = np.array([tokenizer.token_id(w.lower() if lower else w) for w in words.words], dtype=np.int32)
    out = np.full((len(keep), tokenizer.max_len), tokenizer.pad_id, dtype=np.int32)
    out[:, :len(base)] = np.where(keep, base[None, :], tokenizer.unk_id)
    return out


def piece_to_word(offsets: list[tuple[int, int]], words: Words) -> np.ndarray:
    """For each sub-word piece (character ``offsets``; ``(0, 0)`` for special tokens) the index of the
    student word it overlaps, or -1 (special tokens, punctuation the student drops, words past max_len)."""
    out = np.full(len(offsets), -1, dtype=np.int64)
    for i, (a, b) in enumerate(offsets):
        if b <= a:
            continue
        for j, (s, e) in enumerate(words.spans):
            if a < e and s < b:
                out[i] = j
                break
    return out
