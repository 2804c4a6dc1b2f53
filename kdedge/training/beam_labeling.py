"""Teacher labeling on Apache Beam: ``RunInference`` over shards of texts, into the logit store.

Labeling the transfer set is the step that grows with the unlabeled corpus (400k sentences: ~30 min
on 2 cores). This runs it as a Beam pipeline, so it spreads over local worker processes
(``DirectRunner``) or a cluster (Flink, Spark, Dataflow: the same pipeline, another ``--runner``)::

    texts the store lacks, cut into shards on the driver
      | Create | Reshuffle                   spread the shards over the workers
      | RunInference(TeacherShardHandler)  each worker loads the teacher once; one shard per call
      | ParDo(WriteShard)                  the shard's rows into the logit store, atomically

The shards are cut exactly as the in-process labeler (:meth:`LogitStore.label`) cuts them -- the
missing texts in input order, ``shard_size`` at a time -- and each is labeled by the same
:func:`kdedge.training.labeling.predict_logits` call, so the logits are those of the in-process path
(the tests compare them bitwise). The store's shards are written atomically and named by the hash of
their keys, so parallel writers need no coordination; each write still takes the namespace's lock
and skips rows another labeler wrote meanwhile, so a text never lands in two shards.

On a cluster, ``cache_dir`` must be a filesystem every worker mounts (NFS, Filestore, a GCS FUSE
mount): the store is plain files and ``flock``. Beam serializes the handler and the DoFn to send them
to its workers (its own pickling, between processes of this job); kdedge itself reads no pickles.

Apache Beam is an optional extra (``pip install "kdedge[beam]"``): apache-beam 2.77 pulls protobuf
from 7.x down to 6.33, which TensorFlow 2.21 accepts.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from kdedge.errors import ConfigError

# --runner values and Beam's runner names. Any other Beam runner name is passed through.
RUNNERS = {"direct": "DirectRunner", "prism": "PrismRunner", "flink": "FlinkRunner", "spark": "SparkRunner",
           "dataflow": "DataflowRunner"}


def require_beam():
    """Import Apache Beam, or raise a one-line ConfigError that says how to install it."""
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        raise ConfigError("kdedge label needs Apache Beam: pip install \"kdedge[beam]\" (or apache-beam==2.77.*)"
                          ) from None


def shards_of(todo: list[int], shard_size: int) -> list[list[int]]:
    """The in-process labeler's cut: ``todo`` (indices, input order) ``shard_size`` at a time."""
    return [todo[k:k + shard_size] for k in range(0, len(todo), shard_size)]


class LoadedTeacher:
    """The teacher model and its tokenizer, as one object (Beam keeps a weak reference to what
    ``load_model`` returns, and a tuple cannot have one)."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer


def _handler_class():
    """The ModelHandler class (defined on first use: Beam is optional)."""
    from apache_beam.ml.inference.base import ModelHandler, PredictionResult

    class TeacherShardHandler(ModelHandler):
        """RunInference's handle on the teacher: an example is a shard (a tuple of texts), its inference
        the teacher's logits ``float32 [len(shard), classes]``."""

        def __init__(self, model_dir: str, max_len: int, truncation: str, threads: int | None):
            super().__init__()
            self.model_dir, self.max_len, self.truncation, self.threads = model_dir, max_len, truncation, threads

        def load_model(self):
            from kdedge.quiet import quiet_tensorflow

            quiet_tensorflow()  # before the first TensorFlow import in this worker
            import tensorflow as tf

            from kdedge.models.teacher import load_teacher

            if self.threads:  # before TensorFlow runs anything in this worker
                tf.config.threading.set_intra_op_parallelism_threads(self.threads)
                tf.config.threading.set_inter_op_parallelism_threads(self.threads)
            return LoadedTeacher(*load_teacher(Path(self.model_dir)))

        def run_inference(self, batch, model, inference_args=None):
            from kdedge.training.labeling import predict_logits

            for shard in batch:
                logits = predict_logits(model.model, model.tokenizer, list(shard), self.max_len, desc=None,
                                        truncation=self.truncation)
                yield PredictionResult(shard, logits)

        def batch_elements_kwargs(self):
            return {"min_batch_size": 1, "max_batch_size": 1}  # one shard per call, as in process

        def get_metrics_namespace(self):
            return "kdedge_teacher"

    return TeacherShardHandler


def _write_shard_class():
    import apache_beam as beam

    class WriteShard(beam.DoFn):
        """Each labeled shard's new rows into the logit store (one atomic file); yields rows written."""

        def __init__(self, cache_dir: str, name: str):
            self.cache_dir, self.name = cache_dir, name

        def setup(self):
            from kdedge.training.logit_store import LogitStore
            self.store = LogitStore(self.cache_dir, self.name)

        def process(self, result):
            yield self.store.add_new(list(result.example), result.inference)

    return WriteShard


def pipeline_options(runner: str, workers: int, extra: list[str]):
    """Beam ``PipelineOptions`` for ``--runner`` and ``--workers`` (DirectRunner: that many worker
    processes), plus any raw Beam flags (``--beam-option``) for cluster runners."""
    from apache_beam.options.pipeline_options import PipelineOptions

    args = [f"--runner={RUNNERS.get(runner, runner)}"]
    if RUNNERS.get(runner, runner) == "DirectRunner":
        args += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    if not any(a.startswith("--default_sdk_harness_log_level") for a in extra):
        # The workers' INFO lines (and RunInference's per-bundle memory warning) drown the summary; override
        # with --beam-option=--default_sdk_harness_log_level=INFO.
        args.append("--default_sdk_harness_log_level=ERROR")
    return PipelineOptions(args + list(extra))


def label_with_beam(texts: list[str], model_dir: Path, store, max_len: int, truncation: str,
                    runner: str = "direct", workers: int = 1, threads: int | None = None,
                    beam_args: list[str] = (), shard_size: int | None = None) -> dict:
    """Label the texts the logit ``store`` lacks with a Beam pipeline; returns a summary.

    Args:
        texts: the texts to have in the store (duplicates and texts already there cost nothing).
        model_dir: the teacher's checkpoint (``TEACHER/model``); ``store`` its namespace
            (a :class:`~kdedge.training.logit_store.LogitStore`); ``max_len``/``truncation`` its settings.
        runner: ``direct`` (local worker processes), ``prism``, ``flink``, ``spark``, ``dataflow`` or any
            Beam runner name; ``workers``: DirectRunner's worker processes.
        threads: TensorFlow threads per worker (default: the machine's cores shared among the workers).
        beam_args: raw Beam pipeline flags (``--flink_master=...``, ``--project=...``).

    Returns:
        ``texts``, ``unique_missing`` (texts the teacher labeled), ``shards``, ``rows_written`` (of those, now
        in the store),
        ``seconds`` (the pipeline's wall time), ``texts_per_second``, ``runner``, ``workers``, ``threads``.
    """
    require_beam()
    import logging

    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference

    if not logging.getLogger().handlers:  # nobody configured logging: keep Beam's own INFO lines out
        logging.getLogger("apache_beam").setLevel(logging.WARNING)

    from kdedge.training.logit_store import SHARD_SIZE

    shard_size = shard_size or SHARD_SIZE
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    todo = store.missing(texts)
    shards = [tuple(texts[i] for i in shard) for shard in shards_of(todo, shard_size)]
    summary = {"texts": len(texts), "unique_missing": len(todo), "shards": len(shards), "rows_written": 0,
               "seconds": 0.0, "texts_per_second": None, "runner": RUNNERS.get(runner, runner),
               "workers": workers, "threads": threads}
    if not shards:
        return summary
    handler = _handler_class()(str(model_dir), max_len, truncation, threads)
    t0 = time.perf_counter()
    with beam.Pipeline(options=pipeline_options(runner, workers, list(beam_args))) as p:
        _ = (p | "Shards" >> beam.Create(shards)
             | "Spread" >> beam.Reshuffle()
             | "Teacher" >> RunInference(handler)
             | "Store" >> beam.ParDo(_write_shard_class()(str(store.cache_dir), store.name)))
    seconds = time.perf_counter() - t0
    summary.update(rows_written=len(todo) - len(store.missing(texts)), seconds=round(seconds, 2),
                   texts_per_second=round(len(todo) / seconds, 1))
    return summary


def stored_logits(store, texts: list[str]) -> np.ndarray:
    """The store's rows for ``texts`` (all must be there), ``float32 [n, classes]``."""
    from kdedge.training.logit_store import text_keys

    rows = store.rows()
    keys = text_keys(texts)
    missing = [i for i, k in enumerate(keys) if k.tobytes() not in rows]
    if missing:
        raise ConfigError(f"the logit store lacks {len(missing)} of {len(texts)} texts after labeling "
                          f"(first: {texts[missing[0]][:60]!r})")
    return np.stack([rows[k.tobytes()] for k in keys]).astype(np.float32)
