"""Host latency of one ``.tflite``: adaptive timing of single ``invoke()`` calls.

Three things make published on-device numbers incomparable: random inputs, no
warm-up, and too few runs to know the noise. Here the inputs are real texts
(:mod:`kdedge.measure.inputs`), cold start and memory are measured in a fresh
process (:mod:`kdedge.measure.probe`), and timing (:func:`time_invocations`) runs
untimed warm-up calls, then batches of timed ``invoke()`` calls (inputs set
outside the timed region) until the median's 95% confidence interval
(:func:`kdedge.measure.stats.median_ci`) is within ``±target_rel`` of it, or the
time cap is hit; the summary says which.
"""

from __future__ import annotations

import dataclasses
import time

from kdedge.errors import ConfigError
from kdedge.measure.stats import summarize_ms


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

    Returns :func:`kdedge.measure.stats.summarize_ms` of the timed calls plus ``converged``
    (the CI target was met), ``timing_s`` (seconds spent timing) and ``warmup``.
    """
    for i in range(plan.warmup):
        model(feeds[i % len(feeds)])

    def run(start: int, n: int) -> list[float]:
        times = []
        for i in range(start, start + n):
            model.set_inputs(feeds[i % len(feeds)])
            t0 = time.perf_counter()
            model.invoke()
            times.append(time.perf_counter() - t0)
        return times

    return adaptive_timing(run, plan)


def adaptive_timing(run, plan: TimingPlan) -> dict:
    """The stopping rule of every kdedge latency figure, for any timed call (warm-up already done).

    ``run(start, n)`` makes ``n`` timed calls on inputs ``start .. start + n - 1`` (modulo the input
    set) and returns their durations in seconds. Calls come in batches, each doubling the sample,
    until the median's 95% CI is within ``plan.target_rel`` of it, or ``plan.time_cap_s`` seconds of
    timing, or ``plan.max_runs`` calls. Used for LiteRT ``invoke()`` here, for text-in calls of
    :class:`kdedge.TextClassifier`, and for ``classify(text)`` in a browser page
    (:mod:`kdedge.serve.browser`), so all of them are summarized alike.
    """
    times: list[float] = []
    batch, start = plan.min_runs, time.perf_counter()
    while True:
        times.extend(run(len(times), batch))
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
