"""A ``.tflite`` in TFLite's mutable object API and back: what every flatbuffer edit here starts and ends with."""

from __future__ import annotations

import importlib

from converters.errors import ConverterError


def schema():
    """TFLite's generated flatbuffer schema (object API): ``ModelT``, ``BuiltinOperator``, ..."""
    return importlib.import_module("tensorflow.lite.python.schema_py_generated")


def read_model(content: bytes):
    """``content`` as a mutable ``ModelT``.

    Buffers kept after the flatbuffer (offset/size, as ai-edge-quantizer writes them) come back inline:
    a repacked flatbuffer has another length, so their offsets would point at the wrong bytes.

    Raises:
        ConverterError: ``content`` is not a TFLite flatbuffer.
    """
    if len(content) < 8 or content[4:8] != b"TFL3":
        raise ConverterError("not a TFLite model (no TFL3 identifier)")
    model = schema().ModelT.InitFromPackedBuf(bytearray(content), 0)
    for buf in model.buffers or []:
        if buf.offset and buf.offset > 1:
            buf.data = bytearray(content[buf.offset:buf.offset + buf.size])
            buf.offset, buf.size = 0, 0
    return model


def write_model(model, size_hint: int = 1024) -> bytes:
    """The ``.tflite`` bytes of ``model`` (``size_hint``: the builder's initial size, e.g. the input's)."""
    import flatbuffers

    b = flatbuffers.Builder(size_hint)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def set_metadata(model, name: str, data: bytes) -> None:
    """Give ``model`` (a ``ModelT``) the metadata entry ``name`` holding ``data`` in a new buffer, in place of
    any entry of that name; the other entries are kept."""
    s = schema()
    buffer = s.BufferT()
    buffer.data = bytearray(data)
    model.buffers.append(buffer)
    entry = s.MetadataT()
    entry.name, entry.buffer = name, len(model.buffers) - 1
    model.metadata = [e for e in (model.metadata or []) if _text(e.name) != name] + [entry]


def compact_tensor_names(content: bytes) -> bytes:
    """``content`` with every tensor but the graphs' inputs and outputs renamed ``t<index>``.

    The converter names each tensor after the TF ops it came from (``model/bilstm/mul_63;...``): in an
    unrolled LSTM, thousands of tensors and ~0.4 MB of names. Nothing reads them (signatures, metadata
    and runtimes address tensors by index); the graph and the weights are unchanged.
    """
    model = read_model(content)
    for graph in model.subgraphs or []:
        keep = {int(i) for i in list(graph.inputs) + list(graph.outputs)}
        for index, tensor in enumerate(graph.tensors or []):
            if index not in keep:
                tensor.name = f"t{index}".encode()
    return write_model(model, len(content))


def _text(value) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value or "")
