"""Run one self-describing ``.tflite`` on texts with a text-in task library; a child of ``runtimes.py``.

Standalone (no kdedge): it runs in the tflite-support venv as well as in kdedge's own environment.

    python run_text.py LIBRARY MODEL JOB_JSON OUT_NPY

``LIBRARY`` is ``mediapipe`` (``mediapipe.tasks.python.text.TextClassifier``) or ``tflite_support``
(``tflite_support.task.text.NLClassifier``, the 2023 Task Library). Both read the tokenizer and the
labels from the file's metadata and tokenize the text themselves. ``JOB_JSON`` is ``{"texts": [...],
"labels": [...]}`` (the labels in the file's order). Each text is one ``classify()``; its scores go to row
i of ``OUT_NPY`` ([n, len(labels)] float32), the column found by category name: NLClassifier 0.4.4
reports ``index=0`` for every category. One JSON line on stdout, as ``run_ids.py`` writes it (``stage``:
``import``, ``load`` or ``invoke``).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from run_ids import _done, _version  # same folder; run as a script, so it is sys.path[0]


def main(library: str, model: str, job_path: str, out_path: str) -> int:
    import platform
    info = {"runtime": library, "version": None, "machine": platform.machine(), "python": platform.python_version(),
            "numpy": np.__version__, "loaded": False, "stage": None, "error": None, "rows": 0}
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    texts, column = job["texts"], {name: i for i, name in enumerate(job["labels"])}
    try:
        if library == "mediapipe":
            from mediapipe.tasks.python import text
            from mediapipe.tasks.python.core.base_options import BaseOptions

            def create():
                return text.TextClassifier.create_from_options(
                    text.TextClassifierOptions(base_options=BaseOptions(model_asset_path=model)))
        elif library == "tflite_support":
            from tflite_support.task import core
            from tflite_support.task.text import NLClassifier, NLClassifierOptions

            def create():
                return NLClassifier.create_from_options(
                    NLClassifierOptions(base_options=core.BaseOptions(file_name=model)))
        else:
            raise ValueError(f"unknown library {library!r}")
        info["version"] = _version(library)
    except Exception as e:  # noqa: BLE001 - every failure is a result here
        return _done(info, "import", e)
    t0 = time.perf_counter()
    try:
        clf = create()
    except Exception as e:  # noqa: BLE001
        return _done(info, "load", e)
    info["loaded"] = True
    info["load_s"] = round(time.perf_counter() - t0, 3)
    out = np.full((len(texts), len(column)), np.nan, dtype=np.float32)
    t0 = time.perf_counter()
    try:
        for i, t in enumerate(texts):
            for c in clf.classify(t).classifications[0].categories:
                out[i, column[c.category_name]] = c.score
    except Exception as e:  # noqa: BLE001
        return _done(info, "invoke", e)
    finally:
        getattr(clf, "close", lambda: None)()  # MediaPipe's: before interpreter shutdown, not in __del__
    info["run_s"] = round(time.perf_counter() - t0, 3)
    info["rows"] = len(texts)
    np.save(out_path, out)
    return _done(info, None, None)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
