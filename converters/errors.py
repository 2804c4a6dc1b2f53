"""The converters' one exception: a model or argument they cannot take (a ``ValueError``)."""


class ConverterError(ValueError):
    """A model the converters do not support, or a bad argument; the message says which and why."""


def require_tf_keras(tf) -> None:
    """Refuse to run on Keras 3: tfmot 0.8 and the students are tf-keras (Keras 2) code.

    Raises:
        ImportError: ``tf.keras`` is not tf-keras. Set ``TF_USE_LEGACY_KERAS=1`` before TensorFlow
            is first imported (``import kdedge`` does it).
    """
    version = str(getattr(tf.keras, "__version__", ""))
    if not version.startswith("2."):
        raise ImportError(f"converters need tf-keras (Keras 2), but tf.keras is Keras {version or '?'}: set "
                          "TF_USE_LEGACY_KERAS=1 before TensorFlow is imported (importing kdedge does)")
