"""The converters' one exception: a model or argument they cannot take (a ``ValueError``)."""


class ConverterError(ValueError):
    """A model the converters do not support, or a bad argument; the message says which and why."""


def require_tf_keras(tf) -> None:
    """Refuse to run on Keras 3: tfmot 0.8 and the students are tf-keras (Keras 2) code.

    Raises:
        ImportError: ``tf.keras`` is not tf-keras. Set ``TF_USE_LEGACY_KERAS=1`` before TensorFlow
            is first imported (``import kdedge`` does it).
    """
    module = tf.keras.Model.__module__  # tf.keras is a lazy loader: ask a class where it comes from
    if not module.startswith("tf_keras"):
        raise ImportError(f"converters need tf-keras (Keras 2), but tf.keras is {module.split('.')[0]}: set "
                          "TF_USE_LEGACY_KERAS=1 before TensorFlow is imported (importing kdedge does)")
