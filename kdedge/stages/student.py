"""Student stage: build the student's tokenizer and its initialized, untrained model.

The architectures (and their sizes and latencies) are in :mod:`kdedge.models.student`,
the tokenizer in :mod:`kdedge.text.tokenizer`, the embedding init in
:mod:`kdedge.training.embedding_init`.

Output folder (``kdedge student --out DIR``)::

    DIR/tokenizer.json  the WordTokenizer contract (see kdedge.text.tokenizer)
    DIR/student.keras   the initialized, untrained model
    DIR/config.json     the resolved StudentConfig (written last)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kdedge import layout
from kdedge.errors import ConfigError
from kdedge.models import ARCHS
from kdedge.training.embedding_init import EMBED_INITS
from kdedge.options import setting

TOKENIZERS = ("regex", "word")


@dataclasses.dataclass
class StudentConfig:
    """Settings of the student stage; each field is a ``kdedge student`` flag."""

    arch: str = setting("cnn", "Student architecture.", choices=ARCHS)
    max_len: int = setting(64, "Student max tokens.")  # same cap as the teacher; SST-2 phrases are short
    # SST-2 train has ~15k distinct tokens.
    vocab_size: int = setting(16000, "Student vocabulary size (incl. [PAD], [UNK]).")
    # regex: the .tflite runs in MediaPipe Tasks with no code of ours (kdedge.text.tokenizer, format 3).
    tokenizer: str = setting("regex", "Student tokenizer: regex = MediaPipe's RegexTokenizer (format 3: words of "
                             "any script, case variants, no punctuation tokens); word = kdedge's format 1 "
                             "(lower-cased words and punctuation; runs only in kdedge).", choices=TOKENIZERS)
    # The embedding table is most of the bytes (16k x 64 int8 = 1 MB).
    embed_dim: int = setting(64, "Student embedding size (the transformer's width).")
    filters: int = setting(64, "CNN filters per kernel width.")
    # wordavg: its hidden layer; bilstm: the ReLU layer after pooling (Tang et al.).
    hidden: int = setting(64, "wordavg / bilstm ReLU hidden units.")
    # 0.21 ms float; 64 doubles it (the int8 LSTM is ~5x float).
    lstm_units: int = setting(32, "bilstm LSTM units per direction.")
    # Each block adds ~34k params and ~0.07 ms (float32).
    layers: int = setting(2, "transformer encoder blocks.")
    # 32-d heads; 4 heads have the same params but run ~20% slower.
    heads: int = setting(2, "transformer attention heads (must divide --embed-dim).")
    # 2x the width; 256 adds 33k params and ~0.04 ms (float32).
    ff_dim: int = setting(128, "transformer feed-forward units.")
    dropout: float = setting(0.3, "Student dropout.")
    # See kdedge.training.embedding_init.teacher_embeddings.
    embed_init: str = setting("teacher-context", "Student embedding init.", choices=EMBED_INITS)
    seed: int = setting(0, "Random seed.", cli=False)  # the shared --seed

    def validate(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"--arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        for flag, value in (("--max-len", self.max_len), ("--vocab-size", self.vocab_size),
                            ("--embed-dim", self.embed_dim), ("--filters", self.filters),
                            ("--hidden", self.hidden), ("--lstm-units", self.lstm_units),
                            ("--layers", self.layers), ("--heads", self.heads), ("--ff-dim", self.ff_dim)):
            if value < 1:
                raise ConfigError(f"{flag} must be >= 1, got {value}")
        if self.vocab_size < 3:
            raise ConfigError(f"--vocab-size must be >= 3, got {self.vocab_size}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}")
        if self.embed_init not in EMBED_INITS:
            raise ConfigError(f"--embed-init must be one of {', '.join(EMBED_INITS)}, got {self.embed_init!r}")
        if self.arch == "transformer" and self.embed_dim % self.heads:
            raise ConfigError(f"--heads must divide --embed-dim (the transformer width), got --heads {self.heads} "
                              f"and --embed-dim {self.embed_dim}")


def run_student(data_dir: str | Path, out: str | Path, cfg: StudentConfig,
                teacher_dir: str | Path | None = None) -> dict:
    """Student stage: build the tokenizer and the initialized model in ``out``.

    ``teacher_dir`` (a teacher stage folder) is needed unless ``embed_init=random``.
    Returns the resolved config written to ``out/config.json``.
    """
    from kdedge.data import Split
    from kdedge.data.splits import num_labels
    from kdedge.io import write_json
    from kdedge.training.embedding_init import teacher_embeddings
    from kdedge.models.student import build_student, save_student
    from kdedge.text.tokenizer import build_tokenizer

    cfg.validate()
    data_dir = layout.require(data_dir, "data", layout.TRAIN, layout.CONFIG)
    if cfg.embed_init != "random":
        if teacher_dir is None:
            raise ConfigError(f"--embed-init {cfg.embed_init} needs --teacher-dir (a `kdedge teacher` output folder)")
        teacher_dir = layout.require_teacher(teacher_dir)
    out = Path(out)
    texts = Split.from_jsonl(data_dir / layout.TRAIN, "train").texts
    if (data_dir / layout.UNLABELED).exists():
        texts = texts + Split.from_jsonl(data_dir / layout.UNLABELED, "unlabeled").texts
    tokenizer = build_tokenizer(cfg.tokenizer, texts, cfg.max_len, cfg.vocab_size)
    emb = None
    if cfg.embed_init != "random":
        emb = teacher_embeddings(layout.teacher_model(teacher_dir), tokenizer.vocab, cfg.embed_dim,
                                 cfg.embed_init, cfg.seed)
    labels = num_labels(data_dir)
    model = build_student(cfg, len(tokenizer.vocab), num_labels=labels, embeddings=emb)
    tokenizer.save(out / layout.TOKENIZER)
    save_student(model, out / layout.STUDENT)
    resolved = {**dataclasses.asdict(cfg), "data": str(data_dir),
                "teacher": str(teacher_dir) if teacher_dir else None,
                "vocab_size_actual": len(tokenizer.vocab), "tokenizer_format": tokenizer.to_dict()["format"],
                "num_labels": labels,
                "params": int(model.count_params())}
    write_json(out / layout.CONFIG, resolved)
    return resolved
