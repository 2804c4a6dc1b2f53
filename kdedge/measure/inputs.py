"""The inputs a model is run and timed on: real texts, tokenized the way the model's app would.

``eval`` cycles through a seeded sample of the eval split (so lengths follow its
distribution), and ``len=L`` feeds exactly ``L`` real tokens (eval texts joined
and cut), for a latency-vs-length view. The models take a fixed ``[1, max_len]``
shape, so length changes only what is padding. Each manifest entry of an export
names its tokenizer: the teacher's WordPiece folder or a word-tokenizer file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def model_feeds(export_dir: Path, entry: dict, texts: list[str], max_len: int) -> list[dict[str, np.ndarray]]:
    """One ``[1, max_len]`` input dict per text, tokenized the way the model's app would."""
    arrays = token_arrays(export_dir, entry, texts)
    return [{k: v[i:i + 1] for k, v in arrays.items()} for i in range(len(texts))]


def token_arrays(export_dir: Path, entry: dict, texts: list[str], length: int | None = None) -> dict:
    """The model's input arrays for ``texts`` (``[n, max_len]`` int32 each).

    With ``length``, each row holds exactly that many real tokens (counting the
    teacher's [CLS]/[SEP]): every text must be long enough (see :func:`fixed_length_texts`).
    """
    if entry["kind"] == "teacher":
        from transformers import BertTokenizerFast

        from kdedge.models.teacher import tokenize
        tok = BertTokenizerFast.from_pretrained(str(Path(export_dir) / entry["tokenizer"]))
        width = entry["max_len"]
        cut = min(length, width) if length else width
        ids = np.zeros((len(texts), width), dtype=np.int32)
        for i, row in enumerate(tokenize(tok, texts, cut, "head" if length else entry.get("truncation", "head"))):
            ids[i, :len(row)] = row
        return {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int32)}
    from kdedge.text.tokenizer import load_tokenizer  # word tokenizer, with or without OOV hash buckets
    ids = load_tokenizer(Path(export_dir) / entry["tokenizer"]).encode(texts)
    if length:
        ids[:, length:] = 0
    return {"input_ids": ids}


def fixed_length_texts(texts: list[str], n: int, words: int, seed: int = 0) -> list[str]:
    """``n`` texts of at least ``words`` words, each real eval texts joined in a seeded order."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        parts, count = [], 0
        for i in rng.permutation(len(texts)):
            parts.append(texts[i])
            count += len(texts[i].split())
            if count >= words:
                break
        out.append(" ".join(parts))
    return out


def input_sets(export_dir: Path, entry: dict, texts: list[str], max_len: int, lengths: tuple,
               pool: int = 64, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """The named input sets one model is timed on: ``eval`` and ``len=L`` per length.

    ``lengths`` holds ints or ``"max"`` (the model's own max length); each set is a
    dict of ``[pool, max_len]`` arrays.
    """
    rng = np.random.default_rng(seed)
    sample = [texts[i] for i in rng.choice(len(texts), size=min(pool, len(texts)), replace=False)]
    width = entry.get("max_len", max_len)
    sets = {"eval": token_arrays(export_dir, entry, sample)}
    for length in lengths:
        n = width if length == "max" else min(int(length), width)
        if f"len={n}" in sets:
            continue
        # Whitespace words >= tokens for the word tokenizer; WordPiece only splits further.
        long = fixed_length_texts(texts, pool, 2 * n + 8, seed)
        sets[f"len={n}"] = token_arrays(export_dir, entry, long, length=n)
    return sets


def as_feeds(arrays: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    n = len(next(iter(arrays.values())))
    return [{k: v[i:i + 1] for k, v in arrays.items()} for i in range(n)]
