"""Fine-tuning the teacher: cross entropy on length-bucketed batches, checkpointed and resumable."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from kdedge.models.teacher import tokenize
from kdedge.progress import progress
from kdedge.training.batching import bucket_batches, pad_batch


def batch_schedule(lengths: np.ndarray, batch_size: int, epochs: float, seed: int) -> list[np.ndarray]:
    """The fine-tuning batches in training order: ``epochs`` (fractions allowed) of seeded bucketed batches."""
    steps_per_epoch = math.ceil(len(lengths) / batch_size)
    total_steps = max(1, int(round(epochs * steps_per_epoch)))
    schedule = []
    for epoch in range(math.ceil(epochs) or 1):
        schedule.extend(bucket_batches(lengths, batch_size, seed=seed + epoch))
    return schedule[:total_steps]


def fine_tune(model, tokenizer, texts: list[str], labels: np.ndarray, cfg,
              checkpoint_dir: Path | None = None, stop_after: int | None = None, strategy=None) -> dict:
    """Fine-tune ``model`` in place with cross entropy on length-bucketed batches.

    ``cfg``: a :class:`kdedge.stages.teacher.TeacherConfig` (``max_len``, ``truncation``,
    ``epochs``, ``batch_size``, ``lr``, ``warmup``, ``weight_decay``, ``seed``,
    ``checkpoint_every``).

    With ``checkpoint_dir`` the model, optimizer and step are checkpointed every
    ``cfg.checkpoint_every`` steps; calling again with the same folder and config
    skips the steps already done (the batch order is a function of the seed).

    ``stop_after`` ends the call after that many steps of this call (a
    time-boxed run; the next call resumes from the checkpoint).

    ``strategy``: the ``tf.distribute`` strategy ``model`` was built under;
    each batch (the global batch) is split across its replicas.

    Returns:
        ``{"steps": ..., "resumed_at_step": ..., "steps_run": ..., "train_seconds": ...,
        "final_loss_ema": ...}``.
    """
    import tensorflow as tf

    from kdedge.training.distribute import distribute_batch

    strategy = strategy or tf.distribute.get_strategy()
    ids = tokenize(tokenizer, texts, cfg.max_len, cfg.truncation)
    lengths = np.array([len(s) for s in ids])
    labels = np.asarray(labels, dtype=np.int32)
    schedule = batch_schedule(lengths, cfg.batch_size, cfg.epochs, cfg.seed)
    total_steps = len(schedule)

    groups = optimizer_groups(model, cfg, total_steps, strategy)
    with strategy.scope():
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
    manager = None
    if checkpoint_dir is not None:
        # A single optimizer keeps the checkpoint layout of runs made before layer decay existed.
        opt = {"optimizer": groups[0][0]} if len(groups) == 1 else {"optimizers": [g[0] for g in groups]}
        ckpt = tf.train.Checkpoint(model=model, step=step, **opt)
        manager = tf.train.CheckpointManager(ckpt, str(checkpoint_dir), max_to_keep=1)
        if manager.latest_checkpoint:
            ckpt.restore(manager.latest_checkpoint)

    train_step = train_step_fn(model, groups, strategy)
    tf.random.set_seed(cfg.seed)
    start = time.perf_counter()
    done = int(step.numpy())
    ema = None
    bar = progress(total=total_steps, initial=done, desc="teacher fine-tune", unit="step")
    end = total_steps if stop_after is None else min(total_steps, done + stop_after)
    for i in range(done, end):
        batch = schedule[i]
        b_ids, b_mask = pad_batch([ids[j] for j in batch], cfg.max_len)
        inputs = distribute_batch(strategy, b_ids, b_mask, labels[batch])
        loss = float(train_step(inputs, tf.constant(float(len(batch)))))
        ema = loss if ema is None else 0.98 * ema + 0.02 * loss
        step.assign(i + 1)
        bar.update(1)
        bar.set_postfix(loss=f"{ema:.4f}")
        if manager is not None and ((i + 1) % cfg.checkpoint_every == 0 or i + 1 == end):
            manager.save()
    bar.close()
    return {"steps": total_steps, "resumed_at_step": done, "steps_run": end - done,
            "train_seconds": round(time.perf_counter() - start, 1), "final_loss_ema": ema}


def evaluate(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy and mean cross entropy of ``logits`` on labeled examples (label >= 0)."""
    labels = np.asarray(labels)
    keep = labels >= 0
    logits, labels = logits[keep], labels[keep]
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return {"accuracy": float((logits.argmax(1) == labels).mean()),
            "loss": float(-logp[np.arange(len(labels)), labels].mean()),
            "examples": int(len(labels))}


def lr_scales(model, decay: float) -> list[float]:
    """Each trainable variable's learning-rate factor under layer-wise decay ``decay``.

    A BERT of n encoder layers: the embeddings are depth 0, ``layer_._i`` depth i + 1, and the
    pooler and classifier (everything else) depth n + 1; depth d gets ``decay ** (n + 1 - d)``.
    """
    import re

    names = [v.name for v in model.trainable_variables]
    layers = [re.search(r"/layer_\._(\d+)/", n) for n in names]
    n = 1 + max((int(m.group(1)) for m in layers if m), default=-1)
    if n == 0:
        raise ValueError("layer-wise LR decay needs a BERT-style model (no 'layer_._<i>' variables found)")
    depths = [int(m.group(1)) + 1 if m else 0 if "/embeddings/" in name else n + 1
              for name, m in zip(names, layers)]
    return [float(decay ** (n + 1 - d)) for d in depths]


def optimizer_groups(model, cfg, total_steps: int, strategy=None) -> list[tuple]:
    """The AdamW optimizers of a fine-tune and the variables each updates.

    ``cfg``: ``lr``, ``warmup``, ``weight_decay`` and ``layer_decay`` of a
    :class:`kdedge.stages.teacher.TeacherConfig`.

    Returns:
        ``(optimizer, indices of model.trainable_variables)`` pairs covering every
        variable: one pair without layer decay, one per learning-rate scale with it.
    """
    import tensorflow as tf
    from transformers import create_optimizer

    strategy = strategy or tf.distribute.get_strategy()
    decay = getattr(cfg, "layer_decay", 1.0)
    scales = lr_scales(model, decay) if decay != 1.0 else [1.0] * len(model.trainable_variables)
    with strategy.scope():
        # One AdamW per learning-rate scale: Adam's update does not change when its gradient is
        # scaled, so a per-layer rate needs its own optimizer (same schedule, scaled peak).
        optimizers = {scale: create_optimizer(
            init_lr=cfg.lr * scale, num_train_steps=total_steps, num_warmup_steps=int(cfg.warmup * total_steps),
            weight_decay_rate=cfg.weight_decay)[0] for scale in sorted(set(scales), reverse=True)}
    return [(optimizers[scale], [i for i, s in enumerate(scales) if s == scale]) for scale in optimizers]


def train_step_fn(model, groups, strategy):
    """One optimizer step on a global batch split across ``strategy``'s replicas; returns its mean loss.

    ``groups``: ``(optimizer, indices of model.trainable_variables)`` pairs covering every variable.
    """
    import tensorflow as tf

    def replica_step(input_ids, attention_mask, y, global_batch):
        with tf.GradientTape() as tape:
            logits = model(input_ids=input_ids, attention_mask=attention_mask, training=True).logits
            ce = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            loss = tf.reduce_sum(ce) / global_batch  # summed over replicas: the global batch mean
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        for optimizer, indices in groups:
            # A mean-pooled head leaves BERT's pooler out of the loss: its gradients are None (not zeros).
            pairs = [(grads[i], variables[i]) for i in indices if grads[i] is not None]
            if pairs:
                optimizer.apply_gradients(pairs)
        return loss

    @tf.function(reduce_retracing=True)
    def train_step(inputs, global_batch):
        losses = strategy.run(replica_step, args=(*inputs, global_batch))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    return train_step
