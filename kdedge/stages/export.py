"""Export stage: the distilled student (in every quantization mode) and the teacher to TFLite.

Output folder (``kdedge export --out DIR``)::

    DIR/student_float32.tflite   \\
    DIR/student_dynamic.tflite    | int32 ids [1, max_len] -> float32 logits [1, 2]
    DIR/student_float16.tflite    |
    DIR/student_int8.tflite      /  full-integer, calibrated on real train sequences
    DIR/baseline_float32.tflite  the labels-only twin (when the distill folder has one)
    DIR/teacher_float32.tflite   input_ids, attention_mask [1, max_len] -> logits
    DIR/tokenizer.json           the student's tokenizer contract
    DIR/teacher_tokenizer/       the teacher's WordPiece files
    DIR/variant_<name>.tflite    each `kdedge compress` variant (with --compress), int32 ids -> logits
    DIR/tokenizers/<name>.json   ... and its tokenizer (vocabulary pruned or hashed)
    DIR/student_int8_mixed.tflite  int8 with the --keep-float N most sensitive layers left float
    DIR/sensitivity.{json,md}    per-layer int8 error (--sensitivity or --keep-float)
    DIR/manifest.json            every model: file, kind, inputs, sha256, size; the retention gate's
                                 record (accuracy, retention and label-flip rate of every student)
    DIR/config.json              the resolved ExportConfig (written last)

The folder is self-contained: an app needs only a ``.tflite`` and its tokenizer.
The conversions are ``converters``' (bytes in memory); this stage writes the
files atomically, checks each against Keras, and applies the retention gate.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np

from converters import QUANT_MODES
from kdedge import layout
from kdedge.errors import ConfigError, RetentionError
from kdedge.io import partial_path, read_json, replace_dir, sha256_file, write_bytes, write_json, write_text
from kdedge.options import comma_list, setting
from kdedge.progress import progress


OUTPUTS = ("probabilities", "logits")
STUDENT_MODES = (*QUANT_MODES, "int4")  # int4: converters.int4 (opt-in: not in the default --modes)
METADATA_MODES = ("auto", "on", "off")
LSTM_GRAPHS = ("unrolled", "fused")
# MediaPipe (and the Task Library) refuse the fused LSTM's state tensors, which the graph computes from the
# input: "Output tensor ... to op ... (CAST) is a variable".
NO_METADATA_BILSTM = ("with --lstm fused the bilstm's LSTM state tensors are computed from the input, which MediaPipe "
                      "Tasks and the TFLite Task Library refuse to load ('Output tensor ... (CAST) is a variable'); "
                      "export with --lstm unrolled")


@dataclasses.dataclass
class ExportConfig:
    """Settings of the export stage; each field is a ``kdedge export`` flag."""

    modes: tuple[str, ...] = setting(QUANT_MODES, "Comma-separated quantization modes: float32,dynamic,float16,int8, "
                                     "and int4 (int4 table, conv and dense weights; needs kdedge[int4]).")
    calibration_examples: int = setting(300, "int8 calibration sequences from the train split.")
    # Also export the teacher: the benchmark's reference row (the CLI's --no-teacher turns it off).
    teacher: bool = setting(True, "Export the teacher too.", cli=False)
    # float32 is the reference every student is compared with; the others show what quantizing the
    # teacher itself would give (what a user might ship instead of distilling).
    teacher_modes: tuple[str, ...] = setting(("float32",), "Comma-separated teacher files: float32 (always, the "
                                             "reference row), dynamic (int8 weights), int8 (full integer, "
                                             "calibrated on --calibration-examples train texts).")
    # Off by default: per-channel dense scales are TF's default and the most accurate; the cost is a
    # FULLY_CONNECTED version that runtimes before LiteRT 2.17 refuse (benchmarks/results/runtimes.md).
    dense_per_channel: bool = setting(True, "dynamic mode: one weight scale per output channel of each dense layer "
                                      "(TF's default; the file needs LiteRT >= 2.17). --no-dense-per-channel "
                                      "writes one scale per tensor: a file older runtimes load (tflite-runtime "
                                      "2.14 measured; apps pinned to tensorflow-lite 2.16.1).")
    # On: a cnn file runs at any length <= its own; kdedge's TextClassifier cuts a short text's trailing
    # padding (same outputs, checked on the check examples; end-to-end latency in benchmarks/results/sst2).
    skip_padding: bool = setting(True, "cnn students: let the file run at any length up to max_len (the convolutions' "
                                 "squeeze RESHAPEs dropped, max over time taken on the 4-D output) and record "
                                 "how much trailing padding can be cut without changing an output; checked on "
                                 "the check examples. MediaPipe and LiteRT still see the same [1, L] input. "
                                 "--no-skip-padding keeps the converter's graph.")
    check_examples: int = setting(512, "Eval examples compared between each .tflite and Keras.")
    # None: no gate. E.g. 0.99 refuses a variant that loses a point out of a hundred.
    min_retention: float | None = setting(
        None, "Write nothing (exit 2) if a student .tflite keeps less than this fraction of the float student's "
        "eval accuracy.", type=float)
    sensitivity: bool = setting(False, "Write the per-layer int8 error of the student (sensitivity.md).")
    keep_float: int = setting(0, "Also write student_int8_mixed.tflite with the N most sensitive layers left float.")
    # probabilities: what MediaPipe's TextClassifier shows as scores (it applies no softmax itself).
    output: str = setting("probabilities", "What a student .tflite outputs: probabilities (a Softmax at the end) "
                          "or logits.", choices=OUTPUTS)
    metadata: str = setting("auto", "TFLite metadata (tokenizer, labels) in every student .tflite, so MediaPipe "
                            "Tasks runs it unchanged: auto = when the student can carry it (format-3 tokenizer, "
                            "not a --lstm fused bilstm), on = refuse a student that cannot, off = none.",
                            choices=METADATA_MODES)
    # unrolled: MediaPipe loads it and its int8 runs on plain integer kernels (benchmarks/results/sst2/bilstm_graph.md).
    lstm: str = setting("unrolled", "bilstm students: unrolled = one set of plain ops per time step (MediaPipe "
                        "loads it; any batch size; fast int8), fused = TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM op "
                        "(batch 1; MediaPipe refuses it, so no metadata; slow int8). Same weights, same outputs.",
                        choices=LSTM_GRAPHS)
    author: str = setting("kdedge", "Metadata: the model's author.")
    license: str | None = setting(None, "Metadata: the model's license (e.g. Apache-2.0).", type=str)
    seed: int = setting(0, "Random seed.", cli=False)  # the shared --seed

    def __post_init__(self):
        self.modes = tuple(comma_list(self.modes))
        self.teacher_modes = tuple(comma_list(self.teacher_modes))

    def validate(self) -> None:
        bad = [m for m in self.modes if m not in STUDENT_MODES]
        if bad or not self.modes:
            raise ConfigError(f"--modes must be a non-empty subset of {','.join(STUDENT_MODES)}, "
                              f"got {','.join(self.modes)}")
        if "int4" in self.modes:
            try:
                import ai_edge_quantizer  # noqa: F401
            except ImportError:
                raise ConfigError("--modes int4 needs ai-edge-quantizer: pip install \"kdedge[int4]\"") from None
        from converters import TEACHER_MODES
        bad = [m for m in self.teacher_modes if m not in TEACHER_MODES]
        if bad or "float32" not in self.teacher_modes:
            raise ConfigError(f"--teacher-modes must be a subset of {','.join(TEACHER_MODES)} holding float32, "
                              f"got {','.join(self.teacher_modes)}")
        if self.calibration_examples < 1:
            raise ConfigError(f"--calibration-examples must be >= 1, got {self.calibration_examples}")
        if self.check_examples < 1:
            raise ConfigError(f"--check-examples must be >= 1, got {self.check_examples}")
        if self.keep_float < 0:
            raise ConfigError(f"--keep-float must be >= 0, got {self.keep_float}")
        if self.min_retention is not None and not 0 < self.min_retention <= 1:
            raise ConfigError(f"--min-retention must be in (0, 1], got {self.min_retention}")
        if self.output not in OUTPUTS:
            raise ConfigError(f"--output must be one of {', '.join(OUTPUTS)}, got {self.output!r}")
        if self.metadata not in METADATA_MODES:
            raise ConfigError(f"--metadata must be one of {', '.join(METADATA_MODES)}, got {self.metadata!r}")
        if self.lstm not in LSTM_GRAPHS:
            raise ConfigError(f"--lstm must be one of {', '.join(LSTM_GRAPHS)}, got {self.lstm!r}")


@dataclasses.dataclass
class _Student:
    """The distilled student and what its exports are checked and calibrated with."""

    model: object
    tokenizer: object
    calib: np.ndarray  # int8 calibration rows (train)
    check_ids: np.ndarray  # eval rows each .tflite is compared with Keras on
    keras_logits: np.ndarray  # the Keras outputs on check_ids (probabilities with --output probabilities)
    card: "_Card | None" = None  # what the metadata says, None when the files carry none
    output: str = "logits"  # what the files output: logits, or probabilities (a Softmax at the end)

    def representative(self):
        for row in self.calib:
            yield [row[None, :]]


def run_export(distill_dir: str | Path, teacher_dir: str | Path | None, data_dir: str | Path,
               out: str | Path, cfg: ExportConfig, compress_dir: str | Path | None = None) -> dict:
    """Export stage: write the student's TFLite variants (and the teacher's) to ``out``.

    Each student mode is checked against the Keras student on ``cfg.check_examples``
    eval examples (label agreement and max |logit| error, recorded in the manifest).
    With ``compress_dir`` (a ``kdedge compress`` folder) every compressed variant is
    converted too (``variant_<name>.tflite``, with its own tokenizer). Everything is
    written to a staging folder first; with ``cfg.min_retention`` every student
    ``.tflite`` is run over the eval split, and if one keeps less than that fraction
    of the float student's accuracy the stage raises :class:`RetentionError` and
    ``out`` is left untouched. Returns the manifest.
    """

    cfg.validate()
    distill_dir = layout.require(distill_dir, "distill", layout.CONFIG, layout.STUDENT, layout.TOKENIZER)
    data_dir = layout.require(data_dir, "data", layout.TRAIN, layout.EVAL)
    if cfg.teacher:
        if teacher_dir is not None and layout.is_ensemble(teacher_dir):
            raise ConfigError(f"--teacher-dir {teacher_dir} is an ensemble: it has no single model to export "
                              "(pass one member's folder, or --no-teacher)")
        teacher_dir = layout.require(teacher_dir, "teacher", layout.CONFIG, layout.TEACHER_MODEL_CONFIG)
    if compress_dir is not None:
        compress_dir = layout.require(compress_dir, "compress", layout.MANIFEST, layout.CONFIG)
    final = Path(out)
    # Built in a staging folder next to --out, moved into place only when complete (and past the gate);
    # whatever stops it (a full disk, the gate, Ctrl-C) leaves --out as it was and no staging folder.
    out = partial_path(final)
    if out.exists():
        shutil.rmtree(out)
    try:
        return _export_into(out, final, distill_dir, teacher_dir, data_dir, cfg, compress_dir)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise


def _export_into(out: Path, final: Path, distill_dir: Path, teacher_dir, data_dir: Path, cfg: ExportConfig,
                 compress_dir) -> dict:
    from kdedge.data import Split


    train = Split.from_jsonl(data_dir / layout.TRAIN, "train")
    evals = Split.from_jsonl(data_dir / layout.EVAL, "eval")
    student = _load_student(distill_dir, train, evals, cfg)
    student.card = metadata_card(student.model, student.tokenizer, data_dir, distill_dir, cfg)
    if cfg.output == "probabilities":
        from kdedge.classifier import softmax
        student.model, student.output = with_softmax(student.model), cfg.output
        student.keras_logits = softmax(student.keras_logits).astype(np.float32)
    manifest = {"max_len": student.tokenizer.max_len, "output": cfg.output,
                "metadata": student.card is not None, "models": export_student(student, out, cfg)}
    student.tokenizer.save(out / layout.TOKENIZER)
    if cfg.sensitivity or cfg.keep_float:
        manifest["models"] += export_sensitivity(student, out, cfg.keep_float, cfg.skip_padding)
    if (distill_dir / layout.BASELINE).exists():
        manifest["models"].append(export_baseline(distill_dir / layout.BASELINE, out, student, cfg))
    if cfg.teacher:
        manifest["models"] += export_teacher(teacher_dir, out, cfg.teacher_modes, train.texts, cfg)
    if compress_dir is not None:
        manifest["models"] += export_variants(compress_dir, out, train.texts, cfg, student.card)
    manifest["gate"] = retention_gate(out, manifest, evals, student.model, student.tokenizer, cfg.min_retention)
    write_json(out / layout.MANIFEST, manifest)
    write_json(out / layout.CONFIG, {**dataclasses.asdict(cfg), "distill": str(distill_dir),
                                     "teacher_dir": str(teacher_dir) if cfg.teacher else None,
                                     "data": str(data_dir), "compress": str(compress_dir) if compress_dir else None})
    replace_dir(out, final)  # the previous export stays whole until the new one is in place
    return manifest


def _load_student(distill_dir: Path, train, evals, cfg: ExportConfig) -> _Student:
    from kdedge.models.student import load_student
    from kdedge.text.tokenizer import load_tokenizer
    from kdedge.training.distill import predict

    tokenizer = load_tokenizer(distill_dir / layout.TOKENIZER)
    model = _graph(load_student(distill_dir / layout.STUDENT), cfg)
    calib = tokenizer.encode(calibration_texts(train.texts, cfg.calibration_examples, cfg.seed), masks=True)
    check_ids = tokenizer.encode(evals.texts[:cfg.check_examples])
    return _Student(model, tokenizer, calib, check_ids, predict(model, check_ids))


def calibration_texts(train_texts: list[str], n: int, seed: int) -> list[str]:
    """The int8 calibration texts: the first ``n`` of one seeded permutation of the train texts (so a larger
    ``n`` holds every smaller draw)."""
    return [train_texts[i] for i in np.random.default_rng(seed).permutation(len(train_texts))[:n]]


def _graph(model, cfg: ExportConfig):
    """The model to convert: with ``--lstm unrolled`` a bilstm's unrolled graph (same weights and outputs)."""
    from kdedge.models.student import export_graph, has_fused_lstm, is_merged

    if cfg.lstm == "fused" and is_merged(model) and has_fused_lstm(model):
        raise ConfigError("--lstm fused: a merged bilstm student converts only unrolled (TFLite's converter "
                          "fails on its several fused LSTMs: 'Failed to duplicate values for the stateful op')")
    return export_graph(model) if cfg.lstm == "unrolled" else model


def convert(model, mode: str, representative, cfg: ExportConfig) -> bytes:
    """``converters.keras_to_tflite``; an unrolled LSTM's thousands of tensor names shortened."""
    from converters import keras_to_tflite
    from converters.flatbuffer import compact_tensor_names
    from kdedge.models.student import has_unrolled_lstm

    content = keras_to_tflite(model, mode, representative, dense_per_channel=cfg.dense_per_channel)
    if has_unrolled_lstm(model):
        content = compact_tensor_names(content)
    return content


@dataclasses.dataclass
class _Card:
    """The metadata every student ``.tflite`` of one export carries (all but the tokenizer's vocabulary)."""

    labels: list[str]
    output: str
    arch: str
    dataset: str
    author: str
    license: str | None

    def stamp(self, content: bytes, tokenizer, file: str, quantization: str) -> bytes:
        """``content`` with its metadata: this card plus ``tokenizer``'s RegexTokenizer and vocabulary."""
        import kdedge
        from converters.metadata import LABEL_FILE, VOCAB_FILE, classifier_metadata, with_metadata

        labels = ", ".join(f"{i} = {n}" for i, n in enumerate(self.labels))
        meta = classifier_metadata(
            name=f"kdedge {self.arch} text classifier ({self.dataset})",
            description=(f"{file}: a {self.arch} student "
                         + ("trained on the gold labels only (the distilled student's reference twin)"
                            if file == layout.BASELINE_TFLITE else "distilled by kdedge from a BERT teacher")
                         + f" on {self.dataset}; "
                         f"{quantization} weights; labels {labels}. Input: {tokenizer.max_len} token ids "
                         f"(MediaPipe RegexTokenizer, case variants in the vocabulary)."),
            version=f"kdedge {kdedge.__version__}", author=self.author, license=self.license,
            delim_regex=tokenizer.delim, labels_description="The label names, one per line, in output order.",
            input_description=f"Token ids [1, {tokenizer.max_len}]: the RegexTokenizer's, right-padded with <PAD>.",
            output_description=(f"{'Probabilities' if self.output == 'probabilities' else 'Logits'} of the "
                                f"{len(self.labels)} labels."),
            output_name=self.output)
        return with_metadata(content, meta, {VOCAB_FILE: tokenizer.vocab_file(),
                                             LABEL_FILE: "".join(f"{n}\n" for n in self.labels).encode("utf-8")})


def metadata_card(model, tokenizer, data_dir: Path, distill_dir: Path, cfg: "ExportConfig") -> "_Card | None":
    """The card of this export's students, or None (``--metadata off``, or a student that cannot carry it).

    Raises:
        ConfigError: ``--metadata on`` and the student cannot carry metadata (the reason in one line).
    """
    from kdedge.data.splits import read_label_names
    from kdedge.models.student import has_fused_lstm
    from kdedge.text.tokenizer import FORMAT_REGEX

    if cfg.metadata == "off":
        return None
    reason = None
    if tokenizer.to_dict()["format"] != FORMAT_REGEX:
        reason = (f"its tokenizer is {tokenizer.to_dict()['format']}, which MediaPipe's RegexTokenizer cannot "
                  "express (lower-casing, punctuation tokens); build the student with --tokenizer regex")
    elif has_fused_lstm(model):
        reason = NO_METADATA_BILSTM
    if reason is not None:
        if cfg.metadata == "on":
            raise ConfigError(f"--metadata on: the student cannot carry MediaPipe metadata: {reason}")
        print(f"kdedge export: no metadata in the student files: {reason}", flush=True)
        return None
    stats = read_json(data_dir / layout.STATS) if (data_dir / layout.STATS).is_file() else {}
    labels = read_label_names(data_dir) or ["negative", "positive"]
    arch = _student_arch(distill_dir) or "student"
    return _Card(labels=labels, output=cfg.output, arch=arch, dataset=stats.get("dataset", "custom"),
                 author=cfg.author, license=cfg.license)


def _student_arch(distill_dir: Path) -> str | None:
    """The student stage's ``arch`` (the distill folder records its student folder)."""
    cfg = read_json(distill_dir / layout.CONFIG) if (distill_dir / layout.CONFIG).is_file() else {}
    student = cfg.get("student")
    if student and (Path(student) / layout.CONFIG).is_file():
        return read_json(Path(student) / layout.CONFIG).get("arch")
    return None


def with_softmax(model):
    """``model`` with a Softmax after its logits (standard layers only: no Lambda)."""
    import tensorflow as tf
    probs = tf.keras.layers.Softmax(name="probabilities")(model.outputs[0])
    return tf.keras.Model(model.inputs, probs, name=f"{model.name}_probabilities")


def min_runtime_version(content: bytes) -> str | None:
    """The converter's ``min_runtime_version`` metadata of a ``.tflite`` (None when absent)."""
    from kdedge.classifier import model_metadata_buffer
    raw = model_metadata_buffer(content, "min_runtime_version")
    return raw.split(b"\0")[0].decode() if raw else None


def tflite_logits(content_or_path, feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Run a ``.tflite`` on each feed (one example each); stack the logits."""
    from kdedge.runtime import TFLiteModel

    if isinstance(content_or_path, (bytes, bytearray)):
        model = TFLiteModel(content=bytes(content_or_path))
    else:
        model = TFLiteModel(content_or_path)
    return np.concatenate([model(f) for f in feeds], axis=0)


def _skip_padding(content: bytes, student: _Student, skip: bool) -> tuple[bytes, int | None]:
    """``content`` rewritten to run at any length (a cnn's; checked on the check ids) and the trailing padding
    it may skip; ``content`` and None for every other student, or with ``skip`` off."""
    from converters.trailing_pad import check_trailing_pad, skip_trailing_padding

    rewritten = skip_trailing_padding(content) if skip else None
    if rewritten is None:
        return content, None
    check_trailing_pad(content, rewritten[0], rewritten[1], student.check_ids, student.tokenizer.pad_id)
    return rewritten


def _checked_entry(student: _Student, content: bytes, out: Path, file: str, skip: bool, **fields) -> dict:
    """Write a student ``.tflite``; its manifest entry with the check against the Keras student."""
    content, pad = _skip_padding(content, student, skip)
    if student.card is not None:
        content = student.card.stamp(content, student.tokenizer, file, fields.get("quantization", ""))
    lite = tflite_logits(content, [{"input_ids": r[None, :]} for r in student.check_ids])
    write_bytes(out / file, content)
    return {"name": file.removesuffix(".tflite"), "file": file, "kind": "student", **fields,
            "inputs": ["input_ids"], "tokenizer": layout.TOKENIZER, "bytes": len(content),
            "sha256": sha256_file(out / file), **_file_fields(content, student.card, student.output),
            "trailing_pad": pad,
            "check": {"examples": len(student.check_ids),
                      "label_agreement_with_keras": float((lite.argmax(1) == student.keras_logits.argmax(1)).mean()),
                      "max_abs_logit_error": float(np.abs(lite - student.keras_logits).max())}}


def export_student(student: _Student, out: Path, cfg: ExportConfig) -> list[dict]:
    """``student_<mode>.tflite`` for every mode of ``cfg.modes``."""
    entries = []
    for mode in progress(cfg.modes, desc="export student", unit="model"):
        t0 = time.perf_counter()
        if mode == "int4":
            from converters.int4 import int4_tflite
            content = int4_tflite(convert(student.model, "float32", None, cfg))
        else:
            content = convert(student.model, mode, student.representative if mode == "int8" else None, cfg)
        seconds = round(time.perf_counter() - t0, 2)
        entries.append(_checked_entry(student, content, out, layout.student_tflite(mode), skip=cfg.skip_padding,
                                      quantization=mode, convert_seconds=seconds))
    return entries


def export_sensitivity(student: _Student, out: Path, keep_float: int, skip_padding: bool) -> list[dict]:
    """``sensitivity.{json,md}``; with ``keep_float`` also the mixed-precision file (its entry returned)."""
    from converters.sensitivity import layer_sensitivity, mixed_precision_tflite
    from kdedge.measure.report import render_sensitivity

    layers = layer_sensitivity(student.model, student.representative)
    write_json(out / layout.SENSITIVITY_JSON, layers)
    write_text(out / layout.SENSITIVITY_MD, render_sensitivity(layers))
    if not keep_float:
        return []
    nodes = [layer["tensor"] for layer in layers[:keep_float]]
    content = mixed_precision_tflite(student.model, student.representative, nodes)
    return [_checked_entry(student, content, out, layout.MIXED_TFLITE, skip=skip_padding,
                           quantization="int8-mixed", float_nodes=nodes)]


def export_baseline(path: Path, out: Path, student: _Student, cfg: ExportConfig) -> dict:
    """The labels-only twin, float32: the reference row that shows what distillation bought."""
    from kdedge.models.student import load_student

    model = _graph(load_student(path), cfg)
    model = with_softmax(model) if cfg.output == "probabilities" else model
    content, pad = _skip_padding(convert(model, "float32", None, cfg), student, cfg.skip_padding)
    if student.card is not None:
        content = student.card.stamp(content, student.tokenizer, layout.BASELINE_TFLITE, "float32")
    write_bytes(out / layout.BASELINE_TFLITE, content)
    return {"name": "baseline_float32", "file": layout.BASELINE_TFLITE, "kind": "baseline",
            "quantization": "float32", "inputs": ["input_ids"], "tokenizer": layout.TOKENIZER,
            "bytes": len(content), "sha256": sha256_file(out / layout.BASELINE_TFLITE),
            **_file_fields(content, student.card, cfg.output), "trailing_pad": pad}


def _file_fields(content: bytes, card, output: str) -> dict:
    """Manifest fields of a student file: its output, whether it carries metadata, the runtime it needs."""
    return {"output": output, "metadata": card is not None, "min_runtime_version": min_runtime_version(content)}


def export_teacher(teacher_dir: Path, out: Path, modes=("float32",), train_texts=(),
                   cfg: ExportConfig | None = None) -> list[dict]:
    """The teacher at its own max length, float32 first (the reference row) and each other mode of
    ``modes`` (``dynamic``, ``int8``: calibrated on ``cfg.calibration_examples`` train texts), and its
    WordPiece files."""
    from converters import TEACHER_MODES, hf_bert_to_tflite
    from kdedge.models.teacher import load_teacher, tokenize

    teacher_cfg = read_json(teacher_dir / layout.CONFIG)
    max_len = teacher_cfg["max_len"]
    truncation = teacher_cfg.get("truncation", "head")
    teacher, teacher_tok = load_teacher(teacher_dir / layout.TEACHER_MODEL)
    representative = None
    if "int8" in modes:
        texts = calibration_texts(train_texts, cfg.calibration_examples if cfg else 300, cfg.seed if cfg else 0)
        ids = np.zeros((len(texts), max_len), dtype=np.int32)  # the file's input: [1, max_len], right-padded
        for i, row in enumerate(tokenize(teacher_tok, texts, max_len, truncation)):
            ids[i, :len(row)] = row
        mask = (ids != 0).astype(np.int32)

        def representative():
            for i in range(len(ids)):
                yield [ids[i:i + 1], mask[i:i + 1]]

    entries = []
    for mode in [m for m in TEACHER_MODES if m in modes or m == "float32"]:  # float32 first: the reference
        file = layout.TEACHER_TFLITE if mode == "float32" else f"teacher_{mode}.tflite"
        t0 = time.perf_counter()
        content = hf_bert_to_tflite(teacher, max_len, mode, representative)
        seconds = time.perf_counter() - t0
        write_bytes(out / file, content)
        entries.append({"name": f"teacher_{mode}", "file": file, "kind": "teacher", "quantization": mode,
                        "inputs": ["input_ids", "attention_mask"], "max_len": max_len, "truncation": truncation,
                        "tokenizer": layout.TEACHER_TOKENIZER, "bytes": len(content),
                        "sha256": sha256_file(out / file), "convert_seconds": round(seconds, 2),
                        "min_runtime_version": min_runtime_version(content)})
    tok_dir = out / layout.TEACHER_TOKENIZER
    if tok_dir.exists():
        shutil.rmtree(tok_dir)
    teacher_tok.save_pretrained(str(tok_dir))
    return entries


def export_variants(compress_dir: Path, out: Path, train_texts: list[str], cfg: ExportConfig,
                    card: "_Card | None" = None) -> list[dict]:
    """Convert every variant of a ``kdedge compress`` folder; write ``variant_<name>.tflite`` + tokenizer."""
    from converters.preserve_qat import preserve_qat
    from converters.qat import load_qat, qat_to_tflite
    from kdedge.models.student import load_student
    from kdedge.text.tokenizer import load_tokenizer

    entries = []
    calib_texts = calibration_texts(train_texts, cfg.calibration_examples, cfg.seed)
    for v in progress(read_json(compress_dir / layout.MANIFEST)["variants"], desc="export variants", unit="model"):
        folder = compress_dir / v["name"]
        tokenizer = load_tokenizer(folder / layout.TOKENIZER)
        calib = tokenizer.encode(calib_texts, masks=True)

        def representative(calib=calib):
            for row in calib:
                yield [row[None, :]]
        model = _graph(load_student(folder / layout.STUDENT), cfg)
        t0 = time.perf_counter()
        if v["method"] == "qat":
            if v.get("qat_kind"):  # pruning- / cluster-preserving QAT: its quantizers hold the mask / assignment
                qat = preserve_qat(model, v["qat_kind"])
                qat.load_weights(str(folder / layout.QAT_WEIGHTS))
            else:
                qat = load_qat(model, folder / layout.QAT_WEIGHTS)
            content = qat_to_tflite(with_softmax(qat) if cfg.output == "probabilities" else qat, representative)
        else:
            mode = "int8" if v["method"] == "ptq" else v["method"]
            model = with_softmax(model) if cfg.output == "probabilities" else model
            content = convert(model, mode, representative if mode == "int8" else None, cfg)
        file = layout.variant_tflite(v["name"])
        if card is not None:
            content = card.stamp(content, tokenizer, file, v["quantization"])
        write_bytes(out / file, content)
        write_bytes(out / layout.variant_tokenizer(v["name"]), (folder / layout.TOKENIZER).read_bytes())
        entries.append({"name": file.removesuffix(".tflite"), "file": file, "kind": "student",
                        "quantization": v["quantization"], "variant": v["spec"], "method": v["method"],
                        "inputs": ["input_ids"], "tokenizer": layout.variant_tokenizer(v["name"]),
                        "bytes": len(content), "sha256": sha256_file(out / file),
                        **_file_fields(content, card, cfg.output),
                        "convert_seconds": round(time.perf_counter() - t0, 2)})
    return entries


def retention_gate(out: Path, manifest: dict, evals, float_model, tokenizer, min_retention: float | None) -> dict:
    """Accuracy of every student ``.tflite`` on the labeled eval split against the float student's.

    The reference is ``student_float32.tflite`` when exported, else the Keras student.
    Returns ``{"reference", "reference_accuracy", "min_retention", "models": [{name,
    accuracy, retention, flip_rate}]}`` (``flip_rate``: share of eval examples whose
    label differs from the float student's). Without ``min_retention`` only a record.

    Raises:
        RetentionError: some model's ``retention < min_retention``.
    """
    from kdedge.measure.inputs import model_feeds
    from kdedge.training.distill import predict

    labeled = evals.labels >= 0
    texts = [t for t, keep in zip(evals.texts, labeled) if keep]
    gold = evals.labels[labeled]
    students = [e for e in manifest["models"] if e["kind"] == "student"]
    preds = {e["name"]: tflite_logits(out / e["file"], model_feeds(out, e, texts, manifest["max_len"])).argmax(1)
             for e in progress(students, desc="retention gate", unit="model", leave=False)}
    if "student_float32" in preds:
        reference, ref_pred = layout.student_tflite("float32"), preds["student_float32"]
    else:
        reference, ref_pred = "Keras student", predict(float_model, tokenizer.encode(texts)).argmax(1)
    ref_acc = float((ref_pred == gold).mean())
    rows = [{"name": name, "accuracy": float((p == gold).mean()),
             "retention": float((p == gold).mean()) / ref_acc if ref_acc else None,
             "flip_rate": float((p != ref_pred).mean())} for name, p in preds.items()]
    gate = {"reference": reference, "reference_accuracy": ref_acc, "examples": int(labeled.sum()),
            "min_retention": min_retention, "models": rows}
    if min_retention is not None:
        bad = [r for r in rows if r["retention"] is not None and r["retention"] < min_retention]
        if bad:
            raise RetentionError(
                f"--min-retention {min_retention}: " + "; ".join(
                    f"{r['name']} keeps {r['retention']:.2%} of the float student's {ref_acc:.2%}" for r in bad)
                + " -- nothing written")
    return gate


# The Android app's assets (android_demo/): the student files it ships and the index it reads.
ANDROID_INDEX = "kdedge_models.json"
ANDROID_SCHEMA = "kdedge-android-assets/1"
ANDROID_MODELS = ("student_int8", "student_float32")


def check_android_assets_dir(path: str | Path, flag: str = "--android-assets") -> Path:
    """``--android-assets DIR``: a folder, or a path where one can be made (checked before any export work).

    Raises:
        ConfigError: DIR is a file, or its nearest existing parent is not a writable folder.
    """
    import os

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path}: not a folder")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: {parent} is not a writable folder")
    return path


def write_android_assets(export_dir: str | Path, out: str | Path, labels: list[str],
                         models: tuple[str, ...] | None = None, flag: str = "--android-assets") -> dict:
    """Copy student ``.tflite`` files and their tokenizers into an Android app's assets folder, with an index.

    ``models``: manifest names; None ships those of :data:`ANDROID_MODELS` the export has.
    Writes ``out/<file>.tflite`` (byte for byte), each model's tokenizer JSON (``tokenizer.json``;
    a compress variant's ``tokenizers/<v>.json`` as ``tokenizers_<v>.json``) and, last,
    ``out/kdedge_models.json``: ``schema`` (``kdedge-android-assets/1``), ``labels`` (output order),
    and one row per model with ``name``, ``file``, ``bytes``, ``sha256``, ``quantization``, ``output``
    (probabilities or logits), ``max_len``, ``metadata`` (tokenizer and labels inside the file),
    ``runtime`` (``mediapipe`` for a file with metadata, else ``litert``: the app's raw mode with its Java
    tokenizer), ``tokenizer`` (the copied file) and ``tokenizer_format``. Every file is written
    atomically; other files in ``out`` are left alone. The export folder is not modified.

    Returns:
        The index.

    Raises:
        ConfigError: a bad ``out``, or a name in ``models`` that the export has no student file for.
    """
    out = check_android_assets_dir(out, flag)
    export_dir = layout.require(export_dir, "export", layout.MANIFEST)
    manifest = read_json(export_dir / layout.MANIFEST)
    by_name = {e["name"]: e for e in manifest["models"] if e.get("tokenizer") and e.get("inputs") == ["input_ids"]}
    if models is None:
        models = tuple(m for m in ANDROID_MODELS if m in by_name) or ANDROID_MODELS
    missing = [m for m in models if m not in by_name]
    if missing or not models:
        raise ConfigError(f"{','.join(missing) or 'no model'}: not among the export's student files "
                          f"({','.join(by_name) or 'none'}); choose with kdedge android-assets --models")
    rows = []
    for name in models:
        entry = by_name[name]
        tokenizer = entry["tokenizer"].replace("/", "_")
        write_bytes(out / entry["file"], (export_dir / entry["file"]).read_bytes())
        write_bytes(out / tokenizer, (export_dir / entry["tokenizer"]).read_bytes())
        with_metadata = bool(entry.get("metadata"))
        rows.append({"name": name, "file": entry["file"], "bytes": entry["bytes"], "sha256": entry["sha256"],
                     "quantization": entry["quantization"], "output": entry.get("output", "logits"),
                     "max_len": manifest["max_len"], "metadata": with_metadata,
                     "runtime": "mediapipe" if with_metadata else "litert", "tokenizer": tokenizer,
                     "tokenizer_format": read_json(export_dir / entry["tokenizer"])["format"]})
    index = {"schema": ANDROID_SCHEMA, "labels": list(labels), "models": rows}
    write_json(out / ANDROID_INDEX, index)
    return index
