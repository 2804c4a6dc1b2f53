"""Compress stage: smaller variants of the distilled student that keep its accuracy.

A variant is a chain of steps on the distilled student, joined by ``+``, e.g.
``vocab=8000+qat`` or ``prune=0.5+qat``. Structural steps first, in this order:

    vocab=N      keep N vocabulary rows ([PAD], [UNK] included) ranked by teacher-measured
                 importance (kdedge.embedding.word_importance: how much the distillation
                 loss rises when the word becomes [UNK], summed over transfer texts)
    vocabf=N     the same, ranked by train frequency
    buckets=B    hash out-of-vocabulary words into B extra rows (FNV-1a, kdedge.embedding)
    rank=R       factorize the embedding table to rank R (SVD-initialized, ALBERT-style)
    prune=S      magnitude pruning to sparsity S in (0, 1), polynomial schedule
    prune=2:4    2:4 structured pruning
    cluster=K    weight clustering to K centroids

then exactly one quantization step, last:

    ptq          post-training full-integer int8, calibrated on train rows
    qat          quantization-aware training (pruning- / cluster-preserving after
                 prune / cluster: converters.sparsity.preserve_qat), exported int8
    dynamic | float16 | float32   the export stage's other modes

After the structural steps the student is fine-tuned on the distillation loss
(``--epochs`` over a seeded ``--max-examples`` sample of the distill stage's own
transfer set; the teacher's logits come from the logit store); QAT fine-tunes
again with fake quantization. Nothing is exported here: ``kdedge export
--compress DIR`` converts every variant and applies the retention gate.

Output folder (``kdedge compress --out DIR``)::

    DIR/<variant>/student.keras     the float variant (pruning / clustering stripped)
    DIR/<variant>/qat.weights.h5    its QAT weights (qat variants; rebuilt by converters.qat.load_qat)
    DIR/<variant>/tokenizer.json    its tokenizer (vocabulary pruned / hashed)
    DIR/<variant>/variant.json      the steps, Keras eval accuracy, parameters, zeros and unique values
    DIR/manifest.json               every variant, in order
    DIR/config.json                 the resolved CompressConfig (written last)
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from pathlib import Path

import numpy as np

from kdedge.errors import ConfigError
from kdedge.io import read_json, require_files, write_json

STRUCTURAL = ("vocab", "vocabf", "buckets", "rank", "prune", "cluster")
QUANT = ("ptq", "qat", "dynamic", "float16", "float32")
DEFAULT_VARIANTS = ("ptq", "qat", "prune=0.5+qat", "prune=2:4+ptq", "cluster=16+qat", "vocab=8000+ptq",
                    "vocab=4000+rank=32+ptq")


@dataclasses.dataclass
class CompressConfig:
    """Settings of the compress stage; each field is a ``kdedge compress`` flag."""

    # --variants: comma-separated chains (module docstring); empty: DEFAULT_VARIANTS, with ptq in place of
    # qat for a student QAT cannot take (bilstm: see converters.qat.UNSUPPORTED)
    variants: tuple = ()
    epochs: int = 1  # --epochs: fine-tune epochs after the structural steps, and again for QAT
    max_examples: int | None = 100_000  # --max-examples: transfer rows sampled for fine-tuning (None: all)
    lr: float = 5e-4  # --lr: a quarter of distill's peak: the student is trained already
    batch_size: int = 64  # --batch-size
    importance_texts: int = 20_000  # --importance-texts: transfer texts scored for vocab=N (occlusion)
    calibration_examples: int = 300  # --calibration-examples: train rows for QAT range init and PTQ
    seed: int = 0  # --seed
    cache_dir: str | None = None  # --cache-dir: teacher-logits cache (else $KDEDGE_CACHE or ~/.cache/kdedge)

    def __post_init__(self):
        if isinstance(self.variants, str):
            self.variants = tuple(v.strip() for v in self.variants.split(",") if v.strip())

    def validate(self) -> None:
        for spec in self.variants:
            parse_variant(spec)
        if len(set(map(slug, self.variants))) != len(self.variants):
            raise ConfigError(f"--variants has duplicates: {','.join(self.variants)}")
        for flag, v in (("--epochs", self.epochs), ("--batch-size", self.batch_size),
                        ("--importance-texts", self.importance_texts),
                        ("--calibration-examples", self.calibration_examples)):
            if v < 1:
                raise ConfigError(f"{flag} must be >= 1, got {v}")
        if self.max_examples is not None and self.max_examples < 1:
            raise ConfigError(f"--max-examples must be >= 1, got {self.max_examples}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")


def parse_variant(spec: str) -> list[tuple[str, str | None]]:
    """``"vocab=8000+qat"`` -> ``[("vocab", "8000"), ("qat", None)]``, checked.

    Raises:
        ConfigError: an unknown step, a bad value, a step twice, structural steps out of
            order, or not exactly one quantization step at the end.
    """
    steps = []
    for part in spec.split("+"):
        name, _, value = part.strip().partition("=")
        if name not in STRUCTURAL + QUANT:
            raise ConfigError(f"--variants {spec}: unknown step {name!r} (steps: {', '.join(STRUCTURAL + QUANT)})")
        if (name in QUANT) == bool(value):
            raise ConfigError(f"--variants {spec}: {name!r} " + ("takes no value" if value else "needs =VALUE"))
        steps.append((name, value or None))
    names = [n for n, _ in steps]
    if names[-1] not in QUANT or sum(n in QUANT for n in names) != 1:
        raise ConfigError(f"--variants {spec}: end with exactly one of {', '.join(QUANT)}")
    structural = names[:-1]
    if len(set(structural)) != len(structural) or ("vocab" in structural and "vocabf" in structural):
        raise ConfigError(f"--variants {spec}: a step appears twice")
    if structural != sorted(structural, key=STRUCTURAL.index):
        raise ConfigError(f"--variants {spec}: structural steps go in the order {' '.join(STRUCTURAL)}")
    if "rank" in structural and names[-1] == "qat":
        raise ConfigError(f"--variants {spec}: rank=R does not combine with qat (converters.qat has no config for "
                          "the factorized projection); use ptq")
    if "prune" in structural and "cluster" in structural:
        raise ConfigError(f"--variants {spec}: prune and cluster do not combine (clustering rewrites the zeros)")
    for name, value in steps[:-1]:
        ok = (re.fullmatch(r"0?\.\d+", value) or value == "2:4") if name == "prune" else value.isdigit()
        if not ok or (name != "prune" and int(value) < 1):
            raise ConfigError(f"--variants {spec}: bad value {name}={value}")
    return steps


def slug(spec: str) -> str:
    """A file-name-safe variant name: ``prune=2:4+qat`` -> ``prune2of4_qat``."""
    return spec.replace("2:4", "2of4").replace("=", "").replace("+", "_").replace(".", "p")


def run_compress(distill_dir: str | Path, data_dir: str | Path, teacher_dir: str | Path, out: str | Path,
                 cfg: CompressConfig) -> dict:
    """Compress stage: build, fine-tune and save every variant of ``distill_dir``'s student into ``out``.

    Returns the manifest (one entry per variant, see the module docstring).
    """
    from kdedge.distill import DistillConfig, predict, transfer_set
    from kdedge.logits_cache import default_cache_dir
    from kdedge.student import load_student
    from kdedge.tokenizer import WordTokenizer

    cfg.validate()
    distill_dir = require_files(distill_dir, ["config.json", "student.keras", "tokenizer.json"], "kdedge distill")
    data_dir = require_files(data_dir, ["train.jsonl", "eval.jsonl"], "kdedge data")
    teacher_dir = require_files(teacher_dir, ["config.json", "model/config.json"], "kdedge teacher")
    out = Path(out)
    known = {f.name for f in dataclasses.fields(DistillConfig)}
    dcfg = DistillConfig(**{k: v for k, v in read_json(distill_dir / "config.json").items() if k in known})
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    tokenizer = WordTokenizer.load(distill_dir / "tokenizer.json")
    ts = transfer_set(data_dir, teacher_dir, tokenizer, dcfg, cache_dir)
    rng = np.random.default_rng(cfg.seed)
    n = len(ts["texts"])
    rows = np.sort(rng.permutation(n)[:cfg.max_examples]) if cfg.max_examples and cfg.max_examples < n \
        else np.arange(n)
    texts = [ts["texts"][i] for i in rows]
    z, labels = ts["z"][rows], ts["labels"][rows]
    evals = ts["evals"]
    labeled = evals.labels >= 0
    train_texts = [ts["texts"][i] for i in np.flatnonzero(ts["labels"] >= 0)]
    calib_texts = [train_texts[i] for i in rng.permutation(len(train_texts))[:cfg.calibration_examples]]
    tune = dataclasses.replace(dcfg, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                               baseline=False, freeze_embeddings=False)
    base = load_student(distill_dir / "student.keras")
    from converters.qat import UNSUPPORTED
    no_qat = [UNSUPPORTED[type(layer).__name__] for layer in base.layers if type(layer).__name__ in UNSUPPORTED]
    if not cfg.variants:
        cfg.variants = tuple(dict.fromkeys(v.replace("qat", "ptq") if no_qat else v for v in DEFAULT_VARIANTS))
    for spec in cfg.variants:  # checked before any fine-tuning starts
        keep = dict(parse_variant(spec)[:-1])
        keep = keep.get("vocab") or keep.get("vocabf")
        if keep and not 3 <= int(keep) < len(tokenizer.vocab):
            raise ConfigError(f"--variants {spec}: the student's vocabulary has {len(tokenizer.vocab)} rows; "
                              f"keep between 3 and {len(tokenizer.vocab) - 1}")
    qat_specs = [s for s in cfg.variants if parse_variant(s)[-1][0] == "qat"]
    if no_qat and qat_specs:
        raise ConfigError(f"--variants {','.join(qat_specs)}: {no_qat[0]}")
    encoded = {"texts": tokenizer.encode(texts), "eval": tokenizer.encode(evals.texts)}
    base_acc = float((predict(base, encoded["eval"]).argmax(1)[labeled] == evals.labels[labeled]).mean())

    importance = {}
    manifest = {"distill": str(distill_dir), "float_student_keras_accuracy": base_acc,
                "fine_tune": {"examples": len(rows), "epochs": cfg.epochs, "lr": cfg.lr}, "variants": []}
    for spec in cfg.variants:
        t0 = time.perf_counter()
        print(f"compress: {spec}", file=sys.stderr, flush=True)
        steps = parse_variant(spec)
        entry = build_variant(spec, steps, base, tokenizer, texts, z, labels, evals, calib_texts, tune, importance,
                              cfg, out / slug(spec), encoded)
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        entry["keras_retention_vs_float_student"] = entry["keras_eval_accuracy"] / base_acc if base_acc else None
        write_json(out / slug(spec) / "variant.json", entry)
        manifest["variants"].append(entry)
    write_json(out / "manifest.json", manifest)
    write_json(out / "config.json", {**dataclasses.asdict(cfg), "distill": str(distill_dir), "data": str(data_dir),
                                     "teacher": str(teacher_dir), "cache_dir_resolved": str(cache_dir)})
    return manifest


def build_variant(spec, steps, base, tokenizer, texts, z, labels, evals, calib_texts, tune, importance, cfg,
                  folder: Path, encoded: dict) -> dict:
    """One variant: structural rewrites, fine-tune, optional QAT; saved to ``folder``. Returns its entry.

    ``encoded``: ``texts`` and ``evals.texts`` encoded with ``tokenizer`` (``"texts"``, ``"eval"``),
    shared by every variant that keeps the vocabulary.
    """
    from converters.sparsity import cluster_student, prune_student, sparsity_report, strip
    from kdedge import embedding
    from kdedge.distill import predict, train_student
    from kdedge.student import save_student

    model, tok = base, tokenizer
    structural = dict(steps[:-1])
    quant = steps[-1][0]
    history = []
    if "vocab" in structural or "vocabf" in structural:
        by = "importance" if "vocab" in structural else "frequency"
        keep = int(structural.get("vocab") or structural["vocabf"])
        if by == "importance" and "scores" not in importance:
            k = min(cfg.importance_texts, len(texts))
            t0 = time.perf_counter()
            importance["scores"] = embedding.word_importance(base, tokenizer, texts[:k], teacher_logits=z[:k],
                                                             temperature=tune.temperature)
            importance["seconds"] = round(time.perf_counter() - t0, 1)
        tok, model = embedding.prune_vocab(tok, model, keep, by=by, importance=importance.get("scores"),
                                           buckets=int(structural.get("buckets", 0)))
    elif "buckets" in structural:
        tok, model = embedding.add_oov_buckets(tok, model, int(structural["buckets"]))
    if "rank" in structural:
        model, _ = embedding.factorize_embedding(model, int(structural["rank"]))
    ids = encoded["texts"] if tok is tokenizer else tok.encode(texts)
    steps_per_epoch = -(-len(ids) // tune.batch_size)
    if "prune" in structural:
        total = steps_per_epoch * tune.epochs
        frequency = max(1, total // 20)
        end = max(frequency, (int(total * 0.7) // frequency) * frequency)  # sparse for the last ~30% of the steps
        value = structural["prune"]
        model = prune_student(model, 0.5 if value == "2:4" else float(value), "2:4" if value == "2:4" else "magnitude",
                              begin_step=0, end_step=end, frequency=frequency)
    elif "cluster" in structural:
        model = cluster_student(model, int(structural["cluster"]))
    eval_ids = encoded["eval"] if tok is tokenizer else tok.encode(evals.texts)
    labeled = evals.labels >= 0
    if structural:
        history += train_student(model, ids, z, labels, tune, eval_ids[labeled], evals.labels[labeled],
                                 desc=f"{spec} fine-tune")
        if "prune" in structural or "cluster" in structural:
            model = strip(model)
    entry = {"spec": spec, "name": slug(spec), "quantization": "int8" if quant in ("ptq", "qat") else quant,
             "method": quant, "steps": [f"{k}={v}" if v else k for k, v in steps],
             "vocab_rows": len(tok.vocab) + getattr(tok, "buckets", 0), "params": int(model.count_params())}
    save_student(model, folder / "student.keras")
    tok.save(folder / "tokenizer.json")
    final = model
    if quant == "qat":
        from converters.qat import quantize_student, save_qat_weights
        from converters.sparsity import preserve_qat
        calib = tok.encode(calib_texts)
        kind = entry["qat_kind"] = ("prune" if "prune" in structural else "cluster" if "cluster" in structural
                                    else None)
        qat = preserve_qat(model, kind, calib) if kind else quantize_student(model, calib)
        history += train_student(qat, ids, z, labels, tune, eval_ids[labeled], evals.labels[labeled],
                                 desc=f"{spec} QAT")
        save_qat_weights(qat, folder / "qat.weights.h5")
        final = qat
    pred = predict(final, eval_ids).argmax(1)
    entry["keras_eval_accuracy"] = float((pred[labeled] == evals.labels[labeled]).mean())
    entry["sparsity"] = sparsity_report(model)
    entry["history"] = history
    if "scores" in importance and ("vocab" in structural):
        entry["importance_seconds"] = importance["seconds"]
    return entry

