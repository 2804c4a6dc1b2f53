"""kdedge: distill a TensorFlow BERT teacher into a tiny student and ship it as TFLite.

Pipeline, one module per stage::

    data -> teacher -> student -> distill -> export -> bench

Importing kdedge sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported:
tfmot 0.8 and the TF models of transformers 4.57 need Keras 2 (tf-keras).
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
