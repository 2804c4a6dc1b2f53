"""The pure-Java tokenizer (android_demo/tokenizer) gives kdedge's Python ids on every golden text.

Python writes the golden texts (tests/android/golden.py: every code point of planes 0-3 and 14,
emoji, combining marks, case variants, final sigma, dotted I, NUL, 100k-character texts, and the
SST-2 dev sentences when ../shared/data has them) and the ids its tokenizers give, for formats 3
(from the vocabulary and from the .tflite's explicit table), 1 (lower-cased and not) and 2
(hashed); the JUnit test GoldenParityTest asserts identical ids.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from kdedge.text.tokenizer import PATTERN, HashedWordTokenizer, RegexTokenizer, WordTokenizer
from tests.android.golden import MAX_LEN, golden_texts, lone_surrogate_texts
from tests.android.jvm import ANDROID_DEMO, compile_module, run_junit
from tests.support import make_sentences

GENERATOR = ANDROID_DEMO / "tokenizer" / "generate_tables.py"


def _sst2_dev() -> list[str]:
    """SST-2 dev sentences when a data folder has them (CI may not: the sweep does not need them)."""
    for root in (os.environ.get("KDEDGE_DATA"), Path(__file__).resolve().parents[3] / "shared" / "data"):
        path = Path(root) / "SST-2" / "dev.tsv" if root else None
        if path and path.is_file():
            with open(path, encoding="utf-8", newline="") as f:
                return [row["sentence"] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    return []


def _write_strings(path: Path, strings: list[str]) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack(">i", len(strings)))
        for s in strings:
            units = s.encode("utf-16-be", "surrogatepass")
            f.write(struct.pack(">i", len(units) // 2) + units)


def _write_ids(path: Path, ids: np.ndarray) -> None:
    path.write_bytes(struct.pack(">ii", *ids.shape) + ids.astype(">i4").tobytes())


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """The golden folder GoldenParityTest reads; returns (folder, texts checked in all)."""
    folder = tmp_path_factory.mktemp("golden")
    texts = golden_texts(extra=[s for s, _ in make_sentences(300, 11)] + _sst2_dev())
    odd = lone_surrogate_texts()
    _write_strings(folder / "texts.bin", texts)
    _write_strings(folder / "surrogates.bin", odd)
    f3 = RegexTokenizer.build(texts, MAX_LEN, vocab_size=10**7)
    f1 = WordTokenizer.build(texts, MAX_LEN, vocab_size=10**7)
    cases = {  # name: (format, tokenizer, lowercase, buckets, vocabulary file, text files)
        "f3": ("3", f3, "-", 0, "f3.vocab", "texts.bin,surrogates.bin"),
        "f3-table": ("3-file", f3, "-", 0, "f3.table", "texts.bin,surrogates.bin"),
        "f3-small": ("3", RegexTokenizer.build(texts, MAX_LEN, vocab_size=3000), "-", 0, "f3-small.vocab", "texts.bin"),
        "f1": ("1", f1, True, 0, "f1.vocab", "texts.bin,surrogates.bin"),
        "f1-cased": ("1", WordTokenizer.build(texts, MAX_LEN, vocab_size=10**7, lowercase=False), False, 0,
                     "f1-cased.vocab", "texts.bin,surrogates.bin"),
        # Python's UTF-8 encoder refuses lone surrogates, so format 2 (which hashes UTF-8) sees well-formed text only.
        "f2": ("2", HashedWordTokenizer(f1.vocab[:3000], MAX_LEN, True, PATTERN, buckets=97), True, 97, "f2.vocab",
               "texts.bin"),
    }
    lines, total = [], 0
    for name, (fmt, tok, lowercase, buckets, vocab_file, files) in cases.items():
        if fmt == "3-file":
            (folder / vocab_file).write_bytes(tok.vocab_file())
        else:
            _write_strings(folder / vocab_file, tok.vocab)
        case_texts = texts + (odd if "surrogates.bin" in files else [])
        _write_ids(folder / f"{name}.ids", tok.encode(case_texts))
        lines.append(f"{name} {fmt} {MAX_LEN} {lowercase} {buckets} {vocab_file} {files}")
        total += len(case_texts)
    (folder / "cases.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder, total, len(texts)


def test_golden_set_is_large_and_covers_the_corners():
    texts = golden_texts()
    assert len(texts) >= 10_000
    joined = "".join(t for t in texts if len(t) < 1000)
    for needle in ("ΟΔΟΣ", "İ", "\0", "👩‍💻", "👍🏽", "\u0301", "𝐁", "\u00ad", "[MASK]"):
        assert needle in joined, needle
    assert max(map(len, texts)) >= 100_000
    assert texts == golden_texts()  # deterministic


def test_java_tokenizer_gives_pythons_ids_on_every_golden_text(golden, tmp_path):
    folder, total, n_texts = golden
    classes = compile_module("tokenizer", tmp_path / "classes")
    out = run_junit(classes, "dev.kdedge.tokenizer.GoldenParityTest", **{"kdedge.golden": str(folder)})
    assert f"GOLDEN_CHECKED {total}" in out, out[-2000:]
    assert n_texts >= 10_000


def test_python_really_disagrees_with_java_where_the_tables_matter():
    """Why the tables exist: the differences GoldenParityTest would catch if Java used its own Unicode."""
    assert "ΑΣ\u0345".lower()[-2] == "ς"  # CPython skips U+0345 as case-ignorable; the JDK's rule differs
    assert RegexTokenizer([ "<PAD>", "<UNKNOWN>"], 4).tokens("a\U00031350b") == ["a\U00031350b"]  # Unicode 15 CJK Ext H


def test_committed_unicode_tables_are_current():
    """PyUnicode.java is what generate_tables.py writes with this Python and this regex package."""
    spec = importlib.util.spec_from_file_location("generate_tables", GENERATOR)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    committed = generator.OUT.read_text(encoding="utf-8")
    assert generator.data_lines(committed) == generator.data_lines(generator.render()), (
        f"{generator.OUT} is stale: run python {GENERATOR.relative_to(ANDROID_DEMO.parent)}")
