import numpy as np

from kdedge.training.batching import PAD_MULTIPLE, bucket_batches, pad_batch


def test_training_batches_cover_every_example_once_and_are_seeded():
    lengths = np.random.default_rng(0).integers(1, 60, size=1000)
    batches = bucket_batches(lengths, 32, seed=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    again = bucket_batches(lengths, 32, seed=3)
    assert all((a == b).all() for a, b in zip(batches, again))
    other = bucket_batches(lengths, 32, seed=4)
    assert any(len(a) != len(b) or (a != b).any() for a, b in zip(batches, other))


def test_bucketing_pads_less_than_random_batches():
    lengths = np.random.default_rng(0).integers(1, 60, size=2000)
    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)
    rng = np.random.default_rng(1)
    random_batches = np.array_split(rng.permutation(2000), 2000 // 32)
    assert padded(bucket_batches(lengths, 32, seed=0)) < 0.8 * padded(random_batches)


def test_inference_batches_are_sorted_by_length():
    lengths = np.array([5, 1, 3, 2, 4])
    assert np.concatenate(bucket_batches(lengths, 2)).tolist() == [1, 3, 2, 4, 0]


def test_pad_batch_rounds_up_and_caps():
    ids, mask = pad_batch([[5, 6, 7], [8]], max_len=64)
    assert ids.shape == (2, PAD_MULTIPLE)
    assert ids[0, :3].tolist() == [5, 6, 7] and ids[1, 1:].sum() == 0
    assert mask.sum(1).tolist() == [3, 1]
    ids, _ = pad_batch([list(range(1, 100))], max_len=20)
    assert ids.shape == (1, 20)
