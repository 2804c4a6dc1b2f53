"""Training a student on the teacher's logits (the distillation loop), and student inference.

One loop for everything that trains a student: distillation, its labels-only
twin (the same loop with gold-only weights), and the fine-tuning of compressed
variants (pruned, clustered, QAT-wrapped models: any model called once per step
with ``training=True``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from kdedge.progress import progress


def train_student(model, ids: np.ndarray, teacher_logits: np.ndarray, labels: np.ndarray,
                  cfg, eval_ids: np.ndarray | None = None,
                  eval_labels: np.ndarray | None = None, desc: str = "distill",
                  valid_ids: np.ndarray | None = None, valid_labels: np.ndarray | None = None,
                  keep_best: bool = False, checkpoint_dir: Path | None = None,
                  stop_after_epochs: int | None = None) -> list[dict]:
    """Train ``model`` in place with the distillation loss. Returns per-epoch history.

    ``cfg``: a :class:`kdedge.stages.distill.DistillConfig` (the loss weights and schedule,
    ``temperature``, ``soft_loss``, ``epochs``, ``batch_size``, ``lr``, ``schedule``,
    ``freeze_embeddings``, ``seed``). ``labels`` is -1 for unlabeled rows. Each epoch's
    accuracy on the eval split (and on the validation split, if given) goes in the history;
    with ``keep_best`` the model ends with the weights of the first epoch of highest validation
    accuracy (that row has ``"kept": true``), else with the last epoch's. The eval split never
    chooses anything.

    Each epoch is a function of ``(seed, epoch)`` alone: its example order, and its dropout masks (the
    global seed is set to ``seed + epoch`` and the step is traced anew). With ``checkpoint_dir``, the model,
    the optimizer and the history are saved after every epoch; a later call with the same inputs and
    settings continues after the last saved epoch and ends with the weights an uninterrupted run ends
    with (bitwise on one machine). Saved state of other inputs or settings is discarded.
    ``stop_after_epochs`` stops early (tests: an interruption without a kill).
    """
    import tensorflow as tf

    from kdedge.training.losses import kd_loss, weights_at

    steps = -(-len(ids) // cfg.batch_size)
    total = steps * cfg.epochs
    lr = cfg.lr
    if cfg.schedule == "cosine":
        lr = tf.keras.optimizers.schedules.CosineDecay(cfg.lr, decay_steps=total)
    optimizer = tf.keras.optimizers.Adam(lr)
    if cfg.freeze_embeddings:  # (wrapped QAT / pruning layers are renamed; they are never frozen)
        model.get_layer("embedding").trainable = False
    teacher_logits = teacher_logits.astype(np.float32)
    labels = labels.astype(np.int32)
    weights = tf.Variable([cfg.w_soft, cfg.w_hard, cfg.w_gold], dtype=tf.float32, trainable=False)

    def make_step():
        @tf.function
        def step(x, z_t, y):
            with tf.GradientTape() as tape:
                z_s = model(x, training=True)
                loss, soft, hard, gold = kd_loss(z_s, z_t, y, weights[0], weights[1], weights[2], cfg.temperature,
                                                 cfg.soft_loss)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss, soft, hard, gold
        return step

    if keep_best and valid_ids is None:
        raise ValueError("keep_best needs a validation split")
    history = []
    done = 0
    best = (-1.0, None, None)  # validation accuracy, epoch, weights
    saver = _EpochCheckpoints(checkpoint_dir, model, optimizer, cfg, ids, teacher_logits, labels) \
        if checkpoint_dir is not None else None
    first = 1
    if saver is not None:
        state = saver.restore()
        if state is not None:
            first, done, history = state["epoch"] + 1, state["done"], state["history"]
            best = (state["best_valid"], state["best_epoch"], saver.best_weights() if keep_best else None)
            print(f"{desc}: resumed after epoch {state['epoch']} from {checkpoint_dir}", file=sys.stderr)
    last = cfg.epochs if stop_after_epochs is None else min(cfg.epochs, first - 1 + stop_after_epochs)
    for epoch in range(first, last + 1):
        start = time.perf_counter()
        tf.keras.utils.set_random_seed(cfg.seed + epoch)  # this epoch's dropout, whatever ran before
        step = make_step()
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(ids))
        data = (tf.data.Dataset.from_tensor_slices((ids[order], teacher_logits[order], labels[order]))
                .batch(cfg.batch_size).prefetch(2))
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
        if saver is not None:
            saver.save(epoch, done, history, best, keep_best and best[1] == epoch)
    if last < cfg.epochs:
        return history
    for row in history:
        row["kept"] = row["epoch"] == (best[1] if keep_best else cfg.epochs)
    if keep_best and best[1] != cfg.epochs:
        model.set_weights(best[2])
        print(f"{desc}: kept epoch {best[1]} (best validation accuracy {best[0]:.4f})", file=sys.stderr)
    return history


class _EpochCheckpoints:
    """The state of :func:`train_student` after each epoch: model and optimizer (a ``tf.train.Checkpoint``
    numbered by epoch), the history and best epoch (``state.json``, written after the checkpoint it names),
    and the best epoch's weights (``best.npz``). A fingerprint of the inputs, the settings and the initial
    weights tells a checkpoint of this run from one of another."""

    def __init__(self, folder, model, optimizer, cfg, ids, teacher_logits, labels):
        import dataclasses
        import hashlib

        import tensorflow as tf

        self.folder = Path(folder)
        h = hashlib.sha256(json.dumps(dataclasses.asdict(cfg), sort_keys=True, default=str).encode())
        for a in (ids, teacher_logits, labels, *model.get_weights()):
            h.update(np.ascontiguousarray(a).tobytes())
        self.fingerprint = h.hexdigest()
        self.ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer)
        self.manager = tf.train.CheckpointManager(self.ckpt, str(self.folder), max_to_keep=2)

    def restore(self) -> dict | None:
        from kdedge.io import read_json

        path = self.folder / "state.json"
        if not path.is_file():
            return None
        state = read_json(path)
        prefix = self.folder / f"ckpt-{state.get('epoch')}"
        if state.get("fingerprint") != self.fingerprint or not Path(f"{prefix}.index").is_file():
            print(f"distill: the checkpoints in {self.folder} were made with other inputs or settings: starting "
                  "over", file=sys.stderr)
            return None
        self.ckpt.restore(str(prefix)).assert_existing_objects_matched()
        return state

    def best_weights(self) -> list[np.ndarray] | None:
        path = self.folder / "best.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            return [z[f"w{i}"] for i in range(len(z.files))]

    def save(self, epoch: int, done: int, history: list[dict], best, best_is_new: bool) -> None:
        from kdedge.io import atomic_path, write_json

        self.manager.save(checkpoint_number=epoch)
        if best_is_new:
            with atomic_path(self.folder / "best.npz", suffix=".npz") as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, **{f"w{i}": w for i, w in enumerate(best[2])})
        write_json(self.folder / "state.json", {"fingerprint": self.fingerprint, "epoch": epoch, "done": done,
                                                "history": history, "best_valid": best[0], "best_epoch": best[1]})


def predict(model, ids: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Student logits for int32 ids, float32 ``[n, classes]``."""
    return model.predict(ids, batch_size=batch_size, verbose=0).astype(np.float32)
