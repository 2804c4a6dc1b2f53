"""Model -> TFLite converters used by ``kdedge export``.

- :func:`keras_to_tflite` -- a tf-keras student, in float32, dynamic-range,
  float16 or full-integer int8.
- :func:`hf_bert_to_tflite` -- a transformers TF BERT classifier at a fixed
  sequence length (the reference the students are measured against).

Both return the flatbuffer as bytes; writing it (atomically) is the caller's job.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from converters.hf_to_tflite import hf_bert_to_tflite  # noqa: E402
from converters.keras_to_tflite import QUANT_MODES, keras_to_tflite  # noqa: E402

__all__ = ["QUANT_MODES", "hf_bert_to_tflite", "keras_to_tflite"]
