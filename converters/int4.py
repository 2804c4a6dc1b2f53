"""int4 weights for a student ``.tflite``: the embedding table, convolutions and dense layers.

The float32 file's embedding GATHER becomes an EMBEDDING_LOOKUP (:mod:`converters.embedding_lookup`),
then Google's ai-edge-quantizer gives that op, CONV_2D and FULLY_CONNECTED int4 weights with float
activations ("dynamic" quantization: the lookup dequantizes only the rows it reads,
the other ops run on int4 weights with activations quantized on the fly). LiteRT and MediaPipe Tasks
run the result (``benchmarks/results/sst2/quantizer.md``). ai-edge-quantizer is an optional
dependency (``pip install "kdedge[int4]"``; it pins ai-edge-litert 2.3.0).
"""

from __future__ import annotations

from converters.embedding_lookup import gather_to_embedding_lookup
from converters.errors import ConverterError

INT4_OPS = ("EMBEDDING_LOOKUP", "CONV_2D", "FULLY_CONNECTED")  # (BATCH_MATMUL: "Unsupported op" for int4)


def int4_tflite(float32: bytes, ops: tuple[str, ...] = INT4_OPS) -> bytes:
    """The int4-weight version of a float32 student ``.tflite`` (no metadata: the caller stamps it).

    Raises:
        ConverterError: ai-edge-quantizer is not installed, or it refused the model.
    """
    try:
        from ai_edge_quantizer import quantizer, recipe_manager
        from ai_edge_quantizer.recipe import AlgorithmName, TFLOperationName
    except ImportError:
        raise ConverterError("int4 needs ai-edge-quantizer: pip install \"kdedge[int4]\"") from None
    import contextlib
    import io
    import os
    import tempfile

    lookup, _ = gather_to_embedding_lookup(float32)
    rp = recipe_manager.RecipeManager()
    try:
        for op in ops:
            rp.add_dynamic_config(regex=".*", operation_name=getattr(TFLOperationName, op), num_bits=4,
                                  algorithm_key=AlgorithmName.MIN_MAX_UNIFORM_QUANT)
    except (ValueError, AttributeError) as e:
        raise ConverterError(f"ai-edge-quantizer has no int4 config for {ops}: {str(e).splitlines()[0][:160]}"
                             ) from None
    fd, path = tempfile.mkstemp(suffix=".tflite")  # the quantizer reads a path
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(lookup)
        q = quantizer.Quantizer(path)
        q.load_quantization_recipe(rp.get_quantization_recipe())
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # it prints a size summary
                return bytes(q.quantize().quantized_model)
        except Exception as e:  # the quantizer raises ValueError and others on what it cannot take
            raise ConverterError(f"ai-edge-quantizer refused the model: {str(e).splitlines()[0][:200]}") from None
    finally:
        os.unlink(path)
