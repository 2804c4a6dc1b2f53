"""Property tests (hypothesis): the tokenizers never fail on any text and stay in range, format 3 matches an
independent implementation of MediaPipe's RegexTokenizer rule, and a table either loads or raises DataError
naming the file and the line."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdedge.errors import DataError
from kdedge.text.tokenizer import RegexTokenizer, WordTokenizer

# Any code point Python's unicodedata knows (its Unicode version may be older than the regex module's: a
# character that is unassigned to one and a letter to the other is a version gap, not a tokenizer bug).
ASSIGNED = st.characters(exclude_categories=("Cn",))
TEXTS = st.text(alphabet=ASSIGNED, max_size=200)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CORPUS = ["good film", "Bad movie, really bad!", "café crème", "Привет мир", "日本語 テキスト", "it's fine_ok"]


@pytest.fixture(scope="module")
def regex_tok():
    return RegexTokenizer.build(CORPUS, 12, vocab_size=40)


@pytest.fixture(scope="module")
def word_tok():
    return WordTokenizer.build(CORPUS, 12, vocab_size=40)


@given(texts=st.lists(TEXTS, max_size=5))
@SETTINGS
def test_encode_never_fails_and_stays_in_range(regex_tok, word_tok, texts):
    for tok in (regex_tok, word_tok):
        ids = tok.encode(texts)
        assert ids.dtype == np.int32 and ids.shape == (len(texts), tok.max_len)
        assert ids.min(initial=0) >= 0 and ids.max(initial=0) < tok.num_ids


def mediapipe_rule(text: str, vocab: dict[str, int], max_len: int, pad: int, unk: int) -> list[int]:
    """MediaPipe's RegexTokenizer with kdedge's delimiter, written from its description, not from kdedge's code:
    cut at the first NUL; tokens are the maximal runs of letters, marks, digits, '_' and "'" (everything else
    delimits and is dropped); exact lookup, else <UNKNOWN>; the first max_len; right-padded with <PAD>."""
    text = text.split("\x00", 1)[0]
    tokens, run = [], []
    for ch in text:
        if unicodedata.category(ch)[0] in "LMN" or ch in "_'":
            run.append(ch)
        elif run:
            tokens.append("".join(run))
            run = []
    if run:
        tokens.append("".join(run))
    ids = [vocab.get(t, unk) for t in tokens][:max_len]
    return ids + [pad] * (max_len - len(ids))


WORDS = st.builds(" ".join, st.lists(st.sampled_from(" ".join(CORPUS).split() + ["GOOD", "Bad"]), max_size=20))


@given(text=st.one_of(TEXTS, WORDS, st.builds(lambda a, b: f"{a}\x00{b}", WORDS, WORDS)))
@SETTINGS
def test_format_3_ids_follow_the_mediapipe_rule(regex_tok, text):
    vocab = dict(regex_tok.table())
    want = mediapipe_rule(text, vocab, regex_tok.max_len, regex_tok.pad_id, regex_tok.unk_id)
    assert regex_tok.encode([text])[0].tolist() == want


CELLS = st.one_of(st.text(max_size=20), st.integers(-3, 5), st.none(), st.floats(allow_nan=True), st.booleans(),
                  st.lists(st.integers(), max_size=2))


@given(rows=st.lists(st.fixed_dictionaries({}, optional={"text": CELLS, "label": CELLS, "extra": CELLS}),
                     max_size=6),
       junk=st.sampled_from(["", "\n", "{not json\n", "[1, 2]\n", "\xff"]))
@SETTINGS
def test_a_jsonl_table_loads_or_names_file_and_line(tmp_path, rows, junk):
    from kdedge.data.table import load_table

    path = tmp_path / "t.jsonl"
    body = "".join(json.dumps(r) + "\n" for r in rows) + junk
    path.write_bytes(body.encode("utf-8", "surrogatepass") if junk != "\xff" else body[:-1].encode() + b"\xff\n")
    try:
        split = load_table(path)
    except DataError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e), str(e)
        return
    assert len(split.texts) == len(split.labels) and all(isinstance(t, str) and t for t in split.texts)


@given(content=st.binary(max_size=300) | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")))
@SETTINGS
def test_a_csv_or_tsv_of_any_bytes_loads_or_names_the_file(tmp_path, content):
    from kdedge.data.table import load_table

    for name in ("t.csv", "t.tsv"):
        path = tmp_path / name
        path.write_bytes(b"text,label\n" + content if name == "t.csv" else b"text\tlabel\n" + content)
        try:
            split = load_table(path)
        except DataError as e:
            assert str(e).startswith(str(path)) and "\n" not in str(e), str(e)
            continue
        assert len(split.texts) == len(split.labels)
