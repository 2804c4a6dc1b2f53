import numpy as np
import pytest

from kdedge.training.logit_store import LogitStore, namespace, teacher_fingerprint


def fake_teacher(calls):
    def compute(texts):
        calls.append(list(texts))
        return np.array([[len(t), -len(t)] for t in texts], dtype=np.float32)
    return compute


def test_namespace_depends_on_weights_tokenizer_length_and_truncation(tmp_path):
    (tmp_path / "tf_model.h5").write_bytes(b"weights-1")
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    fp = teacher_fingerprint(tmp_path)
    ns = namespace(fp, 64)
    assert ns == namespace(teacher_fingerprint(tmp_path), 64, "head")
    assert ns != namespace(fp, 32) and ns != namespace(fp, 64, "head+tail")
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    assert namespace(teacher_fingerprint(tmp_path), 64) != ns
    (tmp_path / "tf_model.h5").write_bytes(b"weights-2")
    assert namespace(teacher_fingerprint(tmp_path), 64) != ns


def test_each_text_is_labeled_once_across_calls_orders_and_duplicates(tmp_path):
    calls = []
    store = LogitStore(tmp_path, "ns")
    z, n = store.label(["a", "bb", "a"], fake_teacher(calls))
    assert n == 2 and calls == [["a", "bb"]]
    np.testing.assert_array_equal(z, [[1, -1], [2, -2], [1, -1]])
    # A later, bigger transfer set in another order labels only the new text.
    z2, n2 = LogitStore(tmp_path, "ns").label(["ccc", "bb", "a"], fake_teacher(calls))
    assert n2 == 1 and calls[-1] == ["ccc"]
    np.testing.assert_array_equal(z2, [[3, -3], [2, -2], [1, -1]])
    assert z2.dtype == np.float32


def test_interrupted_labeling_resumes_where_it_stopped(tmp_path):
    texts = [f"text {i}" for i in range(10)]
    calls = []
    teacher = fake_teacher(calls)

    def dies_on_third_shard(chunk):
        if len(calls) == 2:
            raise KeyboardInterrupt
        return teacher(chunk)

    with pytest.raises(KeyboardInterrupt):
        LogitStore(tmp_path, "ns").label(texts, dies_on_third_shard, shard_size=3)
    assert len(list((tmp_path / "teacher_logits" / "ns").glob("shard-*.npz"))) == 2
    assert not list((tmp_path / "teacher_logits" / "ns").glob("*.tmp*"))  # nothing half-written
    progress = []
    z, n = LogitStore(tmp_path, "ns").label(texts, teacher, shard_size=3,
                                            on_shard=lambda done, total: progress.append((done, total)))
    assert n == 4 and calls[2:] == [texts[6:9], texts[9:]]
    assert progress == [(3, 4), (4, 4)]
    fresh, _ = LogitStore(tmp_path / "other", "ns").label(texts, fake_teacher([]))
    np.testing.assert_array_equal(z, fresh)  # same cache contents as an uninterrupted run


def _fake_teacher(texts):
    """Logits that depend only on the text (what a fixed teacher gives), slowly enough for two to interleave."""
    import hashlib
    import time

    time.sleep(0.05)
    return np.array([[b / 255.0 for b in hashlib.sha256(t.encode()).digest()[:2]] for t in texts], np.float32)


def _labeler(cache, which, texts, queue):
    from kdedge.training.logit_store import LogitStore

    computed = []

    def compute(chunk):
        computed.extend(chunk)
        return _fake_teacher(chunk)

    logits, n = LogitStore(cache, "ns").label(texts, compute, shard_size=25)
    queue.put((which, computed, n, logits.tolist()))


def test_two_processes_labeling_one_store_share_the_work_and_lose_nothing(tmp_path):
    """Two labelers at once on overlapping texts: no text computed twice, every key in exactly one shard,
    and each gets the logits of its own texts."""
    import multiprocessing as mp

    from kdedge.training.logit_store import LogitStore, text_keys

    a = [f"text {i}" for i in range(0, 300)]
    b = [f"text {i}" for i in range(150, 450)] + ["text 3"]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_labeler, args=(tmp_path, i, texts, queue)) for i, texts in enumerate((a, b))]
    for p in procs:
        p.start()
    results = sorted((queue.get(timeout=120) for _ in procs), key=lambda r: r[0])  # arrival order is either
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    (_, ca, na, la), (_, cb, nb, lb) = results
    assert not set(ca) & set(cb) and set(ca) | set(cb) == set(a) | set(b)  # each text computed once, by one
    assert na + nb == 450 and min(na, nb) > 0  # both took a share
    keys = []
    for shard in sorted((tmp_path / "teacher_logits" / "ns").glob("shard-*.npz")):
        with np.load(shard, allow_pickle=False) as z:
            keys += [k.tobytes() for k in z["keys"]]
    assert len(keys) == len(set(keys)) == 450
    for texts, got in ((a, la), (b, lb)):
        np.testing.assert_allclose(got, _fake_teacher(texts))
    assert set(keys) == {k.tobytes() for k in text_keys(a + b)}
    assert LogitStore(tmp_path, "ns").missing(a + b) == []
