import json

import numpy as np

from kdedge.text.tokenizer import WordTokenizer


def test_vocab_is_ordered_by_count_then_token_and_capped():
    tok = WordTokenizer.build(["b a a", "c b a", "d"], max_len=4, vocab_size=4)
    assert tok.vocab == ["[PAD]", "[UNK]", "a", "b"]


def test_encode_lowercases_splits_punctuation_truncates_and_pads():
    tok = WordTokenizer(["[PAD]", "[UNK]", "it", "is", "n't", "good", "!"], max_len=6)
    ids = tok.encode(["It is n't GOOD!", "bad", "good good good good good good good"])
    assert ids.dtype == np.int32 and ids.shape == (3, 6)
    assert ids[0].tolist() == [2, 3, 4, 5, 6, 0]
    assert ids[1].tolist() == [1, 0, 0, 0, 0, 0]
    assert ids[2].tolist() == [5] * 6


def test_same_text_gives_same_file(tmp_path):
    texts = ["the movie was great", "the plot , sadly , was n't", "great great film"]
    WordTokenizer.build(texts, 8, 100).save(tmp_path / "a.json")
    WordTokenizer.build(list(texts), 8, 100).save(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_save_load_round_trip_and_contract_fields(tmp_path):
    tok = WordTokenizer.build(["a b c", "c d"], 5, 10)
    tok.save(tmp_path / "t.json")
    d = json.loads((tmp_path / "t.json").read_text())
    assert {"pattern", "lowercase", "max_len", "pad_id", "unk_id", "vocab"} <= set(d)
    back = WordTokenizer.load(tmp_path / "t.json")
    assert back.vocab == tok.vocab
    assert (back.encode(["c a z"]) == tok.encode(["c a z"])).all()


class _Counting:
    """A compiled pattern that counts the matches its iterators hand out (how far a scan went)."""

    def __init__(self, pattern):
        self.pattern, self.seen = pattern, 0

    def _count(self, it):
        for x in it:
            self.seen += 1
            yield x

    def finditer(self, text):
        return self._count(self.pattern.finditer(text))

    def splititer(self, text):
        return self._count(self.pattern.splititer(text))


def test_a_huge_text_is_read_only_as_far_as_max_len():
    """A 1 MB text costs what its first max_len words do: the scan stops there, and the ids are the same as
    for the full split cut to max_len (both tokenizer formats, the [MASK] path and explain's words too)."""
    from kdedge.explain.words import student_words
    from kdedge.text.tokenizer import RegexTokenizer

    text = "good film, " * 100_000
    for tok in (WordTokenizer.build(["good film"], 8, vocab_size=10),
                RegexTokenizer.build(["good film"], 8, vocab_size=10)):
        full = tok.tokens(text)
        assert tok.tokens(text, 8) == full[:8] and tok.tokens("", 8) == [] and tok.tokens(text, 0) == []
        counter = _Counting(tok._re)
        tok._re = counter
        try:
            ids = tok.encode([text])
            assert counter.seen <= 20, counter.seen
            if isinstance(tok, RegexTokenizer):
                masked = tok.encode(["good [MASK] " * 100_000], masks=True)[0].tolist()
                assert masked == [tok.token_id("good"), tok.unk_id] * 4 and counter.seen <= 20
            counter.seen = 0
            assert len(student_words(tok, text)) == 8 and counter.seen <= 20
        finally:
            tok._re = counter.pattern
        assert ids[0].tolist() == [tok.token_id(t) for t in full[:8]]
