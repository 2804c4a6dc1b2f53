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
    [PAD] is zero; [UNK] is the teacher's own vector for its ``[UNK]`` token, projected the same way
    (the words' mean is the projection's origin, so "the mean" would make [UNK] equal [PAD]).
    """
    from kdedge.models.teacher import load_teacher, word_vectors
    from kdedge.training.labeling import predict_hidden

    model, tok = load_teacher(Path(teacher_dir))
    words = list(vocab[2:]) + [tok.unk_token]  # the teacher's [UNK] rides along, last
    if mode == "teacher-context":
        vecs = predict_hidden(model, tok, words)
    else:
        vecs = word_vectors(model, tok, words)
    vecs, unk = vecs[:-1].astype(np.float64), vecs[-1].astype(np.float64)
    mean = vecs.mean(axis=0)
    _, _, vt = np.linalg.svd(vecs - mean, full_matrices=False)
    proj = np.vstack([vecs - mean, unk - mean]) @ vt[:dim].T
    if proj.shape[1] < dim:  # more dims asked than the teacher has: pad with small noise
        rng = np.random.default_rng(seed)
        proj = np.concatenate([proj, rng.normal(0, 1e-3, (len(proj), dim - proj.shape[1]))], axis=1)
    proj *= 0.05 / proj[:-1].std()  # Keras-like scale so Adam's first steps are not dwarfed
    out = np.zeros((len(vocab), dim), dtype=np.float32)
    out[2:] = proj[:-1]
    out[1] = proj[-1]
    return out
