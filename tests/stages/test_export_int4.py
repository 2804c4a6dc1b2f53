"""kdedge export --modes int4: int4 table, conv and dense weights, still self-describing and MediaPipe-runnable."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import numpy as np
import pytest

from kdedge import TextClassifier
from kdedge.cli import main

pytest.importorskip("ai_edge_quantizer", reason="int4 is the optional extra kdedge[int4] (.ci/run installs it)")


def _weight_types(content: bytes) -> dict[str, set[str]]:
    schema = importlib.import_module("tensorflow.lite.python.schema_py_generated")
    m = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    g, out = m.subgraphs[0], {}
    for op in g.operators:
        code = m.operatorCodes[op.opcodeIndex]
        name = ops[max(code.builtinCode, code.deprecatedBuiltinCode)]
        for i in op.inputs:
            buf = m.buffers[g.tensors[i].buffer] if i >= 0 else None
            if buf is not None and buf.data is not None and len(buf.data) > 64:
                out.setdefault(name, set()).add(types[g.tensors[i].type])
    return out


def test_int4_export_is_checked_self_describing_and_runs_in_mediapipe(pipeline_run, tmp_path):
    out = tmp_path / "export"
    main(["export", "--distill-dir", str(pipeline_run / "distill"), "--data", str(pipeline_run / "data"),
          "--no-teacher", "--modes", "float32,int4", "--check-examples", "64", "--out", str(out)])
    entry = next(m for m in json.loads((out / "manifest.json").read_text())["models"] if m["name"] == "student_int4")
    assert entry["quantization"] == "int4" and entry["metadata"] is True
    assert entry["check"]["label_agreement_with_keras"] >= 0.9
    content = (out / "student_int4.tflite").read_bytes()
    types = _weight_types(content)
    assert types["EMBEDDING_LOOKUP"] == {"INT4"} and "GATHER" not in types
    assert entry["bytes"] < (out / "student_float32.tflite").stat().st_size

    texts = ["a wonderful film", "a dull boring plot", "", "GOOD", "n't bad at all"]
    ours = TextClassifier(out / "student_int4.tflite").probabilities(texts)
    from mediapipe.tasks.python import text
    from mediapipe.tasks.python.core import base_options
    options = text.TextClassifierOptions(base_options=base_options.BaseOptions(
        model_asset_path=str(out / "student_int4.tflite")))
    mp = text.TextClassifier.create_from_options(options)
    try:
        for t, row in zip(texts, ours):
            cats = sorted(mp.classify(t).classifications[0].categories, key=lambda c: c.index)
            assert np.abs(np.array([c.score for c in cats]) - row).max() <= 1e-5, t
    finally:
        mp.close()


def test_int4_without_the_quantizer_is_one_line_and_exit_2(pipeline_run, tmp_path):
    # A child process that cannot import ai_edge_quantizer (a None entry in sys.modules blocks the import).
    code = ("import sys; sys.modules['ai_edge_quantizer'] = None; from kdedge.cli import main; "
            f"main(['export', '--distill-dir', {str(pipeline_run / 'distill')!r}, '--data', "
            f"{str(pipeline_run / 'data')!r}, '--no-teacher', '--modes', 'int4', '--out', {str(tmp_path / 'e')!r}])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "kdedge[int4]" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "e").exists()
