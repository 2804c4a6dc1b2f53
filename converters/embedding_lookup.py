"""Rewrite the students' embedding GATHER as EMBEDDING_LOOKUP, the op low-bit tables can ride in.

TF's converter turns a Keras ``Embedding`` into ``GATHER(table [V, d], ids [B, L], axis 0)``. Its
table is most of a student's bytes, and nothing quantizes a GATHER table below 8 bits: TF's
converter cannot (``kdedge.models.embedding``'s docstring), and ai-edge-quantizer refuses GATHER
("Unsupported op"). It does quantize the table of an ``EMBEDDING_LOOKUP`` -- the LiteRT op that
reads int8 and int4 tables with per-row scales. That op takes 1-D ids, so each qualifying GATHER
becomes::

    RESHAPE(ids, [-1]) -> EMBEDDING_LOOKUP(flat ids, table) -> RESHAPE([-1, L, d])

with the GATHER's output tensor as the last op's output: the rest of the graph is untouched and, on
a float table, every output is bitwise what it was (tested). Only a GATHER of a constant 2-D float
table along axis 0 (batch_dims 0) by int32 ids qualifies; other GATHERs are left as they are.
"""

from __future__ import annotations

import numpy as np

from converters.flatbuffer import read_model, schema as _schema, write_model


def _opcode(schema, model, builtin: int) -> int:
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)  # the old byte field; 127 = "see builtinCode"
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _const(schema, model, graph, name: bytes, values: np.ndarray) -> int:
    buf = schema.BufferT()
    buf.data = bytearray(values.astype("<i4").tobytes())
    model.buffers.append(buf)
    t = schema.TensorT()
    t.name, t.type, t.shape, t.buffer = name, schema.TensorType.INT32, [len(values)], len(model.buffers) - 1
    graph.tensors.append(t)
    return len(graph.tensors) - 1


def _tensor(schema, graph, name: bytes, type_: int, shape: list[int], signature: list[int]) -> int:
    t = schema.TensorT()
    t.name, t.type, t.shape, t.shapeSignature, t.buffer = name, type_, shape, signature, 0
    graph.tensors.append(t)
    return len(graph.tensors) - 1


def _reshape(schema, code: int, inputs: list[int], output: int, new_shape: list[int]):
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = code, inputs, [output]
    op.builtinOptionsType = schema.BuiltinOptions.ReshapeOptions
    op.builtinOptions = schema.ReshapeOptionsT()
    op.builtinOptions.newShape = new_shape
    return op


def gather_to_embedding_lookup(content: bytes) -> tuple[bytes, int]:
    """``(the rewritten .tflite, how many GATHERs became EMBEDDING_LOOKUP)``; 0: ``content`` unchanged.

    Raises:
        ConverterError: ``content`` is not a TFLite flatbuffer.
    """
    model = read_model(content)
    schema = _schema()
    ops = schema.BuiltinOperator
    done = 0
    for graph in model.subgraphs:
        rewritten = []
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) != ops.GATHER or not _qualifies(model, graph, op):
                rewritten.append(op)
                continue
            table, ids = (graph.tensors[i] for i in op.inputs[:2])
            out = op.outputs[0]
            width = [int(x) for x in ids.shape]
            signature = [int(x) for x in (ids.shapeSignature if ids.shapeSignature is not None else ids.shape)]
            d = int(table.shape[1])
            n = int(np.prod(width))
            stem = bytes(graph.tensors[out].name or b"embedding")
            flat = _tensor(schema, graph, stem + b"/flat_ids", schema.TensorType.INT32, [n],
                           [-1 if any(s < 0 for s in signature) else n])
            rows = _tensor(schema, graph, stem + b"/rows", table.type, [n, d],
                           [-1 if any(s < 0 for s in signature) else n, d])
            back = [-1, *signature[1:], d]
            reshape = _opcode(schema, model, ops.RESHAPE)
            lookup = schema.OperatorT()
            lookup.opcodeIndex = _opcode(schema, model, ops.EMBEDDING_LOOKUP)
            lookup.inputs, lookup.outputs = [flat, op.inputs[0]], [rows]
            rewritten += [
                _reshape(schema, reshape, [op.inputs[1], _const(schema, model, graph, stem + b"/flat_shape",
                                                                 np.array([-1]))], flat, [-1]),
                lookup,
                _reshape(schema, reshape, [rows, _const(schema, model, graph, stem + b"/shape",
                                                        np.array(back))], out, back)]
            done += 1
        graph.operators = rewritten
    if not done:
        return content, 0
    return write_model(model, len(content) + 4096), done


def _qualifies(model, graph, op) -> bool:
    schema = _schema()
    if len(op.inputs) < 2:
        return False
    table, ids = (graph.tensors[i] for i in op.inputs[:2])
    opts = op.builtinOptions
    axis = getattr(opts, "axis", 0) if opts is not None else 0
    batch_dims = getattr(opts, "batchDims", 0) if opts is not None else 0
    buf = model.buffers[table.buffer] if table.buffer < len(model.buffers) else None
    constant = buf is not None and ((buf.data is not None and len(buf.data)) or (buf.offset and buf.offset > 1))
    return (bool(constant) and table.type == schema.TensorType.FLOAT32 and len(table.shape) == 2
            and ids.type == schema.TensorType.INT32 and axis == 0 and batch_dims == 0 and len(ids.shape) >= 1)
