"""Fresh-process probe of one ``.tflite``: load time, first inference, peak resident memory.

    python -m kdedge.measure.probe MODEL.tflite INPUTS.npz [--threads N] [--no-xnnpack] [--runs R]

Prints one JSON line. Run by :func:`probe` in a new process so
the numbers are those of an app that loads the model once: nothing else is
loaded, and the peak resident set is this process's own. ``INPUTS.npz`` holds
``[n, max_len]`` arrays named like the model's inputs (saved without pickle).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def _status_mb(key: str) -> float | None:
    """A ``/proc/self/status`` field in MiB (Linux), None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    return None


def _maxrss_mb() -> float:
    """This process's peak resident set so far.

    Linux: ``VmHWM``, the high-water mark of this address space. Not ``ru_maxrss``:
    it survives ``execve``, so a child forked from a big parent reports the parent's
    size. Elsewhere ``ru_maxrss`` (bytes on macOS), the best there is.
    """
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def probe(model_path, arrays: dict, threads: int, xnnpack: bool,
          runs: int = 20, timeout_s: float = 300.0) -> dict:
    """Cold start and memory of ``model_path`` in a fresh process (this module's ``main``).

    Returns ``load_ms`` (read + ``allocate_tensors``), ``first_inference_ms``,
    ``baseline_rss_mb`` (the process after importing the runtime, before the model),
    ``peak_rss_mb`` (its high-water mark after load and ``runs`` inferences) and
    ``model_rss_mb`` (their difference).
    """
    # Imported here, not at the top: the probe process measures its own memory and imports only what it needs.
    import subprocess
    import tempfile
    from pathlib import Path

    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.npz"
        np.savez(inputs, **arrays)
        argv = [sys.executable, "-m", "kdedge.measure.probe", str(model_path), str(inputs), "--threads", str(threads),
                "--runs", str(runs)] + ([] if xnnpack else ["--no-xnnpack"])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"probe of {model_path} failed (exit {done.returncode}): {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kdedge.measure.probe")
    p.add_argument("model")
    p.add_argument("inputs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-xnnpack", action="store_true")
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args(argv)

    import numpy as np

    from kdedge.runtime import TFLiteModel, _interpreter_module
    _interpreter_module()  # import the runtime before the baseline is read
    with np.load(args.inputs, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    baseline = _maxrss_mb()
    t0 = time.perf_counter()
    model = TFLiteModel(args.model, num_threads=args.threads, xnnpack=not args.no_xnnpack)
    load_ms = (time.perf_counter() - t0) * 1000
    n = len(next(iter(arrays.values())))
    feeds = [{k: v[i:i + 1] for k, v in arrays.items()} for i in range(n)]
    t0 = time.perf_counter()
    model(feeds[0])
    first_ms = (time.perf_counter() - t0) * 1000
    for i in range(args.runs):
        model(feeds[(i + 1) % n])
    peak = _maxrss_mb()
    print(json.dumps({"load_ms": load_ms, "first_inference_ms": first_ms, "baseline_rss_mb": baseline,
                      "peak_rss_mb": peak, "model_rss_mb": peak - baseline, "threads": args.threads,
                      "xnnpack": not args.no_xnnpack}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
