"""Initial student embeddings distilled from the fine-tuned teacher (``--embed-init``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

EMBED_INITS = ("teacher-context", "teacher", "random")


def teacher_embeddings(teacher_dir: str | Path, vocab: list[str], dim: int, mode: str = "teacher-context",
                       seed: int = 0) -> np.ndarray:
    """Initial student embeddings distilled from the teacher, one row per student word.

    ``teacher``: the mean of the word's WordPiece input embeddings.
    ``teacher-context``: the fine-tuned teacher's last hidden states for the
    word fed alone (``[CLS] word [SEP]``), averaged over its pieces. After
    fine-tuning these carry the word's sentiment, not only its identity.

    PCA then projects the 384-d vectors to ``dim``: the student starts with
    the teacher's lexical knowledge instead of learning it from ~15k words.
    [PAD] is zero, [UNK] the mean.
    """
    from kdedge.models.teacher import load_teacher, word_vectors
    from kdedge.training.labeling import predict_hidden

    model, tok = load_teacher(Path(teacher_dir))
    if mode == "teacher-context":
        vecs = predict_hidden(model, tok, vocab[2:])
    else:
        vecs = word_vectors(model, tok, vocab[2:])
    centered = vecs.astype(np.float64) - vecs.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    proj = centered @ vt[:dim].T
    if proj.shape[1] < dim:  # more dims asked than the teacher has: pad with small noise
        rng = np.random.default_rng(seed)
        proj = np.concatenate([proj, rng.normal(0, 1e-3, (len(proj), dim - proj.shape[1]))], axis=1)
    proj *= 0.05 / proj.std()  # Keras-like scale so Adam's first steps are not dwarfed
    out = np.zeros((len(vocab), dim), dtype=np.float32)
    out[2:] = proj
    out[1] = proj.mean(axis=0)
    return out
