"""Training a student on the teacher's logits (the distillation loop), and student inference.

One loop for everything that trains a student: distillation, its labels-only
twin (the same loop with gold-only weights), and the fine-tuning of compressed
variants (pruned, clustered, QAT-wrapped models: any model called once per step
with ``training=True``).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from kdedge.progress import progress


def train_student(model, ids: np.ndarray, teacher_logits: np.ndarray, labels: np.ndarray,
                  cfg, eval_ids: np.ndarray | None = None,
                  eval_labels: np.ndarray | None = None, desc: str = "distill",
                  valid_ids: np.ndarray | None = None, valid_labels: np.ndarray | None = None,
                  keep_best: bool = False) -> list[dict]:
    """Train ``model`` in place with the distillation loss. Returns per-epoch history.

    ``cfg``: a :class:`kdedge.stages.distill.DistillConfig` (the loss weights and schedule,
    ``temperature``, ``soft_loss``, ``epochs``, ``batch_size``, ``lr``, ``schedule``,
    ``freeze_embeddings``, ``seed``). ``labels`` is -1 for unlabeled rows. Each epoch's
    accuracy on the eval split (and on the validation split, if given) goes in the history;
    with ``keep_best`` the model ends with the weights of the first epoch of highest validation
    accuracy (that row has ``"kept": true``), else with the last epoch's. The eval split never
    chooses anything.
    """
    import tensorflow as tf

    from kdedge.training.losses import kd_loss, weights_at

    tf.keras.utils.set_random_seed(cfg.seed)
    steps = -(-len(ids) // cfg.batch_size)
    total = steps * cfg.epochs
    lr = cfg.lr
    if cfg.schedule == "cosine":
        lr = tf.keras.optimizers.schedules.CosineDecay(cfg.lr, decay_steps=total)
    optimizer = tf.keras.optimizers.Adam(lr)
    if cfg.freeze_embeddings:  # (wrapped QAT / pruning layers are renamed; they are never frozen)
        model.get_layer("embedding").trainable = False
    data = (tf.data.Dataset.from_tensor_slices((ids, teacher_logits.astype(np.float32), labels.astype(np.int32)))
            .shuffle(len(ids), seed=cfg.seed, reshuffle_each_iteration=True)
            .batch(cfg.batch_size).prefetch(2))
    weights = tf.Variable([cfg.w_soft, cfg.w_hard, cfg.w_gold], dtype=tf.float32, trainable=False)

    @tf.function
    def step(x, z_t, y):
        with tf.GradientTape() as tape:
            z_s = model(x, training=True)
            loss, soft, hard, gold = kd_loss(z_s, z_t, y, weights[0], weights[1], weights[2], cfg.temperature,
                                             cfg.soft_loss)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, soft, hard, gold

    if keep_best and valid_ids is None:
        raise ValueError("keep_best needs a validation split")
    history = []
    done = 0
    best = (-1.0, None, None)  # validation accuracy, epoch, weights
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        sums = np.zeros(4)
        n = 0
        bar = progress(data, total=steps, desc=f"{desc} epoch {epoch}/{cfg.epochs}", unit="step", leave=False)
        for x, z_t, y in bar:
            if cfg.soft_end is not None:
                weights.assign(weights_at(done / max(total - 1, 1), cfg.w_soft, cfg.w_hard, cfg.w_gold,
                                          cfg.soft_end))
            sums += [float(v) for v in step(x, z_t, y)]
            n += 1
            done += 1
            if n % 50 == 0:
                bar.set_postfix(soft=f"{sums[1] / n:.4f}", gold=f"{sums[3] / n:.4f}")
        row = {"epoch": epoch, "loss": sums[0] / n, "soft_loss": sums[1] / n, "hard_loss": sums[2] / n,
               "gold_loss": sums[3] / n, "weights": [round(float(w), 4) for w in weights.numpy()],
               "seconds": round(time.perf_counter() - start, 2)}
        if eval_ids is not None:
            pred = predict(model, eval_ids).argmax(1)
            row["eval_accuracy"] = float((pred == eval_labels).mean())
        if valid_ids is not None:
            row["valid_accuracy"] = float((predict(model, valid_ids).argmax(1) == valid_labels).mean())
            if keep_best and row["valid_accuracy"] > best[0]:
                best = (row["valid_accuracy"], epoch, [w.copy() for w in model.get_weights()])
        history.append(row)
        print(f"{desc} epoch {epoch}: loss {row['loss']:.4f} soft {row['soft_loss']:.4f} "
              f"hard {row['hard_loss']:.4f} gold {row['gold_loss']:.4f}"
              + (f" valid acc {row['valid_accuracy']:.4f}" if "valid_accuracy" in row else "")
              + (f" eval acc {row['eval_accuracy']:.4f}" if "eval_accuracy" in row else ""), file=sys.stderr)
    for row in history:
        row["kept"] = row["epoch"] == (best[1] if keep_best else cfg.epochs)
    if keep_best and best[1] != cfg.epochs:
        model.set_weights(best[2])
        print(f"{desc}: kept epoch {best[1]} (best validation accuracy {best[0]:.4f})", file=sys.stderr)
    return history


def predict(model, ids: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Student logits for int32 ids, float32 ``[n, classes]``."""
    return model.predict(ids, batch_size=batch_size, verbose=0).astype(np.float32)
