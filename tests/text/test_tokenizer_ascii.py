"""The ASCII fast path of the format-3 tokenizer finds exactly the tokens of its Unicode pattern."""

from __future__ import annotations

import random

import regex

from kdedge.text.tokenizer import ASCII_WORD, WORD, RegexTokenizer


def test_ascii_word_equals_the_unicode_pattern_on_ascii():
    slow = regex.compile(WORD)
    for cp in range(128):  # every ASCII character alone and between letters
        for text in (chr(cp), f"a{chr(cp)}b", f"{chr(cp)}{chr(cp)}"):
            assert ASCII_WORD.findall(text) == slow.findall(text), repr(text)
    rng = random.Random(0)
    for _ in range(5000):
        text = "".join(chr(rng.randrange(128)) for _ in range(rng.randint(0, 60)))
        assert ASCII_WORD.findall(text) == slow.findall(text), repr(text)


def test_tokens_take_the_unicode_path_for_any_non_ascii_text():
    tok = RegexTokenizer(["<PAD>", "<UNKNOWN>", "cafe"], 8)
    # U+0301 (a combining mark) is a token character for \pM, never for re's \w
    assert tok.tokens("cafe\u0301 ok") == ["cafe\u0301", "ok"]
    assert tok.tokens("don't stop_now 42") == ["don't", "stop_now", "42"]
    assert tok.tokens("x" * 400 + " y", limit=2) == ["x" * 400, "y"]  # the long-text (finditer) path
