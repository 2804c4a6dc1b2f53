"""Unlabeled transfer text (kdedge.data.unlabeled)."""

from __future__ import annotations


def test_split_sentences() -> None:
    from kdedge.data.unlabeled import split_sentences
    assert split_sentences("I liked it. But the end? \"Awful\" really! ok") == [
        "I liked it.", "But the end?", "\"Awful\" really! ok"]
