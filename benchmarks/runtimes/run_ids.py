"""Run one ``.tflite`` on token ids with a raw TFLite interpreter; a child of ``benchmarks/runtimes.py``.

Standalone on purpose (numpy and one interpreter module, no kdedge): it runs in venvs and in an arm64
root that have neither kdedge nor TensorFlow.

    python run_ids.py MODULE MODEL IDS_NPY OUT_NPY

``MODULE`` is ``ai_edge_litert`` or ``tflite_runtime``. Every row of ``IDS_NPY`` ([n, L] int32) is one
``invoke()`` on a [1, L] input with the default op resolver (XNNPACK on, one thread: what an app gets);
the outputs go to ``OUT_NPY`` ([n, K] float32, dequantized if the output is an integer tensor). One JSON
line on stdout says what happened: ``{"runtime", "version", "machine", "python", "numpy", "loaded",
"stage", "error", "load_s", "run_s", "rows"}`` — ``stage`` is where an error came (``import``, ``load``,
``invoke``).
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time

import numpy as np


def main(module: str, model: str, ids_path: str, out_path: str) -> int:
    info = {"runtime": module, "version": None, "machine": platform.machine(), "python": platform.python_version(),
            "numpy": np.__version__, "loaded": False, "stage": None, "error": None, "rows": 0}
    try:
        interpreter = importlib.import_module(f"{module}.interpreter")
        info["version"] = _version(module)
    except Exception as e:  # noqa: BLE001 - every failure is a result here
        return _done(info, "import", e)
    ids = np.load(ids_path)
    t0 = time.perf_counter()
    try:
        interp = interpreter.Interpreter(model_path=model, num_threads=1)
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    except Exception as e:  # noqa: BLE001
        return _done(info, "load", e)
    info["loaded"] = True
    info["load_s"] = round(time.perf_counter() - t0, 3)
    scale, zero = out.get("quantization", (0.0, 0))
    rows = []
    t0 = time.perf_counter()
    try:
        for row in ids:
            interp.set_tensor(inp["index"], row[None, :].astype(inp["dtype"]))
            interp.invoke()
            value = interp.get_tensor(out["index"])
            rows.append((value.astype(np.float32) - zero) * scale if scale else value.astype(np.float32))
    except Exception as e:  # noqa: BLE001
        return _done(info, "invoke", e)
    info["run_s"] = round(time.perf_counter() - t0, 3)
    info["rows"] = len(rows)
    np.save(out_path, np.concatenate(rows).astype(np.float32))
    return _done(info, None, None)


def _version(module: str) -> str | None:
    from importlib import metadata
    for dist in (module.replace("_", "-"), module):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return getattr(importlib.import_module(module), "__version__", None)


def _done(info: dict, stage: str | None, error: BaseException | None) -> int:
    if error is not None:
        info["stage"] = stage
        info["error"] = f"{type(error).__name__}: " + (str(error).strip().splitlines() or [""])[0][:400]
    print(json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
