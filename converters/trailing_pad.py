"""Trailing padding a CNN student's ``.tflite`` may skip: the rewrite that lets one file run at any length.

A text classifier's input is ``[batch, L]`` ids, right-padded with ``<PAD>`` to the file's fixed ``L``.
In a Kim-style CNN (embedding, Conv1D of widths ``w``, max over time) every convolution window that
lies wholly in the padding gives the same value, so the max over time is unchanged when the ids are cut
to ``n + max(w)`` positions (``n`` real tokens): at least one all-padding window of every width is still
there, and every window that touches a token is. On SST-2 a sentence has ~18 tokens; at ``L`` = 64 the
convolutions spend ~70% of their time on padding.

The converter bakes ``L`` into the graph: tf-keras's Conv1D lowers to ``EXPAND_DIMS -> CONV_2D ->
RESHAPE [-1, L-w+1, F] -> REDUCE_MAX(axis 1)``, and that RESHAPE refuses any other length.
:func:`skip_trailing_padding` drops each such RESHAPE and lets the REDUCE_MAX take axes ``[1, 2]`` of the
convolution's ``[B, 1, T, F]`` output (the same values, any ``T``), and records ``max(w)`` as the model
metadata entry ``kdedge_trailing_pad``. The file keeps its ``[1, L]`` input: MediaPipe, the Task Library
and plain LiteRT run it exactly as before; a runtime that knows the entry (``kdedge.TextClassifier``)
may resize the input to ``n + k`` or more. :func:`check_trailing_pad` runs the claim on real ids before
the export keeps it.

Only graphs built from the CNN's ops qualify (GATHER / EMBEDDING_LOOKUP, EXPAND_DIMS, CONV_2D, the
squeeze RESHAPEs, REDUCE_MAX, CONCATENATION, FULLY_CONNECTED, SOFTMAX, (DE)QUANTIZE), and only when
every convolution feeds a max over time; any other graph (wordavg, bilstm, transformer) is left alone.
"""

from __future__ import annotations

import numpy as np

from converters.errors import ConverterError
from converters.flatbuffer import read_model, schema, set_metadata, write_model

PAD_ENTRY = "kdedge_trailing_pad"  # Model.metadata entry: ASCII decimal k


def _allowed_ops(ops) -> set[int]:
    return {ops.GATHER, ops.EMBEDDING_LOOKUP, ops.EXPAND_DIMS, ops.CONV_2D, ops.RESHAPE, ops.REDUCE_MAX,
            ops.CONCATENATION, ops.FULLY_CONNECTED, ops.SOFTMAX, ops.DEQUANTIZE, ops.QUANTIZE}


def _const(model, graph, tensor: int) -> np.ndarray | None:
    t = graph.tensors[tensor]
    data = model.buffers[t.buffer].data if t.buffer else None
    if data is None or len(data) == 0 or t.type != schema().TensorType.INT32:
        return None
    return np.frombuffer(bytes(data), dtype=np.int32)


def skip_trailing_padding(content: bytes) -> tuple[bytes, int] | None:
    """``(rewritten content, k)`` for a CNN text classifier; None for any other graph.

    ``content`` must be a bare converter output (no metadata archive after the flatbuffer).

    Raises:
        ConverterError: ``content`` is not a TFLite flatbuffer.
    """
    s = schema()
    ops = s.BuiltinOperator
    model = read_model(content)
    if len(model.subgraphs) != 1:
        return None
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.tensors[graph.inputs[0]].shape) != 2:
        return None
    codes = [max(c.builtinCode or 0, c.deprecatedBuiltinCode or 0) for c in model.operatorCodes]
    op_code = [codes[op.opcodeIndex] for op in graph.operators]
    if not set(op_code) <= _allowed_ops(ops):
        return None
    producer = {t: i for i, op in enumerate(graph.operators) for t in op.outputs}
    consumers: dict[int, list[int]] = {}
    for i, op in enumerate(graph.operators):
        for t in op.inputs:
            if t >= 0:
                consumers.setdefault(t, []).append(i)
    drop, widths, pooled_convs = [], [], set()
    for i, op in enumerate(graph.operators):
        if op_code[i] != ops.RESHAPE:
            continue
        src, out = op.inputs[0], op.outputs[0]
        conv = producer.get(src)
        users = consumers.get(out, [])
        if conv is None or op_code[conv] != ops.CONV_2D or len(users) != 1 or op_code[users[0]] != ops.REDUCE_MAX:
            return None
        shape_in, shape_out = list(graph.tensors[src].shape), list(graph.tensors[out].shape)
        if len(shape_in) != 4 or shape_in[1] != 1 or shape_out != [shape_in[0]] + shape_in[2:]:
            return None
        reduce = graph.operators[users[0]]
        axis = _const(model, graph, reduce.inputs[1])
        options = reduce.builtinOptions
        if axis is None or axis.tolist() not in ([1], [-2]) or (options is not None and options.keepDims):
            return None
        if len(consumers.get(src, [])) != 1:
            return None
        buffer = s.BufferT()
        buffer.data = bytearray(np.array([1, 2], dtype=np.int32).tobytes())
        model.buffers.append(buffer)
        axes = s.TensorT()
        axes.shape, axes.type, axes.buffer = [2], s.TensorType.INT32, len(model.buffers) - 1
        axes.name = f"kdedge/max_over_time_axes_{i}".encode()
        graph.tensors.append(axes)
        reduce.inputs = [src, len(graph.tensors) - 1]
        filt = graph.tensors[graph.operators[conv].inputs[1]].shape  # [F, 1, w, C]
        widths.append(int(filt[2]))
        pooled_convs.add(conv)
        drop.append(i)
    convs = {i for i, code in enumerate(op_code) if code == ops.CONV_2D}
    if not drop or convs != pooled_convs:
        return None  # a convolution that is not maxed over time (or no convolution at all)
    graph.operators = [op for i, op in enumerate(graph.operators) if i not in set(drop)]
    k = max(widths)
    set_metadata(model, PAD_ENTRY, str(k).encode())
    return write_model(model, len(content) + 1024), k


def token_counts(ids: np.ndarray, pad_id: int = 0) -> np.ndarray:
    """Per row of right-padded ids, the position after its last non-padding id."""
    ids = np.asarray(ids)
    real = ids != pad_id
    return np.where(real.any(axis=1), ids.shape[1] - np.argmax(real[:, ::-1], axis=1), 0)


def check_trailing_pad(original: bytes, rewritten: bytes, k: int, ids: np.ndarray, pad_id: int = 0,
                       atol: float = 1e-6) -> float:
    """The largest output difference over ``ids``: the rewritten file at full length and at ``n + k``
    positions (``n`` real tokens) against the original at full length.

    Raises:
        ConverterError: a difference above ``atol``, or a length the rewritten file refuses.
    """
    from ai_edge_litert.interpreter import Interpreter

    ids = np.asarray(ids, dtype=np.int32)
    full = ids.shape[1]
    runners: dict[tuple[str, int], Interpreter] = {}

    def run(which: str, row: np.ndarray) -> np.ndarray:
        key = (which, len(row))
        if key not in runners:
            it = Interpreter(model_content=original if which == "original" else rewritten, num_threads=1)
            it.resize_tensor_input(it.get_input_details()[0]["index"], [1, len(row)], strict=False)
            it.allocate_tensors()
            runners[key] = it
        it = runners[key]
        it.set_tensor(it.get_input_details()[0]["index"], row[None, :])
        it.invoke()
        return it.get_tensor(it.get_output_details()[0]["index"]).astype(np.float64)

    worst = 0.0
    try:
        for row, n in zip(ids, token_counts(ids, pad_id)):
            ref = run("original", row)
            for length in sorted({full, min(full, int(n) + k)}):
                worst = max(worst, float(np.abs(run("rewritten", row[:length]) - ref).max()))
    except (RuntimeError, ValueError) as e:
        raise ConverterError(f"the length-flexible rewrite does not run: {str(e).splitlines()[0]}") from None
    if worst > atol:
        raise ConverterError(f"the length-flexible rewrite changes outputs by {worst:.3g} (> {atol:g})")
    return worst
