"""Micro-batching: the texts of concurrent requests go through the model in one call."""

from __future__ import annotations

import asyncio
from typing import Callable

import numpy as np


class MicroBatcher:
    """Collects the texts of concurrent requests and runs them through ``run`` together.

    A request's texts join the pending batch; the batch runs when it holds ``max_batch``
    texts, or ``max_wait_ms`` after its first request arrived (0: as soon as the requests
    that arrived together are in). The model runs on the event loop's thread: one process
    makes one model call at a time, and a call of a few small texts takes microseconds
    (the int8 CNN: ~6 us per text here), less than handing it to a thread would cost.
    More cores are used with more processes (``kdedge serve --workers``).

    Args:
        run: texts -> ``[len(texts), K]`` probabilities (:meth:`kdedge.TextClassifier.probabilities`).
        max_batch: most texts per call of ``run`` (1: every request's texts are run alone).
        max_wait_ms: how long a batch waits for more requests.
        on_batch: called with each call's batch size (metrics).
    """

    def __init__(self, run: Callable[[list[str]], np.ndarray], max_batch: int = 64, max_wait_ms: float = 1.0,
                 on_batch: Callable[[int], None] | None = None):
        self.run = run
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._pending: list[tuple[list[str], asyncio.Future]] = []
        self._count = 0
        self._timer: asyncio.Handle | None = None

    async def submit(self, texts: list[str]) -> np.ndarray:
        """The probabilities of ``texts``, computed with whatever other requests are pending."""
        if len(texts) >= self.max_batch:  # a request that fills a batch on its own does not wait
            return self._call(texts)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((texts, future))
        self._count += len(texts)
        if self._count >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = (loop.call_soon(self._flush) if self.max_wait == 0
                           else loop.call_later(self.max_wait, self._flush))
        return await future

    def _call(self, texts: list[str]) -> np.ndarray:
        if self.on_batch is not None:
            self.on_batch(len(texts))
        return self.run(texts)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending, self._count = self._pending, [], 0
        pending = [(t, f) for t, f in pending if not f.cancelled()]  # a client that went away
        if not pending:
            return
        texts = [t for ts, _ in pending for t in ts]
        try:
            probs = self._call(texts)
        except Exception as e:  # every waiting request gets the error (a 500), the server keeps serving
            for _, f in pending:
                f.set_exception(e)
            return
        start = 0
        for ts, f in pending:
            f.set_result(probs[start:start + len(ts)])
            start += len(ts)
