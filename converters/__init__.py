"""Model -> TFLite conversion and compression: a library that imports nothing of kdedge.

    keras_to_tflite.py  keras_to_tflite: a tf-keras student in float32, dynamic-range, float16 or int8
    hf_to_tflite.py     hf_bert_to_tflite: a transformers TF BERT classifier at a fixed length, in float32,
                        dynamic-range or full-integer int8
    flatbuffer.py       read_model / write_model: a .tflite in TFLite's object API and back (offset buffers inline)
    embedding_lookup.py the embedding GATHER rewritten as EMBEDDING_LOOKUP (the op int4 tables ride in)
    int4.py             int4_tflite: int4 table, conv and dense weights (ai-edge-quantizer, optional)
    trailing_pad.py     a cnn file made to run at any length, and the trailing padding it may skip
    sensitivity.py      per-layer int8 error; int8 with the worst layers left float
    qat.py              quantization-aware training of the students (tfmot QuantizeConfigs)
    sparsity.py         magnitude / 2:4 pruning and weight clustering while training
    preserve_qat.py     QAT that keeps a pruned or clustered student's zeros / clusters
    weights.py          zeros, distinct values and sizes of weights, in Keras and in a .tflite
    errors.py           ConverterError, and the tf-keras check

Every function returns bytes (a flatbuffer) or a model; writing files, atomically,
is the caller's job (kdedge's export and compress stages). Bad arguments and
unsupported models raise :class:`converters.errors.ConverterError` (a ValueError).
The models are tf-keras (Keras 2) ones: set ``TF_USE_LEGACY_KERAS=1`` before
TensorFlow is imported (``import kdedge`` does); the QAT and sparsity modules
refuse to load on Keras 3. Importing this package imports no TensorFlow.
"""

from converters.hf_to_tflite import TEACHER_MODES, hf_bert_to_tflite
from converters.keras_to_tflite import QUANT_MODES, keras_to_tflite

__all__ = ["QUANT_MODES", "TEACHER_MODES", "hf_bert_to_tflite", "keras_to_tflite"]
