"""Pruning and weight clustering of the students (converters/sparsity.py), at toy sizes.

Each technique is trained a few steps with a custom GradientTape loop (as
kdedge.training.distill.train_student), stripped, checked weight by weight, converted
to TFLite and run one example at a time against the Keras model.
"""

import gzip

import numpy as np
import pytest

from converters.errors import ConverterError
from converters.keras_to_tflite import keras_to_tflite
from converters.preserve_qat import preserve_qat
from converters.qat import qat_to_tflite
from converters.sparsity import apply_masks, cluster_student, prune_student, pruning_step, strip
from converters.weights import sparsity_report, tflite_sizes, tflite_weight_report
from kdedge.models.student import build_student
from kdedge.runtime import TFLiteModel
from tests.support import fit_steps, synthetic_task, tiny_student_config

VOCAB = 50
STEPS = 8  # training steps; magnitude pruning reaches its final sparsity at step END
END = 6


def _tiny(arch, **kwargs):
    return tiny_student_config(arch, **{"layers": 1, **kwargs})


def _task(n, seed):
    return synthetic_task(n, seed, vocab=VOCAB)


X, Y = _task(128, seed=1)
CHECK, _ = _task(32, seed=2)  # never trained or calibrated on


def _train(model, steps, lr=1e-2):
    """``steps`` GradientTape steps of batch 16, one training-mode call of the model per step."""
    starts = [(16 * i) % len(X) for i in range(steps)]
    return fit_steps(model, ((X[s:s + 16], Y[s:s + 16]) for s in starts), lr)


def _representative():
    for row in X[:32]:
        yield [row[None]]


def _lite_outputs(content, ids):
    lite = TFLiteModel(content=content)
    return np.concatenate([lite({"input_ids": row[None]}) for row in ids])


def _pruned_weights(report):
    return {k: v for k, v in report.items() if not k.startswith("logits/")}


@pytest.fixture(scope="module")
def cnn():
    """A cnn student, its magnitude-pruned (50%) and clustered (8) copies trained STEPS steps, and both stripped."""
    student = build_student(_tiny("cnn"), vocab_size=VOCAB)
    before = [w.copy() for w in student.get_weights()]
    pruned = prune_student(student, 0.5, "magnitude", begin_step=0, end_step=END, frequency=2)
    prune_losses = _train(pruned, STEPS)
    clustered = cluster_student(student, clusters=8)
    cluster_losses = _train(clustered, STEPS)
    return {"student": student, "before": before, "pruned": pruned, "clustered": clustered,
            "losses": prune_losses + cluster_losses, "pruned_plain": strip(pruned),
            "clustered_plain": strip(clustered)}


def test_input_model_is_untouched_and_copies_train(cnn):
    for a, b in zip(cnn["student"].get_weights(), cnn["before"]):
        np.testing.assert_array_equal(a, b)
    assert {type(layer).__name__ for layer in cnn["student"].layers}.isdisjoint({"PruneLowMagnitude", "ClusterWeights"})
    assert np.isfinite(cnn["losses"]).all()
    assert {layer.name for layer in cnn["pruned"].layers} >= {"prune_low_magnitude_embedding",
                                                               "prune_low_magnitude_conv3", "logits"}
    assert {layer.name for layer in cnn["clustered"].layers} >= {"cluster_embedding", "cluster_conv5", "logits"}


def test_training_calls_drive_the_pruning_step(cnn):
    import tensorflow as tf
    pruned = cnn["pruned"]
    assert pruning_step(pruned) == STEPS  # one per training-mode call, no callback
    pruned(CHECK, training=False)  # evaluation does not count
    assert pruning_step(pruned) == STEPS
    # The last optimizer step moves pruned weights off zero (their gradient is not masked) until the next
    # training call or apply_masks -- what UpdatePruningStep.on_epoch_end is for.
    wrapper = pruned.get_layer("prune_low_magnitude_embedding")
    weight, mask, _ = wrapper.pruning_vars[0]
    tf.keras.optimizers.SGD(0.1).apply_gradients([(tf.ones_like(weight), weight)])
    assert np.mean(weight.numpy() == 0) < 0.1
    apply_masks(pruned)
    np.testing.assert_array_equal(weight.numpy() == 0, mask.numpy() == 0)
    assert np.mean(weight.numpy() == 0) >= 0.5


def test_magnitude_pruning_survives_strip(cnn):
    plain = cnn["pruned_plain"]
    assert [type(layer).__name__ for layer in plain.layers] == [type(layer).__name__
                                                                for layer in cnn["student"].layers]
    report = sparsity_report(plain)
    assert set(_pruned_weights(report)) == {"embedding/embeddings", "conv3/kernel", "conv4/kernel", "conv5/kernel"}
    for name, row in _pruned_weights(report).items():
        assert row["zeros"] == pytest.approx(0.5, abs=0.02), name
    assert report["logits/kernel"]["zeros"] == 0  # skipped by default


@pytest.mark.parametrize("arch", ["wordavg", "transformer", "bilstm"])
def test_magnitude_pruning_other_archs(arch):
    student = build_student(_tiny(arch), vocab_size=VOCAB)
    pruned = prune_student(student, 0.5, "magnitude", begin_step=0, end_step=END, frequency=2)
    _train(pruned, STEPS)
    report = _pruned_weights(sparsity_report(strip(pruned)))
    expected = {"wordavg": {"embedding/embeddings", "hidden/kernel"},
                "transformer": {"embedding/embeddings", "block0/qkv_kernel", "block0/out_kernel",
                                "block0/ff1_kernel", "block0/ff2_kernel"},
                "bilstm": {"embedding/embeddings", "hidden/kernel", "bilstm/forward_kernel",
                           "bilstm/forward_recurrent_kernel", "bilstm/backward_kernel",
                           "bilstm/backward_recurrent_kernel"}}[arch]
    assert set(report) == expected
    for name, row in report.items():
        assert row["zeros"] == pytest.approx(0.5, abs=0.02), name


def _groups_of_4(weight):
    """Complete groups of 4 consecutive values along axis 0 (TF's input axis), one row per group."""
    rows = weight.shape[0] // 4 * 4
    w = weight[:rows].reshape(rows // 4, 4, -1)
    return np.moveaxis(w, 1, -1).reshape(-1, 4)


@pytest.mark.parametrize("arch", ["cnn", "transformer"])
def test_2_by_4_pruning(arch):
    import tensorflow as tf
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_utils import is_pruned_m_by_n

    student = build_student(_tiny(arch), vocab_size=VOCAB)
    pruned = prune_student(student, structure="2:4")
    _train(pruned, 3)
    plain = strip(pruned)
    table = plain.get_layer("embedding").embeddings.numpy()
    assert ((_groups_of_4(table) == 0).sum(axis=1) >= 2).all()
    # VOCAB % 4 == 2: tfmot pads the last group with zeros, so its 2 real rows are kept.
    assert (table[VOCAB // 4 * 4:] != 0).all()
    kernels = []
    if arch == "transformer":
        kernels = [getattr(plain.get_layer("block0"), n).numpy() for n in ("qkv_kernel", "ff1_kernel", "ff2_kernel")]
    for kernel in kernels:
        assert ((_groups_of_4(kernel) == 0).sum(axis=1) >= 2).all()
        assert bool(is_pruned_m_by_n(tf.constant(kernel)))  # tfmot's own check: TFLite's [out, in], groups along in
    if arch == "cnn":  # tfmot's 2:4 takes only rank-2 and rank-4 weights: Conv1D kernels stay dense
        assert sparsity_report(plain)["conv3/kernel"]["zeros"] == 0


def test_clustering_survives_strip(cnn):
    plain = cnn["clustered_plain"]
    report = sparsity_report(plain)
    for name in ("embedding/embeddings", "conv3/kernel", "conv4/kernel", "conv5/kernel"):
        assert 2 <= report[name]["unique"] <= 8, name
    assert report["logits/kernel"]["unique"] == report["logits/kernel"]["size"]  # skipped


@pytest.mark.parametrize("arch", ["transformer", "bilstm"])
def test_clustering_other_archs(arch):
    student = build_student(_tiny(arch), vocab_size=VOCAB)
    plain = strip(cluster_student(student, clusters=8, init="linear"))
    assert [type(layer).__name__ for layer in plain.layers] == [type(layer).__name__ for layer in student.layers]
    report = sparsity_report(plain)
    clustered = {k for k, v in report.items() if v["unique"] <= 8}
    if arch == "transformer":
        assert clustered == {"embedding/embeddings", "block0/qkv_kernel", "block0/out_kernel", "block0/ff1_kernel",
                             "block0/ff2_kernel"}
    else:  # the BiLSTM's kernels cannot be clustered (converters.sparsity.UNCLUSTERABLE)
        assert clustered == {"embedding/embeddings", "hidden/kernel"}


def test_tflite_sizes_is_reproducible_gzip():
    content = bytes(range(256)) * 8
    sizes = tflite_sizes(content)
    assert sizes["bytes"] == len(content)
    assert sizes == tflite_sizes(content)
    assert sizes["gzip_bytes"] == len(gzip.compress(content, compresslevel=9, mtime=0))


def test_pruning_and_clustering_pay_off_only_gzipped():
    """Same raw .tflite size; much smaller gzipped (a 1000 x 16 table: the weights dominate the file)."""
    student = build_student(_tiny("cnn", embed_dim=16, filters=8), vocab_size=1000)
    pruned = prune_student(student, 0.5, "magnitude", begin_step=0, end_step=1, frequency=1)
    pruned(X[:4], training=True)  # step 1: the mask is set; no training needed for sizes
    clustered = cluster_student(student, clusters=8)
    sizes = {}
    for name, model in (("dense", student), ("pruned", strip(pruned)), ("clustered", strip(clustered))):
        for mode in ("float32", "int8"):
            sizes[name, mode] = tflite_sizes(keras_to_tflite(model, mode, _representative))
    for mode in ("float32", "int8"):
        dense = sizes["dense", mode]
        for name in ("pruned", "clustered"):
            assert sizes[name, mode]["bytes"] == pytest.approx(dense["bytes"], rel=0.05), (name, mode, sizes)
        assert sizes["pruned", mode]["gzip_bytes"] < 0.8 * dense["gzip_bytes"], (mode, sizes)
        assert sizes["clustered", mode]["gzip_bytes"] < 0.7 * dense["gzip_bytes"], (mode, sizes)


@pytest.mark.parametrize("which", ["pruned_plain", "clustered_plain"])
def test_stripped_tflite_tracks_keras(cnn, which):
    plain = cnn[which]
    keras_out = plain(CHECK, training=False).numpy()
    np.testing.assert_allclose(_lite_outputs(keras_to_tflite(plain, "float32"), CHECK), keras_out, atol=1e-5)
    content = keras_to_tflite(plain, "int8", _representative)
    out = _lite_outputs(content, CHECK)
    assert (out.argmax(1) == keras_out.argmax(1)).mean() >= 0.9
    report = tflite_weight_report(content)
    table = next(v for v in report.values() if v["size"] == VOCAB * 8)
    kernels = [v for v in report.values() if v["size"] in (3 * 8 * 4, 4 * 8 * 4, 5 * 8 * 4)]
    assert table["dtype"] == "int8" and not table["per_channel"] and len(kernels) == 3
    if which == "pruned_plain":  # zeros stay zeros in int8 (small weights may round to 0 too)
        assert min(v["zeros"] for v in [table, *kernels]) >= 0.5, report
    else:  # the table is quantized per tensor, the conv kernels per channel: <= 8 values in each
        assert table["unique"] <= 8
        assert max(v["unique_per_channel"] for v in kernels) <= 8, report


@pytest.fixture(scope="module", params=["prune", "cluster"])
def preserved(request, cnn):
    plain = cnn["pruned_plain" if request.param == "prune" else "clustered_plain"]
    qat = preserve_qat(plain, request.param, calibration=X[:32])
    losses = _train(qat, 6, lr=1e-3)
    return {"kind": request.param, "qat": qat, "losses": losses, "tflite": qat_to_tflite(qat, _representative)}


def test_preserve_qat_keeps_zeros_or_clusters_in_the_int8_file(preserved):
    assert np.isfinite(preserved["losses"]).all()
    report = tflite_weight_report(preserved["tflite"])
    big = {k: v for k, v in report.items() if v["size"] in (VOCAB * 8, 3 * 8 * 4, 4 * 8 * 4, 5 * 8 * 4)}
    assert len(big) == 4  # the table and the three conv kernels
    for name, row in big.items():
        assert row["dtype"] == "int8", name
        if preserved["kind"] == "prune":
            assert row["zeros"] >= 0.5, (name, row)
        else:
            assert row["unique"] <= 8, (name, row)


def test_preserve_qat_trains_the_kept_values(preserved):
    import tensorflow as tf
    qat = preserved["qat"]
    wrapper = qat.get_layer("quant_embedding")
    if preserved["kind"] == "prune":
        (mask,) = [w for w in wrapper.weights if "sparsity_mask" in w.name]
        (table,) = [w.numpy() for w in wrapper.weights if w.name.endswith("/embeddings:0")]
        np.testing.assert_array_equal(table[mask.numpy() == 0], 0)  # zero gradient: Adam leaves them at 0
        assert np.mean(mask.numpy() == 0) == pytest.approx(0.5, abs=0.02)
    else:
        (centroids,) = [w for w in wrapper.weights if "centroids" in w.name]
        assert centroids.shape[0] <= 8
        assert isinstance(centroids, tf.Variable) and centroids.trainable


def test_preserve_qat_tflite_tracks_the_qat_model(preserved):
    keras_out = preserved["qat"](CHECK, training=False).numpy()
    out = _lite_outputs(preserved["tflite"], CHECK)
    assert np.ptp(keras_out) > 0.05
    assert np.abs(out - keras_out).max() <= 0.1 * np.ptp(keras_out)
    assert (out.argmax(1) == keras_out.argmax(1)).mean() >= 0.9


def test_bad_arguments_are_config_errors():
    student = build_student(_tiny("wordavg"), vocab_size=VOCAB)
    with pytest.raises(ConverterError, match="multiple"):
        prune_student(student, 0.5, begin_step=0, end_step=10, frequency=3)
    with pytest.raises(ConverterError, match="structure"):
        prune_student(student, structure="1:4")
    with pytest.raises(ConverterError, match="clusters"):
        cluster_student(student, clusters=1)
    with pytest.raises(ConverterError, match="bilstm"):
        preserve_qat(build_student(_tiny("bilstm"), vocab_size=VOCAB), "prune")


@pytest.mark.parametrize("kind", ["prune", "cluster"])
def test_preserve_qat_transformer(kind):
    """The custom TransformerBlock's four kernels keep their zeros / clusters through QAT into the int8 file."""
    student = build_student(_tiny("transformer"), vocab_size=VOCAB)
    if kind == "prune":
        compressed = prune_student(student, 0.5, "magnitude", begin_step=0, end_step=2, frequency=1)
        _train(compressed, 2)
    else:
        compressed = cluster_student(student, clusters=8)
    qat = preserve_qat(strip(compressed), kind, calibration=X[:32])
    _train(qat, 3, lr=1e-3)
    content = qat_to_tflite(qat, _representative)
    kernels = {k: v for k, v in tflite_weight_report(content).items() if v["size"] in (8 * 24, 8 * 8, 8 * 16)}
    assert len(kernels) == 4, kernels  # qkv, out, ff1, ff2 (FULLY_CONNECTED weights)
    for name, row in kernels.items():
        assert row["dtype"] == "int8"
        # The converter re-quantizes these kernels per output channel (converters.sparsity.tflite_weight_report):
        # zeros stay 0, and each channel keeps at most 8 values.
        assert row["zeros"] >= 0.5 if kind == "prune" else row["unique_per_channel"] <= 8, (name, row)
    keras_out = qat(CHECK, training=False).numpy()
    assert (_lite_outputs(content, CHECK).argmax(1) == keras_out.argmax(1)).mean() >= 0.9
