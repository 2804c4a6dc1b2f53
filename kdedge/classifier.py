"""Classify text with a self-describing ``.tflite``: the tokenizer and the labels come from its metadata.

A student ``.tflite`` written by ``kdedge export`` carries TFLite metadata
(:mod:`converters.metadata`): a RegexTokenizer process unit with its vocabulary
file on the input tensor, the label file on the output tensor. MediaPipe Tasks'
``TextClassifier`` runs such a file with no code of ours; :class:`TextClassifier`
here reads the same metadata, tokenizes exactly as MediaPipe does
(:class:`kdedge.text.tokenizer.RegexTokenizer`) and runs the file with LiteRT.
It imports no TensorFlow.

    >>> from kdedge import TextClassifier
    >>> clf = TextClassifier("student_int8.tflite")
    >>> clf.classify(["a great film"])
    [[Category(label='positive', score=0.97, index=1), Category(label='negative', ...)]]
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdedge.errors import StageInputError

METADATA_NAME = "TFLITE_METADATA"
REGEX_TOKENIZER = 6  # ProcessUnitOptions.RegexTokenizerOptions in metadata_schema.fbs
AXIS_LABELS = 2  # AssociatedFileType.TENSOR_AXIS_LABELS


@dataclass(frozen=True)
class Category:
    """One label of one text: its name, its score (a probability) and its id."""

    label: str
    score: float
    index: int


@dataclass
class ClassifierInfo:
    """What a text classifier's metadata says."""

    name: str | None
    description: str | None
    version: str | None
    author: str | None
    license: str | None
    min_parser_version: str | None
    delim_regex: str
    vocab: bytes  # the vocabulary file, "token id" per line
    labels: list[str]
    output: str  # "probabilities" or "logits" (the output tensor's metadata name)


class _Table:
    """Minimal read access to a flatbuffer table (little-endian, as the format is)."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable, self.vsize = vtable, struct.unpack_from("<H", buf, vtable)[0]

    def _field(self, slot: int) -> int:
        at = 4 + 2 * slot
        return 0 if at >= self.vsize else struct.unpack_from("<H", self.buf, self.vtable + at)[0]

    def _ref(self, slot: int) -> int | None:
        off = self._field(slot)
        if not off:
            return None
        at = self.pos + off
        return at + struct.unpack_from("<I", self.buf, at)[0]

    def scalar(self, slot: int, fmt: str, default=0):
        off = self._field(slot)
        return struct.unpack_from("<" + fmt, self.buf, self.pos + off)[0] if off else default

    def string(self, slot: int) -> str | None:
        at = self._ref(slot)
        if at is None:
            return None
        n = struct.unpack_from("<I", self.buf, at)[0]
        return bytes(self.buf[at + 4:at + 4 + n]).decode("utf-8")

    def bytes_(self, slot: int) -> bytes:
        at = self._ref(slot)
        if at is None:
            return b""
        n = struct.unpack_from("<I", self.buf, at)[0]
        return bytes(self.buf[at + 4:at + 4 + n])

    def tables(self, slot: int) -> list["_Table"]:
        at = self._ref(slot)
        if at is None:
            return []
        n = struct.unpack_from("<I", self.buf, at)[0]
        out = []
        for i in range(n):
            el = at + 4 + 4 * i
            out.append(_Table(self.buf, el + struct.unpack_from("<I", self.buf, el)[0]))
        return out

    def table(self, slot: int) -> "_Table | None":
        at = self._ref(slot)
        return None if at is None else _Table(self.buf, at)


def _root(buf: bytes, identifier: bytes) -> _Table:
    if len(buf) < 8 or buf[4:8] != identifier:
        raise ValueError(f"no {identifier.decode()} identifier")
    return _Table(buf, struct.unpack_from("<I", buf, 0)[0])


def model_metadata_buffer(content: bytes, name: str = METADATA_NAME) -> bytes | None:
    """The metadata buffer ``name`` (default ``TFLITE_METADATA``) of a ``.tflite``; None when it has none.

    Raises:
        ValueError: ``content`` is not a TFLite flatbuffer.
    """
    model = _root(content, b"TFL3")
    buffers = model.tables(4)  # Model.buffers
    for entry in model.tables(6):  # Model.metadata: name 0, buffer 1
        if entry.string(0) == name:
            index = entry.scalar(1, "I")
            if index >= len(buffers):
                raise ValueError(f"metadata buffer {index} out of range")
            buf = buffers[index]
            data = buf.bytes_(0)  # Buffer.data; large models keep it at offset 1 / size 2
            if not data and buf.scalar(1, "Q"):
                start, size = buf.scalar(1, "Q"), buf.scalar(2, "Q")
                data = bytes(content[start:start + size])
            return data
    return None


def read_classifier_metadata(content: bytes, source: str = "model") -> ClassifierInfo:
    """The tokenizer and labels a text classifier's metadata names, with their files.

    Raises:
        StageInputError: not a TFLite file, no metadata, or metadata without a RegexTokenizer
            input or a label file (one line naming ``source``).
    """
    try:
        raw = model_metadata_buffer(content)
    except (ValueError, struct.error, IndexError) as e:
        raise StageInputError(f"{source}: not a valid .tflite file ({e})") from None
    if raw is None:
        raise StageInputError(f"{source}: the .tflite has no TFLite metadata (export it with `kdedge export`, "
                              "whose student files carry their tokenizer and labels)")
    try:
        meta = _root(raw, b"M001")
        subgraphs = meta.tables(3)
        if not subgraphs:
            raise ValueError("no subgraph metadata")
        sub = subgraphs[0]
        inputs, outputs = sub.tables(2), sub.tables(3)
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{len(inputs)} input and {len(outputs)} output tensor metadata; a regex text "
                             "classifier has one of each")
        delim = vocab_name = None
        for unit in inputs[0].tables(4) or sub.tables(5):
            if unit.scalar(0, "B") == REGEX_TOKENIZER:
                options = unit.table(1)
                delim = options.string(0)
                files = options.tables(1)
                vocab_name = files[0].string(0) if files else None
        if delim is None or vocab_name is None:
            raise ValueError("the input has no RegexTokenizer with a vocabulary file")
        label_name = next((f.string(0) for f in outputs[0].tables(6) if f.scalar(2, "b") == AXIS_LABELS), None)
        if label_name is None:
            raise ValueError("the output has no label file (TENSOR_AXIS_LABELS)")
        output = outputs[0].string(0) or "probabilities"
        info = dict(name=meta.string(0), description=meta.string(1), version=meta.string(2),
                    author=meta.string(4), license=meta.string(5), min_parser_version=meta.string(7))
    except (ValueError, struct.error, IndexError, UnicodeDecodeError) as e:
        raise StageInputError(f"{source}: unreadable text-classifier metadata ({e})") from None
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            vocab, labels = z.read(vocab_name), z.read(label_name).decode("utf-8")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as e:
        raise StageInputError(f"{source}: the metadata's associated files are missing or damaged ({e})") from None
    return ClassifierInfo(delim_regex=delim, vocab=vocab, labels=[line for line in labels.split("\n") if line],
                          output="logits" if output == "logits" else "probabilities", **info)


def _trailing_pad(content: bytes, max_len: int) -> int | None:
    """The trailing padding ``kdedge export`` recorded that the file may skip (``kdedge_trailing_pad``,
    :mod:`converters.trailing_pad`); None when absent or not a number in ``[1, max_len)``."""
    from converters.trailing_pad import PAD_ENTRY

    raw = model_metadata_buffer(content, PAD_ENTRY)
    try:
        k = int(raw.decode("ascii")) if raw else None
    except (UnicodeDecodeError, ValueError):
        return None
    return k if k is not None and 0 < k < max_len else None


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class TextClassifier:
    """A self-describing text-classifier ``.tflite`` (one written by ``kdedge export``), run with LiteRT.

    Args:
        model: the ``.tflite`` file.
        num_threads: interpreter threads.
        check: run a file this machine has not seen in a child process first
            (:func:`kdedge.untrusted.check_model`), so a file that crashes LiteRT is refused instead of
            killing this process; ``KDEDGE_TRUST_MODELS=1`` skips it.

    Raises:
        StageInputError: the file is missing, corrupt, crashes LiteRT, has no metadata, or its input is not
            int32 ids.
    """

    def __init__(self, model: str | Path, num_threads: int = 1, check: bool = True):
        from kdedge.runtime import TFLiteModel
        from kdedge.text.tokenizer import RegexTokenizer

        path = Path(model)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise StageInputError(f"{path}: file not found") from None
        except IsADirectoryError:
            raise StageInputError(f"{path}: is a folder, expected a .tflite file") from None
        self.path = path
        self.info = read_classifier_metadata(content, str(path))
        if check:
            from kdedge.untrusted import check_model
            check_model(path, content)
        self.model = TFLiteModel(content=content, num_threads=num_threads, name=str(path))
        details = self.model.interpreter.get_input_details()
        if len(details) != 1 or details[0]["dtype"] != np.int32 or len(details[0]["shape"]) != 2:
            got = ", ".join(f"{d['dtype'].__name__}{list(d['shape'])}" for d in details)
            raise StageInputError(f"{path}: the model's input is {got}, not one int32 [1, L] tensor of token ids")
        out = self.model.interpreter.get_output_details()
        if len(out) != 1 or int(out[0]["shape"][-1]) != len(self.info.labels):
            raise StageInputError(f"{path}: the model has {int(out[0]['shape'][-1])} outputs but the label file "
                                  f"{len(self.info.labels)} labels")
        self.max_len = int(details[0]["shape"][1])
        self._row = np.zeros((1, self.max_len), dtype=np.int32)
        self._content, self._num_threads = content, num_threads
        self._output, self._output_q = out[0]["index"], out[0].get("quantization", (0.0, 0))
        self.trailing_pad = _trailing_pad(content, self.max_len)
        self._short: dict[int, tuple[object, int, np.ndarray]] = {}  # length -> (interpreter, input, row)
        self._input = details[0]["index"]
        self._batches: int | bool | None = None  # the batch the interpreter holds; False: it cannot batch
        self._can_batch: bool | None = None
        try:
            self.tokenizer = RegexTokenizer.from_vocab_file(self.info.vocab, self.max_len, self.info.delim_regex)
        except ValueError as e:
            raise StageInputError(f"{path}: bad vocabulary file in the metadata ({e})") from None
        self.labels = list(self.info.labels)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """``[len(texts), K]`` probabilities (the model's output, or the softmax of its logits).

        Texts go through the model in batches of :attr:`batch_size` when the file accepts a batch
        dimension (cnn, wordavg, transformer); one at a time when it does not (a bilstm exported with ``--lstm fused``).
        """
        texts = texts if isinstance(texts, list) else list(texts)
        if len(texts) == 1 and self._batches in (1, False):
            return self._one(texts[0])
        return self.probabilities_of_ids(self.tokenizer.encode(texts))

    def _one(self, text: str) -> np.ndarray:
        """``[1, K]`` probabilities of one text once the interpreter holds one row: the per-request path of
        a server or an app, without the batch bookkeeping (same numbers as :meth:`probabilities_of_ids`)."""
        ids = self.tokenizer.ids(text)
        if self.trailing_pad is not None and len(ids) + self.trailing_pad < self.max_len:
            interp, index, row = self._shorter(len(ids) + self.trailing_pad)
        else:
            interp, index, row = self.model.interpreter, self._input, self._row
        row.fill(self.tokenizer.pad_id)  # reused: set_tensor copies it into the interpreter
        row[0, :len(ids)] = ids
        interp.set_tensor(index, row)
        interp.invoke()
        out = interp.get_tensor(self._output)  # a copy (get_tensor copies)
        if self._output_q[0]:  # an integer output: dequantize
            out = (out.astype(np.float32) - self._output_q[1]) * self._output_q[0]
        return (softmax(out) if self.info.output == "logits" else out).astype(np.float32, copy=False)

    SHORT_STEP = 8  # short inputs are run at a multiple of this many ids: at most max_len / 8 interpreters

    def _shorter(self, length: int):
        """An interpreter of this file resized to ``length`` ids rounded up to :attr:`SHORT_STEP` (made once).

        Only for a file whose metadata says how much trailing padding it may skip (a cnn written by
        ``kdedge export``): its outputs at ``n + trailing_pad`` ids or more equal those at ``max_len``
        (checked at export)."""
        length = min(self.max_len, -(-length // self.SHORT_STEP) * self.SHORT_STEP)
        if length == self.max_len:
            return self.model.interpreter, self._input, self._row
        if length not in self._short:
            from kdedge.runtime import TFLiteModel
            model = TFLiteModel(content=self._content, num_threads=self._num_threads, name=str(self.path))
            interp = model.interpreter
            try:
                interp.resize_tensor_input(self._input, [1, length], strict=False)
                interp.allocate_tensors()
            except (RuntimeError, ValueError):  # the entry promised what the graph cannot do: full length
                self.trailing_pad = None
                return self.model.interpreter, self._input, self._row
            self._short[length] = (interp, self._input, np.zeros((1, length), dtype=np.int32))
        return self._short[length]

    def probabilities_of_ids(self, ids: np.ndarray) -> np.ndarray:
        """``[n, K]`` probabilities of token ids ``[n, max_len]`` (what :attr:`tokenizer` makes of texts, or
        an edited copy: the explainers mask words this way)."""
        ids = np.asarray(ids, dtype=np.int32)
        if not len(ids):
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        out = np.concatenate([self._run(ids[i:i + self.batch_size]) for i in range(0, len(ids), self.batch_size)])
        return (softmax(out) if self.info.output == "logits" else out).astype(np.float32)

    batch_size = 64

    @property
    def batchable(self) -> bool:
        """Whether the file runs a batch of texts in one call (every arch but a bilstm exported with ``--lstm fused``).

        Tried once, on two empty texts, the first time it is asked (or the first time a batch runs)."""
        if self._can_batch is None:
            self._run(np.zeros((2, self.max_len), dtype=np.int32))
        return bool(self._can_batch)

    def _run(self, ids: np.ndarray) -> np.ndarray:
        interp = self.model.interpreter
        if len(ids) > 1 and self._batches is not False:
            try:
                # Batches are padded to a power of two (padding rows are all <PAD>), so a stream of
                # varying batch sizes (a server's micro-batches) resizes the interpreter a few times,
                # not at every call. Rows are independent: the padding changes no output.
                n = len(ids)
                size = min(1 << (n - 1).bit_length(), max(self.batch_size, n))
                if self._batches != size:
                    interp.resize_tensor_input(self._input, [size, self.max_len], strict=True)
                    interp.allocate_tensors()
                    self._batches = size
                batch = ids if size == n else np.concatenate([ids, np.zeros((size - n, self.max_len), ids.dtype)])
                interp.set_tensor(self._input, batch)
                interp.invoke()
                self._can_batch = True
                return self.model.output_value()[:n].copy()
            except (RuntimeError, ValueError):
                self._batches = False  # this file runs one example at a time
                self._can_batch = False
                interp.resize_tensor_input(self._input, [1, self.max_len], strict=True)
                interp.allocate_tensors()
        if self._batches not in (None, False, 1):
            interp.resize_tensor_input(self._input, [1, self.max_len], strict=True)
            interp.allocate_tensors()
        if self._batches is not False:
            self._batches = 1
        rows = []
        for row in ids:
            interp.set_tensor(self._input, row[None, :])
            interp.invoke()
            rows.append(self.model.output_value().copy())
        return np.concatenate(rows)

    def classify(self, texts: list[str] | str, top_k: int | None = None) -> list[list[Category]]:
        """Per text, its labels by descending score (the first ``top_k`` of them)."""
        if isinstance(texts, str):
            texts = [texts]
        probs = self.probabilities(texts)
        k = len(self.labels) if top_k is None else max(1, min(top_k, len(self.labels)))
        out = []
        for row in probs:
            order = np.argsort(-row, kind="stable")[:k]
            out.append([Category(self.labels[i], float(row[i]), int(i)) for i in order])
        return out
