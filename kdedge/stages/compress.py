"""Compress stage: smaller variants of the distilled student that keep its accuracy.

A variant is a chain of steps on the distilled student, joined by ``+``, e.g.
``vocab=8000+qat`` or ``prune=0.5+qat``. Structural steps first, in this order:

    vocab=N      keep N vocabulary rows ([PAD], [UNK] included) ranked by teacher-measured
                 importance (kdedge.models.importance.word_importance: how much the distillation
                 loss rises when the word becomes [UNK], summed over transfer texts)
    vocabf=N     the same, ranked by train frequency
    buckets=B    hash out-of-vocabulary words into B extra rows (FNV-1a, kdedge.text.tokenizer)
    rank=R       factorize the embedding table to rank R (SVD-initialized, ALBERT-style)
    prune=S      magnitude pruning to sparsity S in (0, 1), polynomial schedule
    prune=2:4    2:4 structured pruning
    cluster=K    weight clustering to K centroids

then exactly one quantization step, last:

    ptq          post-training full-integer int8, calibrated on train rows
    qat          quantization-aware training (pruning- / cluster-preserving after
                 prune / cluster: converters.preserve_qat), exported int8
    dynamic | float16 | float32   the export stage's other modes

After the structural steps the student is fine-tuned on the distillation loss
(``--epochs`` over a seeded ``--max-examples`` sample of the distill stage's own
transfer set; the teacher's logits come from the logit store); QAT fine-tunes
again with fake quantization (the steps: :mod:`kdedge.training.variant`). Nothing is exported here: ``kdedge export
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

from kdedge import layout
from kdedge.errors import ConfigError
from kdedge.io import read_json, write_json
from kdedge.options import comma_list, setting

STRUCTURAL = ("vocab", "vocabf", "buckets", "rank", "prune", "cluster")
QUANT = ("ptq", "qat", "dynamic", "float16", "float32")
DEFAULT_VARIANTS = ("ptq", "qat", "prune=0.5+qat", "prune=2:4+ptq", "cluster=16+qat", "vocab=8000+ptq",
                    "vocab=4000+rank=32+ptq")


@dataclasses.dataclass
class CompressConfig:
    """Settings of the compress stage; each field is a ``kdedge compress`` flag."""

    # Empty: DEFAULT_VARIANTS, with ptq in place of qat for a student QAT cannot take (bilstm: see
    # converters.qat.UNSUPPORTED).
    variants: tuple = setting((), "Comma-separated variants, each a chain like vocab=8000+qat (see "
                              "kdedge/stages/compress.py).", type=str)
    epochs: int = setting(1, "Fine-tune epochs after the structural steps, and again for QAT.")
    max_examples: int | None = setting(100_000, "Transfer rows sampled for fine-tuning.")
    lr: float = setting(5e-4, "Fine-tuning peak learning rate.")  # a quarter of distill's: the student is trained
    batch_size: int = setting(64, "Fine-tuning batch size.")
    # Occlusion costs one forward pass per (text, distinct word): see kdedge.models.importance.
    importance_texts: int = setting(20_000, "Transfer texts scored for importance-based vocabulary pruning.")
    calibration_examples: int = setting(300, "Train rows for QAT range init and int8 calibration.")
    seed: int = setting(0, "Random seed.", cli=False)  # the shared --seed
    cache_dir: str | None = setting(None, "Teacher-logits cache (else $KDEDGE_CACHE or ~/.cache/kdedge).", type=str)

    def __post_init__(self):
        self.variants = tuple(comma_list(self.variants))

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
    from converters.errors import ConverterError
    from kdedge.models.student import load_student
    from kdedge.stages.distill import DistillConfig
    from kdedge.text.tokenizer import load_tokenizer
    from kdedge.training.distill import predict
    from kdedge.training.logit_store import default_cache_dir
    from kdedge.training.variant import build_variant

    cfg.validate()
    distill_dir = layout.require(distill_dir, "distill", layout.CONFIG, layout.STUDENT, layout.TOKENIZER)
    from kdedge.stages.merge import is_merged_dir
    if is_merged_dir(distill_dir):
        raise ConfigError(f"--distill-dir {distill_dir} is a merged student: compress fine-tunes one student "
                          "(compress a member, or export the merged one as it is)")
    data_dir = layout.require(data_dir, "data", layout.TRAIN, layout.EVAL)
    teacher_dir = layout.require_teacher(teacher_dir)
    out = Path(out)
    known = {f.name for f in dataclasses.fields(DistillConfig)}
    dcfg = DistillConfig(**{k: v for k, v in read_json(distill_dir / layout.CONFIG).items() if k in known})
    cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    tokenizer = load_tokenizer(distill_dir / layout.TOKENIZER)
    base = load_student(distill_dir / layout.STUDENT)
    check_variants(cfg, base, tokenizer)  # before any labeling or fine-tuning starts
    data = _transfer(data_dir, teacher_dir, tokenizer, dcfg, cache_dir, cfg)
    tune = dataclasses.replace(dcfg, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                               baseline=False, freeze_embeddings=False)
    labeled = data.evals.labels >= 0
    base_acc = float((predict(base, data.encoded["eval"]).argmax(1)[labeled] == data.evals.labels[labeled]).mean())

    importance = {}
    manifest = {"distill": str(distill_dir), "float_student_keras_accuracy": base_acc,
                "fine_tune": {"examples": len(data.texts), "epochs": cfg.epochs, "lr": cfg.lr}, "variants": []}
    for spec in cfg.variants:
        t0 = time.perf_counter()
        print(f"compress: {spec}", file=sys.stderr, flush=True)
        try:
            entry = build_variant(spec, parse_variant(spec), base, data, tune, importance, cfg, out / slug(spec))
        except ConverterError as e:  # an argument the converters refuse (e.g. prune=0.0): the user's to fix
            raise ConfigError(f"--variants {spec}: {e}") from None
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        entry["keras_retention_vs_float_student"] = entry["keras_eval_accuracy"] / base_acc if base_acc else None
        write_json(out / slug(spec) / layout.VARIANT, entry)
        manifest["variants"].append(entry)
    write_json(out / layout.MANIFEST, manifest)
    write_json(out / layout.CONFIG, {**dataclasses.asdict(cfg), "distill": str(distill_dir), "data": str(data_dir),
                                     "teacher": str(teacher_dir), "cache_dir_resolved": str(cache_dir)})
    return manifest


def check_variants(cfg: CompressConfig, base, tokenizer) -> None:
    """Fill in the default variants for ``base``; refuse ones it cannot take (ConfigError)."""
    from converters.qat import UNSUPPORTED
    from kdedge.text.tokenizer import FORMAT_REGEX

    no_qat = [UNSUPPORTED[type(layer).__name__] for layer in base.layers if type(layer).__name__ in UNSUPPORTED]
    if not cfg.variants:
        cfg.variants = tuple(dict.fromkeys(v.replace("qat", "ptq") if no_qat else v for v in DEFAULT_VARIANTS))
    for spec in cfg.variants:
        steps = dict(parse_variant(spec)[:-1])
        if steps.get("buckets") and tokenizer.to_dict()["format"] == FORMAT_REGEX:
            raise ConfigError(f"--variants {spec}: the student's tokenizer is MediaPipe's RegexTokenizer (format 3), "
                              "which has one <UNKNOWN> id and no hash buckets; build the student with --tokenizer "
                              "word to use buckets")
        keep = steps.get("vocab") or steps.get("vocabf")
        if keep and not 3 <= int(keep) < len(tokenizer.vocab):
            raise ConfigError(f"--variants {spec}: the student's vocabulary has {len(tokenizer.vocab)} rows; "
                              f"keep between 3 and {len(tokenizer.vocab) - 1}")
    qat_specs = [s for s in cfg.variants if parse_variant(s)[-1][0] == "qat"]
    if no_qat and qat_specs:
        raise ConfigError(f"--variants {','.join(qat_specs)}: {no_qat[0]}")


def _transfer(data_dir: Path, teacher_dir: Path, tokenizer, dcfg, cache_dir: Path, cfg: CompressConfig):
    """The distill stage's own transfer set (logits from the store), a seeded ``--max-examples`` sample of it."""
    from kdedge.training.transfer import transfer_set
    from kdedge.training.variant import Transfer

    ts = transfer_set(data_dir, teacher_dir, tokenizer, dcfg, cache_dir)
    rng = np.random.default_rng(cfg.seed)
    n = len(ts["texts"])
    rows = np.sort(rng.permutation(n)[:cfg.max_examples]) if cfg.max_examples and cfg.max_examples < n \
        else np.arange(n)
    texts = [ts["texts"][i] for i in rows]
    train_texts = [ts["texts"][i] for i in np.flatnonzero(ts["labels"] >= 0)]
    calib_texts = [train_texts[i] for i in rng.permutation(len(train_texts))[:cfg.calibration_examples]]
    encoded = {"texts": tokenizer.encode(texts, masks=True), "eval": tokenizer.encode(ts["evals"].texts)}
    return Transfer(texts=texts, z=ts["z"][rows], labels=ts["labels"][rows], evals=ts["evals"],
                    calib_texts=calib_texts, tokenizer=tokenizer, encoded=encoded)
