"""The re-module word class equals the regex-module one it replaces, on every code point."""

from __future__ import annotations

import random

import regex

from kdedge.text import word_chars
from kdedge.text.tokenizer import WORD


def test_ranges_are_what_the_pinned_regex_computes():
    assert word_chars.REGEX_VERSION == regex.__version__, (
        f"kdedge/text/word_chars.py was generated with regex {word_chars.REGEX_VERSION}, regex "
        f"{regex.__version__} is installed: pyproject pins it; after changing the pin run "
        "python -m kdedge.text.word_chars")
    assert tuple(word_chars.compute_ranges()) == word_chars.RANGES


def test_re_and_regex_find_the_same_tokens():
    slow = regex.compile(WORD)
    rng = random.Random(0)
    pools = [range(0x20, 0x250), range(0x300, 0x370), range(0x370, 0x1000), range(0x1000, 0x3000),
             range(0x3000, 0xA000), range(0xD7F0, 0xE100), range(0x10000, 0x20000), range(0x20000, 0x32000),
             range(0xE0000, 0xE0200)]
    texts = ["", "  ", "don't stop", "café CAFÉ cafe\u0301", "ΑΣ\u0345 ς", "日本語のテキスト", "a_b c'd", "٣٤ ١٢",
             "\ud800lone surrogate\udfff"]
    for _ in range(3000):
        pool = rng.choice(pools)
        texts.append("".join(chr(rng.choice(pool)) if rng.random() < 0.8 else " " for _ in range(rng.randint(1, 40))))
    for text in texts:
        assert word_chars.WORD_RE.findall(text) == slow.findall(text), repr(text)
