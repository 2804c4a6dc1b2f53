"""Host latency and memory of one ``.tflite``: inputs, adaptive timing, and a fresh-process probe.

Three things make published on-device numbers incomparable: random inputs, no
warm-up, and too few runs to know the noise. Here:

* **Inputs** are real texts tokenized the way the model's app would:
  ``eval`` cycles through a seeded sample of the eval split (so lengths follow
  its distribution), and ``len=L`` feeds exactly ``L`` real tokens (eval texts
  joined and cut), for a latency-vs-length view. The models take a fixed
  ``[1, max_len]`` shape, so length changes only what is padding.
* **Timing** (:func:`time_invocations`): untimed warm-up calls, then batches of
  timed ``invoke()`` calls (inputs set outside the timed region) until the
  median's 95% confidence interval (:func:`kdedge.stats.median_ci`) is within
  ``±target_rel`` of it, or the time cap is hit; the summary says which.
* **Memory and cold start** (:func:`probe`): a fresh Python process imports the
  runtime, notes its resident set, loads the model (load + ``allocate_tensors``
  time), runs the first inference (timed), runs a few more, and reports its
  peak resident set; ``peak_rss_mb - baseline_rss_mb`` is what the model costs.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kdedge.errors import ConfigError
from kdedge.stats import summarize_ms


@dataclasses.dataclass
class TimingPlan:
    """When to stop timing one (model, threads, XNNPACK, inputs) cell."""

    warmup: int = 20  # untimed calls first: allocations, caches, XNNPACK weight packing
    min_runs: int = 200  # timed calls at least (a p99 from fewer is a guess)
    max_runs: int = 100_000
    target_rel: float = 0.02  # stop once the median's 95% CI is within ±2% of it
    time_cap_s: float = 5.0  # ... or after this many seconds of timing, unconverged

    def validate(self) -> None:
        if self.warmup < 0 or self.min_runs < 1 or self.max_runs < self.min_runs:
            raise ConfigError("need --warmup >= 0 and 1 <= --min-runs <= max runs, got "
                              f"{self.warmup}, {self.min_runs}, {self.max_runs}")
        if not 0 < self.target_rel < 1:
            raise ConfigError(f"--target-ci must be in (0, 1), got {self.target_rel}")
        if self.time_cap_s <= 0:
            raise ConfigError(f"--time-cap must be > 0 seconds, got {self.time_cap_s}")


def time_invocations(model, feeds: list[dict], plan: TimingPlan) -> dict:
    """Time single ``invoke()`` calls of ``model`` (a :class:`kdedge.runtime.TFLiteModel`).

    Returns :func:`kdedge.stats.summarize_ms` of the timed calls plus ``converged``
    (the CI target was met), ``timing_s`` (seconds spent timing) and ``warmup``.
    """
    for i in range(plan.warmup):
        model(feeds[i % len(feeds)])
    times: list[float] = []
    batch, start = plan.min_runs, time.perf_counter()
    while True:
        for _ in range(batch):
            model.set_inputs(feeds[len(times) % len(feeds)])
            t0 = time.perf_counter()
            model.invoke()
            times.append(time.perf_counter() - t0)
        summary = summarize_ms(times)
        converged = summary["ci_rel"] <= plan.target_rel
        spent = time.perf_counter() - start
        if converged or spent >= plan.time_cap_s or len(times) >= plan.max_runs:
            break
        # Double the sample, but not (much) past the time cap or max_runs.
        per_call = spent / len(times)
        batch = int(max(1, min(len(times), plan.max_runs - len(times),
                               (plan.time_cap_s - spent) / max(per_call, 1e-9) + 1)))
    return {**summary, "converged": bool(converged), "timing_s": spent, "warmup": plan.warmup}


# -- inputs ------------------------------------------------------------------------------------------

def model_feeds(export_dir: Path, entry: dict, texts: list[str], max_len: int) -> list[dict[str, np.ndarray]]:
    """One ``[1, max_len]`` input dict per text, tokenized the way the model's app would."""
    arrays = token_arrays(export_dir, entry, texts)
    return [{k: v[i:i + 1] for k, v in arrays.items()} for i in range(len(texts))]


def token_arrays(export_dir: Path, entry: dict, texts: list[str], length: int | None = None) -> dict:
    """The model's input arrays for ``texts`` (``[n, max_len]`` int32 each).

    With ``length``, each row holds exactly that many real tokens (counting the
    teacher's [CLS]/[SEP]): every text must be long enough (see :func:`fixed_length_texts`).
    """
    if entry["kind"] == "teacher":
        from transformers import BertTokenizerFast

        from kdedge.teacher import tokenize
        tok = BertTokenizerFast.from_pretrained(str(Path(export_dir) / entry["tokenizer"]))
        width = entry["max_len"]
        cut = min(length, width) if length else width
        ids = np.zeros((len(texts), width), dtype=np.int32)
        for i, row in enumerate(tokenize(tok, texts, cut, "head" if length else entry.get("truncation", "head"))):
            ids[i, :len(row)] = row
        return {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int32)}
    from kdedge.embedding import load_tokenizer  # word tokenizer, with or without OOV hash buckets
    ids = load_tokenizer(Path(export_dir) / entry["tokenizer"]).encode(texts)
    if length:
        ids[:, length:] = 0
    return {"input_ids": ids}


def fixed_length_texts(texts: list[str], n: int, words: int, seed: int = 0) -> list[str]:
    """``n`` texts of at least ``words`` words, each real eval texts joined in a seeded order."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        parts, count = [], 0
        for i in rng.permutation(len(texts)):
            parts.append(texts[i])
            count += len(texts[i].split())
            if count >= words:
                break
        out.append(" ".join(parts))
    return out


def input_sets(export_dir: Path, entry: dict, texts: list[str], max_len: int, lengths: tuple,
               pool: int = 64, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """The named input sets one model is timed on: ``eval`` and ``len=L`` per length.

    ``lengths`` holds ints or ``"max"`` (the model's own max length); each set is a
    dict of ``[pool, max_len]`` arrays.
    """
    rng = np.random.default_rng(seed)
    sample = [texts[i] for i in rng.choice(len(texts), size=min(pool, len(texts)), replace=False)]
    width = entry.get("max_len", max_len)
    sets = {"eval": token_arrays(export_dir, entry, sample)}
    for length in lengths:
        n = width if length == "max" else min(int(length), width)
        if f"len={n}" in sets:
            continue
        # Whitespace words >= tokens for the word tokenizer; WordPiece only splits further.
        long = fixed_length_texts(texts, pool, 2 * n + 8, seed)
        sets[f"len={n}"] = token_arrays(export_dir, entry, long, length=n)
    return sets


def as_feeds(arrays: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    n = len(next(iter(arrays.values())))
    return [{k: v[i:i + 1] for k, v in arrays.items()} for i in range(n)]


# -- fresh-process probe -------------------------------------------------------------------------------

def probe(model_path: str | Path, arrays: dict[str, np.ndarray], threads: int, xnnpack: bool,
          runs: int = 20, timeout_s: float = 300.0) -> dict:
    """Cold start and memory of ``model_path`` in a fresh process (see :mod:`kdedge.probe`).

    Returns ``load_ms`` (read + ``allocate_tensors``), ``first_inference_ms``,
    ``baseline_rss_mb`` (the process after importing the runtime, before the model),
    ``peak_rss_mb`` (its high-water mark after load and ``runs`` inferences) and
    ``model_rss_mb`` (their difference).
    """
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.npz"
        np.savez(inputs, **arrays)
        argv = [sys.executable, "-m", "kdedge.probe", str(model_path), str(inputs), "--threads", str(threads),
                "--runs", str(runs)] + ([] if xnnpack else ["--no-xnnpack"])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"probe of {model_path} failed (exit {done.returncode}): {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])
