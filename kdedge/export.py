"""Export stage: the distilled student (in every quantization mode) and the teacher to TFLite.

Output folder (``kdedge export --out DIR``)::

    DIR/student_float32.tflite   \
    DIR/student_dynamic.tflite    | int32 ids [1, max_len] -> float32 logits [1, 2]
    DIR/student_float16.tflite    |
    DIR/student_int8.tflite      /  full-integer, calibrated on real train sequences
    DIR/baseline_float32.tflite  the labels-only twin (when the distill folder has one)
    DIR/teacher_float32.tflite   input_ids, attention_mask [1, max_len] -> logits
    DIR/tokenizer.json           the student's tokenizer contract
    DIR/teacher_tokenizer/       the teacher's WordPiece files
    DIR/manifest.json            every model: file, kind, inputs, sha256, size
    DIR/config.json              the resolved ExportConfig (written last)

The folder is self-contained: an app needs only a ``.tflite`` and its tokenizer.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np
from kdedge.progress import progress

from kdedge.errors import ConfigError
from kdedge.io import read_json, require_files, sha256_file, write_bytes, write_json

from converters import QUANT_MODES


@dataclasses.dataclass
class ExportConfig:
    """Settings of the export stage; each field is a ``kdedge export`` flag."""

    modes: tuple[str, ...] = QUANT_MODES  # --modes: comma-separated subset of float32,dynamic,float16,int8
    calibration_examples: int = 300  # --calibration-examples: int8 representative train sequences
    teacher: bool = True  # --teacher/--no-teacher: also export the teacher (the benchmark's reference)
    check_examples: int = 512  # --check-examples: eval examples on which each .tflite is compared with Keras
    seed: int = 0  # --seed

    def validate(self) -> None:
        bad = [m for m in self.modes if m not in QUANT_MODES]
        if bad or not self.modes:
            raise ConfigError(f"--modes must be a non-empty subset of {','.join(QUANT_MODES)}, "
                              f"got {','.join(self.modes)}")
        if self.calibration_examples < 1:
            raise ConfigError(f"--calibration-examples must be >= 1, got {self.calibration_examples}")
        if self.check_examples < 1:
            raise ConfigError(f"--check-examples must be >= 1, got {self.check_examples}")


def tflite_logits(content_or_path, feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Run a ``.tflite`` on each feed (one example each); stack the logits."""
    from kdedge.runtime import TFLiteModel

    if isinstance(content_or_path, (bytes, bytearray)):
        model = TFLiteModel(content=bytes(content_or_path))
    else:
        model = TFLiteModel(content_or_path)
    return np.concatenate([model(f) for f in feeds], axis=0)


def run_export(distill_dir: str | Path, teacher_dir: str | Path | None, data_dir: str | Path,
               out: str | Path, cfg: ExportConfig) -> dict:
    """Export stage: write the student's TFLite variants (and the teacher's) to ``out``.

    Each student variant is checked against the Keras student on
    ``cfg.check_examples`` eval examples (label agreement and max |logit| error,
    recorded in the manifest). Returns the manifest.
    """
    from converters import hf_bert_to_tflite, keras_to_tflite
    from kdedge.data import Split
    from kdedge.distill import predict
    from kdedge.student import load_student
    from kdedge.tokenizer import WordTokenizer

    cfg.validate()
    distill_dir = require_files(distill_dir, ["config.json", "student.keras", "tokenizer.json"], "kdedge distill")
    data_dir = require_files(data_dir, ["train.jsonl", "eval.jsonl"], "kdedge data")
    if cfg.teacher:
        teacher_dir = require_files(teacher_dir, ["config.json", "model/config.json"], "kdedge teacher")
    out = Path(out)

    tokenizer = WordTokenizer.load(distill_dir / "tokenizer.json")
    model = load_student(distill_dir / "student.keras")
    train = Split.from_jsonl(data_dir / "train.jsonl", "train")
    evals = Split.from_jsonl(data_dir / "eval.jsonl", "eval")
    rng = np.random.default_rng(cfg.seed)
    calib = tokenizer.encode([train.texts[i] for i in rng.permutation(len(train))[:cfg.calibration_examples]])
    check_ids = tokenizer.encode(evals.texts[:cfg.check_examples])
    keras_logits = predict(model, check_ids)

    def representative():
        for row in calib:
            yield [row[None, :]]

    manifest = {"max_len": tokenizer.max_len, "models": []}
    for mode in progress(cfg.modes, desc="export student", unit="model"):
        t0 = time.perf_counter()
        content = keras_to_tflite(model, mode, representative if mode == "int8" else None)
        seconds = time.perf_counter() - t0
        lite = tflite_logits(content, [{"input_ids": r[None, :]} for r in check_ids])
        name = f"student_{mode}.tflite"
        write_bytes(out / name, content)
        manifest["models"].append({
            "name": f"student_{mode}", "file": name, "kind": "student", "quantization": mode,
            "inputs": ["input_ids"], "tokenizer": "tokenizer.json", "bytes": len(content),
            "sha256": sha256_file(out / name), "convert_seconds": round(seconds, 2),
            "check": {"examples": len(check_ids),
                      "label_agreement_with_keras": float((lite.argmax(1) == keras_logits.argmax(1)).mean()),
                      "max_abs_logit_error": float(np.abs(lite - keras_logits).max())}})
    tokenizer.save(out / "tokenizer.json")

    if (distill_dir / "baseline.keras").exists():
        # The labels-only twin, float32: the reference row that shows what distillation bought.
        content = keras_to_tflite(load_student(distill_dir / "baseline.keras"), "float32")
        write_bytes(out / "baseline_float32.tflite", content)
        manifest["models"].append({
            "name": "baseline_float32", "file": "baseline_float32.tflite", "kind": "baseline",
            "quantization": "float32", "inputs": ["input_ids"], "tokenizer": "tokenizer.json",
            "bytes": len(content), "sha256": sha256_file(out / "baseline_float32.tflite")})

    if cfg.teacher:
        from kdedge.teacher import load_teacher
        teacher_cfg = read_json(teacher_dir / "config.json")
        max_len = teacher_cfg["max_len"]
        teacher, teacher_tok = load_teacher(teacher_dir / "model")
        t0 = time.perf_counter()
        content = hf_bert_to_tflite(teacher, max_len)
        seconds = time.perf_counter() - t0
        write_bytes(out / "teacher_float32.tflite", content)
        tok_dir = out / "teacher_tokenizer"
        if tok_dir.exists():
            shutil.rmtree(tok_dir)
        teacher_tok.save_pretrained(str(tok_dir))
        manifest["models"].append({
            "name": "teacher_float32", "file": "teacher_float32.tflite", "kind": "teacher",
            "quantization": "float32", "inputs": ["input_ids", "attention_mask"], "max_len": max_len,
            "truncation": teacher_cfg.get("truncation", "head"),
            "tokenizer": "teacher_tokenizer", "bytes": len(content),
            "sha256": sha256_file(out / "teacher_float32.tflite"), "convert_seconds": round(seconds, 2)})

    write_json(out / "manifest.json", manifest)
    write_json(out / "config.json", {**dataclasses.asdict(cfg), "distill": str(distill_dir),
                                     "teacher_dir": str(teacher_dir) if cfg.teacher else None,
                                     "data": str(data_dir)})
    return manifest
