"""``tf.distribute`` for the teacher's two heavy jobs: fine-tuning and labeling.

``--strategy`` picks one:

- ``default``: TensorFlow's default strategy, one device (what the tests run).
- ``mirrored``: :class:`tf.distribute.MirroredStrategy`, every local GPU (or
  the CPU when there is none); each global batch is split across replicas and
  gradients are all-reduced.
- ``multiworker``: :class:`tf.distribute.MultiWorkerMirroredStrategy` across
  machines, configured by the ``TF_CONFIG`` environment variable (cluster spec
  and this worker's task). Every worker runs the same ``kdedge`` command; worker
  0 writes the outputs.

The batch size is the *global* batch: the same flags give the same
optimization on one device or eight.
"""

from __future__ import annotations

import json
import os

from kdedge.errors import ConfigError

STRATEGIES = ("default", "mirrored", "multiworker")


def check_strategy(name: str) -> None:
    """Raise ConfigError if ``name`` is unknown or its environment is missing."""
    if name not in STRATEGIES:
        raise ConfigError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "multiworker":
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            raise ConfigError("--strategy multiworker needs TF_CONFIG (cluster and task) in the environment")
        try:
            spec = json.loads(raw)
            spec["cluster"]["worker"], spec["task"]["index"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError("TF_CONFIG must be JSON with cluster.worker and task.index") from None


def get_strategy(name: str = "default"):
    """The ``tf.distribute.Strategy`` for ``name`` (see the module docstring)."""
    import tensorflow as tf

    check_strategy(name)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy) -> bool:
    """Whether this process writes outputs (always, except on workers > 0 of a multi-worker run)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type in ("chief", None) or (resolver.task_type == "worker" and resolver.task_id == 0)


def distribute_batch(strategy, *arrays):
    """Split one global batch (numpy arrays, same first dimension) across the strategy's replicas."""
    import tensorflow as tf

    n = strategy.num_replicas_in_sync
    if n == 1:
        return tuple(tf.constant(a) for a in arrays)

    size = -(-len(arrays[0]) // n)  # contiguous slices, so gather() restores the order

    def per_replica(ctx):
        i = ctx.replica_id_in_sync_group
        return tuple(tf.constant(a[i * size:(i + 1) * size]) for a in arrays)

    return strategy.experimental_distribute_values_from_function(per_replica)


def gather(strategy, value):
    """Concatenate a per-replica result along the batch axis back into one tensor (replica order)."""
    n = strategy.num_replicas_in_sync
    if n == 1:
        return value
    return strategy.gather(value, axis=0)
