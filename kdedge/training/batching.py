"""Length-bucketed batching: pad each batch only to its own longest sequence.

On a CPU the cost of a transformer step grows with the padded length, and most
SST-2 phrases are far shorter than the 64-token cap, so sorting by length before
batching cuts a teacher epoch several-fold.
"""

from __future__ import annotations

import numpy as np

# Padded lengths are rounded up to a multiple of this, so a tf.function sees
# at most max_len / PAD_MULTIPLE distinct shapes and retraces that many times.
PAD_MULTIPLE = 8


def bucket_batches(lengths: np.ndarray, batch_size: int, seed: int | None = None,
                   chunk_batches: int = 50) -> list[np.ndarray]:
    """Group example indices into batches of similar length.

    Args:
        lengths: token count per example.
        batch_size: examples per batch (the last batch of a chunk may be smaller).
        seed: if given, shuffle (training): examples are shuffled, sorted by
            length within chunks of ``chunk_batches`` batches, and the batch
            order is shuffled. If None, sort everything by length (inference).
        chunk_batches: chunk size in batches; bigger chunks pad less but mix less.

    Returns:
        A list of index arrays; every example appears exactly once.
    """
    lengths = np.asarray(lengths)
    if seed is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(lengths))
    chunk = batch_size * chunk_batches
    batches = []
    for start in range(0, len(perm), chunk):
        part = perm[start:start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def pad_batch(sequences: list[list[int]], max_len: int, pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pad token-id lists to the batch's longest length (rounded up to PAD_MULTIPLE).

    Returns:
        ``(ids, mask)``, both int32 of shape ``[batch, padded_len]``.
    """
    longest = max(len(s) for s in sequences)
    width = min(max_len, -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE)
    ids = np.full((len(sequences), width), pad_id, dtype=np.int32)
    mask = np.zeros((len(sequences), width), dtype=np.int32)
    for row, seq in enumerate(sequences):
        seq = seq[:width]
        ids[row, :len(seq)] = seq
        mask[row, :len(seq)] = 1
    return ids, mask
