"""kdedge: distill a TensorFlow BERT teacher into a tiny student and ship it as TFLite.

The pipeline, data -> teacher -> student -> distill -> [compress] -> export -> bench,
one module per stage, and the libraries the stages use, one concern per package::

    cli.py        the `kdedge` command: flag wiring only
    pipeline.py   the main job: every stage into one run folder, resumable
    stages/       one module per stage: its Config dataclass and run_* function
    layout.py     every run folder's file names, require(), the completion marker
    options.py    stage settings as dataclass fields carrying their flag help
    data/         dataset loaders: SST-2, IMDB, CSV/TSV/JSONL tables, unlabeled text
    text/         the student's tokenizer family, augmentation
    models/       student architectures and layers, the teacher, embedding rewrites
    training/     losses, batching, tf.distribute, the logit store, the training loops
    measure/      quality, latency, memory, reports, plots, compare; device/ for adb
    runtime.py    LiteRT: load and run a .tflite
    io.py         atomic writes, JSON
    errors.py     the KdedgeError family (the CLI's exit code 2)

``converters/`` (beside this package) converts and compresses models; it imports
nothing of kdedge.

Importing kdedge sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported --
the only place that does: tfmot 0.8 and the TF models of transformers 4.57 need
Keras 2 (tf-keras). Import kdedge (any module of it) before TensorFlow.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


def __getattr__(name):
    # ``from kdedge import TextClassifier`` without importing LiteRT (or anything heavy) with kdedge.
    if name in ("TextClassifier", "Category"):
        from kdedge import classifier
        return getattr(classifier, name)
    raise AttributeError(f"module 'kdedge' has no attribute {name!r}")
