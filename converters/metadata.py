"""TFLite model metadata for a text classifier: the file MediaPipe Tasks' TextClassifier runs unchanged.

The metadata is the ``TFLITE_METADATA`` flatbuffer of the TFLite metadata schema
(``metadata_schema.fbs``, file identifier ``M001``, the schema MediaPipe and the
TFLite Task Library read), stored as one more buffer of the model and named in
the model's ``metadata`` list; the associated files (the tokenizer's vocabulary,
the label names) are a ZIP archive (stored, not deflated) appended to the
flatbuffer. Nothing in the graph changes: LiteRT runs the file exactly as before.

It is written here with ``flatbuffers.Builder`` field by field, because the
metadata writers shipped in the mediapipe wheels fail to import, and the schema's
Python module is mediapipe's (a test-only dependency of kdedge). The model
flatbuffer is rewritten with TensorFlow's own schema module.

What a text classifier carries (``classifier_metadata``):

- model: name, description, version, author, license, ``min_parser_version``
  1.2.1 (RegexTokenizerOptions is the newest feature used);
- input tensor (int32 ids ``[1, L]``): a ``RegexTokenizerOptions`` process unit
  with the delimiter regex and the vocabulary file (``token id`` per line;
  ``<PAD>`` and ``<UNKNOWN>`` required);
- output tensor (float ``[1, K]``): the label file (``TENSOR_AXIS_LABELS``, one
  label per line, in id order).
"""

from __future__ import annotations

import io
import zipfile

import flatbuffers


METADATA_NAME = "TFLITE_METADATA"  # the model metadata entry MediaPipe and the Task Library look for
IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.2.1"  # RegexTokenizerOptions was added in schema 1.2.1
VOCAB_FILE = "vocab.txt"
LABEL_FILE = "labels.txt"

# enum values and union tags of metadata_schema.fbs
FILE_DESCRIPTIONS, FILE_AXIS_LABELS, FILE_VOCABULARY = 1, 2, 5
CONTENT_FEATURE = 1  # ContentProperties.FeatureProperties
UNIT_REGEX_TOKENIZER = 6  # ProcessUnitOptions.RegexTokenizerOptions


def _table(b: flatbuffers.Builder, slots: int, fields: list[tuple[int, str, object]]) -> int:
    """One table: ``(slot, kind, value)`` with kind ``off`` (an offset), ``u8``/``i8`` (a byte); None skipped."""
    b.StartObject(slots)
    for slot, kind, value in fields:
        if value is None:
            continue
        if kind == "off":
            b.PrependUOffsetTRelativeSlot(slot, value, 0)
        elif kind == "u8":
            b.PrependUint8Slot(slot, value, 0)
        elif kind == "i8":
            b.PrependInt8Slot(slot, value, 0)
        else:
            raise ValueError(kind)
    return b.EndObject()


def _vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _string(b: flatbuffers.Builder, s: str | None) -> int | None:
    return None if s is None else b.CreateString(s)


def _associated_file(b: flatbuffers.Builder, name: str, description: str, kind: int) -> int:
    n, d = b.CreateString(name), b.CreateString(description)
    # AssociatedFile: name 0, description 1, type 2, locale 3, version 4
    return _table(b, 5, [(0, "off", n), (1, "off", d), (2, "i8", kind)])


def _tensor(b: flatbuffers.Builder, name: str, description: str, process_units: list[int] | None = None,
            files: list[int] | None = None) -> int:
    feature = _table(b, 0, [])
    # Content: content_properties_type 0, content_properties 1, range 2
    content = _table(b, 3, [(0, "u8", CONTENT_FEATURE), (1, "off", feature)])
    units = _vector(b, process_units) if process_units else None
    files_vec = _vector(b, files) if files else None
    n, d = b.CreateString(name), b.CreateString(description)
    # TensorMetadata: name 0, description 1, dimension_names 2, content 3, process_units 4, stats 5,
    # associated_files 6
    return _table(b, 7, [(0, "off", n), (1, "off", d), (3, "off", content), (4, "off", units),
                         (6, "off", files_vec)])


def classifier_metadata(*, name: str, description: str, version: str, author: str, license: str,
                        delim_regex: str, labels_description: str, input_description: str,
                        output_description: str, output_name: str = "probabilities") -> bytes:
    """The ``TFLITE_METADATA`` flatbuffer of a regex-tokenized text classifier (module docstring)."""
    b = flatbuffers.Builder(1024)
    vocab = _associated_file(b, VOCAB_FILE, "Vocabulary: one 'token id' per line (the RegexTokenizer's).",
                             FILE_VOCABULARY)
    delim = b.CreateString(delim_regex)
    # RegexTokenizerOptions: delim_regex_pattern 0, vocab_file 1
    regex_options = _table(b, 2, [(0, "off", delim), (1, "off", _vector(b, [vocab]))])
    # ProcessUnit: options_type 0, options 1
    unit = _table(b, 2, [(0, "u8", UNIT_REGEX_TOKENIZER), (1, "off", regex_options)])
    input_tensor = _tensor(b, "input_ids", input_description, process_units=[unit])
    labels = _associated_file(b, LABEL_FILE, labels_description, FILE_AXIS_LABELS)
    output_tensor = _tensor(b, output_name, output_description, files=[labels])
    sub_name = b.CreateString(name)
    # SubGraphMetadata: name 0, description 1, input_tensor_metadata 2, output_tensor_metadata 3, ...
    subgraph = _table(b, 10, [(0, "off", sub_name), (2, "off", _vector(b, [input_tensor])),
                              (3, "off", _vector(b, [output_tensor]))])
    fields = [_string(b, s) for s in (name, description, version)]
    subgraphs = _vector(b, [subgraph])
    auth, lic, parser = _string(b, author), _string(b, license), b.CreateString(MIN_PARSER_VERSION)
    # ModelMetadata: name 0, description 1, version 2, subgraph_metadata 3, author 4, license 5,
    # associated_files 6, min_parser_version 7
    root = _table(b, 8, [(0, "off", fields[0]), (1, "off", fields[1]), (2, "off", fields[2]),
                         (3, "off", subgraphs), (4, "off", auth), (5, "off", lic), (7, "off", parser)])
    b.Finish(root, file_identifier=IDENTIFIER)
    return bytes(b.Output())


def with_metadata(model: bytes, metadata: bytes, files: dict[str, bytes]) -> bytes:
    """``model`` with ``metadata`` as its ``TFLITE_METADATA`` buffer and ``files`` zipped after it.

    An existing ``TFLITE_METADATA`` entry (and any archive after the flatbuffer) is replaced; the
    other metadata entries (``min_runtime_version``, the converter's) are kept.

    Raises:
        ConverterError: ``model`` is not a TFLite flatbuffer.
    """
    from converters.flatbuffer import read_model, set_metadata, write_model

    m = read_model(model)
    set_metadata(m, METADATA_NAME, metadata)
    archive = io.BytesIO()
    archive.write(write_model(m, len(model) + len(metadata) + 1024))
    with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_STORED) as z:
        for file_name, content in files.items():
            info = zipfile.ZipInfo(file_name, date_time=(1980, 1, 1, 0, 0, 0))  # no clock in the bytes
            z.writestr(info, content)
    return archive.getvalue()
