"""Text edge cases through the paths users reach: `kdedge predict` (argv, --file, stdin) and `kdedge serve`
never crash; bytes that are not UTF-8 and lone surrogates get one line (exit 2, or a 4xx)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kdedge import TextClassifier

EDGES = ["", " \t\n ", "!!! ... ???", "👍🏽 👨‍👩‍👧‍👦 🇫🇷", "café", "cafe\u0301", "مرحبا بالعالم", "שָׁלוֹם",
         "a\u200bb\u200dc", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǵ̻̥̍o", "\x00good", "GOOD Film", "zzqx vvkp", "good " * 200_000]


@pytest.fixture(scope="module")
def model(pipeline_run):
    return pipeline_run / "export" / "student_int8.tflite"


def _predict(model, *args, stdin: bytes | None = None):
    return subprocess.run([sys.executable, "-m", "kdedge", "predict", str(model), *args], input=stdin,
                          capture_output=True, timeout=300)


def test_predict_classifies_every_edge_case_like_the_python_api(model, tmp_path):
    clf = TextClassifier(model)
    want = [r[0].label for r in clf.classify(EDGES)]
    lines = [t.replace("\n", " ") for t in EDGES]
    f = tmp_path / "edges.txt"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = _predict(model, "--file", str(f))
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    got = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    non_empty = [i for i, t in enumerate(lines) if t.strip()]  # --file skips blank lines
    assert [g["label"] for g in got] == [want[i] for i in non_empty]


@pytest.mark.parametrize("arg", [b"bad \xff bytes", b"caf\xc3\xa9 \xed\xa0\x80"])
def test_predict_refuses_an_argument_that_is_not_utf8_in_one_line(model, arg):
    proc = _predict(model, arg)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1 and "UTF-8" in err, err
    assert proc.stdout == b""


def test_predict_refuses_stdin_that_is_not_utf8_in_one_line(model):
    proc = _predict(model, "--file", "-", stdin=b"fine\nbad \xc3\x28 line\n")
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 2 and "line 2" in err.replace(":2:", " line 2") and "UTF-8" in err, err


@pytest.mark.parametrize("truncation", ["head", "head+tail"])
def test_the_teacher_reads_every_edge_case(tiny_teacher_init, truncation):
    """The teacher's tokenize and forward pass (labeling, eval, explain) on the same edge cases: at most max_len
    pieces with [CLS] first and [SEP] last, finite logits, and a text's logits do not depend on its batch."""
    import numpy as np

    from kdedge.models.teacher import load_teacher, tokenize
    from kdedge.training.labeling import predict_logits

    model, tok = load_teacher(tiny_teacher_init)
    ids = tokenize(tok, EDGES, 16, truncation)
    assert all(2 <= len(row) <= 16 and row[0] == tok.cls_token_id and row[-1] == tok.sep_token_id for row in ids)
    assert all(0 <= i < tok.vocab_size for row in ids for i in row)
    logits = predict_logits(model, tok, EDGES, 16, desc=None, truncation=truncation)
    assert logits.shape == (len(EDGES), 2) and np.isfinite(logits).all()
    alone = np.concatenate([predict_logits(model, tok, [t], 16, desc=None, truncation=truncation) for t in EDGES])
    np.testing.assert_allclose(alone, logits, atol=1e-5)
