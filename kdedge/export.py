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
    DIR/variant_<name>.tflite    each `kdedge compress` variant (with --compress), int32 ids -> logits
    DIR/tokenizers/<name>.json   ... and its tokenizer (vocabulary pruned or hashed)
    DIR/student_int8_mixed.tflite  int8 with the --keep-float N most sensitive layers left float
    DIR/sensitivity.{json,md}    per-layer int8 error (--sensitivity or --keep-float)
    DIR/manifest.json            every model: file, kind, inputs, sha256, size; the retention gate's
                                 record (accuracy, retention and label-flip rate of every student)
    DIR/config.json              the resolved ExportConfig (written last)

The folder is self-contained: an app needs only a ``.tflite`` and its tokenizer.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

import numpy as np
from kdedge.progress import progress

from kdedge.errors import ConfigError, KdedgeError
from kdedge.io import read_json, require_files, sha256_file, write_bytes, write_json, write_text

from converters import QUANT_MODES


@dataclasses.dataclass
class ExportConfig:
    """Settings of the export stage; each field is a ``kdedge export`` flag."""

    modes: tuple[str, ...] = QUANT_MODES  # --modes: comma-separated subset of float32,dynamic,float16,int8
    calibration_examples: int = 300  # --calibration-examples: int8 representative train sequences
    teacher: bool = True  # --teacher/--no-teacher: also export the teacher (the benchmark's reference)
    check_examples: int = 512  # --check-examples: eval examples on which each .tflite is compared with Keras
    # --min-retention: refuse to write anything when a student .tflite (mode or compressed variant) scores
    # below this fraction of the float student's eval accuracy (e.g. 0.99); None: no gate
    min_retention: float | None = None
    sensitivity: bool = False  # --sensitivity: per-layer int8 error of the student (sensitivity.{json,md})
    keep_float: int = 0  # --keep-float N: also write student_int8_mixed.tflite, its N worst layers left float
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
        if self.keep_float < 0:
            raise ConfigError(f"--keep-float must be >= 0, got {self.keep_float}")
        if self.min_retention is not None and not 0 < self.min_retention <= 1:
            raise ConfigError(f"--min-retention must be in (0, 1], got {self.min_retention}")


def tflite_logits(content_or_path, feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Run a ``.tflite`` on each feed (one example each); stack the logits."""
    from kdedge.runtime import TFLiteModel

    if isinstance(content_or_path, (bytes, bytearray)):
        model = TFLiteModel(content=bytes(content_or_path))
    else:
        model = TFLiteModel(content_or_path)
    return np.concatenate([model(f) for f in feeds], axis=0)


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
    if compress_dir is not None:
        compress_dir = require_files(compress_dir, ["manifest.json", "config.json"], "kdedge compress")
    final = Path(out)
    # Built in a staging folder next to --out, moved into place only when complete (and past the gate).
    out = final.parent / f".{final.name}.partial"
    if out.exists():
        shutil.rmtree(out)

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

    if cfg.sensitivity or cfg.keep_float:
        from converters.sensitivity import layer_sensitivity, mixed_precision_tflite
        layers = layer_sensitivity(model, representative)
        write_json(out / "sensitivity.json", layers)
        write_text(out / "sensitivity.md", render_sensitivity(layers))
        if cfg.keep_float:
            nodes = [layer["tensor"] for layer in layers[:cfg.keep_float]]
            content = mixed_precision_tflite(model, representative, nodes)
            lite = tflite_logits(content, [{"input_ids": r[None, :]} for r in check_ids])
            write_bytes(out / "student_int8_mixed.tflite", content)
            manifest["models"].append({
                "name": "student_int8_mixed", "file": "student_int8_mixed.tflite", "kind": "student",
                "quantization": "int8-mixed", "float_nodes": nodes, "inputs": ["input_ids"],
                "tokenizer": "tokenizer.json", "bytes": len(content),
                "sha256": sha256_file(out / "student_int8_mixed.tflite"),
                "check": {"examples": len(check_ids),
                          "label_agreement_with_keras": float((lite.argmax(1) == keras_logits.argmax(1)).mean()),
                          "max_abs_logit_error": float(np.abs(lite - keras_logits).max())}})

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

    if compress_dir is not None:
        manifest["models"] += export_variants(compress_dir, out, train.texts, cfg)

    try:
        manifest["gate"] = retention_gate(out, manifest, evals, model, tokenizer, cfg.min_retention)
    except RetentionError:
        shutil.rmtree(out, ignore_errors=True)
        raise
    write_json(out / "manifest.json", manifest)
    write_json(out / "config.json", {**dataclasses.asdict(cfg), "distill": str(distill_dir),
                                     "teacher_dir": str(teacher_dir) if cfg.teacher else None,
                                     "data": str(data_dir), "compress": str(compress_dir) if compress_dir else None})
    if final.exists():
        shutil.rmtree(final)
    os.replace(out, final)
    return manifest


def render_sensitivity(layers: list[dict]) -> str:
    """The per-layer quantization error table (worst first)."""
    lines = ["# int8 sensitivity per layer", "",
             "Each op's own error: its dequantized int8 output against the float op fed the same inputs, over the "
             "calibration rows (TFLite's quantization debugger). rel. MSE = MSE / mean square of the float output; "
             "`kdedge export --keep-float N` leaves the N worst in float.", "",
             "| # | op | output tensor | MSE | rel. MSE | cosine |", "|---:|---|---|---:|---:|---:|"]
    lines += [f"| {i} | {r['op']} | `{r['tensor']}` | {r['mse']:.3g} | {r['rel_mse']:.3g} | {r['cosine']:.5f} |"
              for i, r in enumerate(layers, 1)]
    return "\n".join(lines) + "\n"


class RetentionError(KdedgeError):
    """A student ``.tflite`` fell below ``--min-retention`` of the float student's accuracy."""


def export_variants(compress_dir: Path, out: Path, train_texts: list[str], cfg: ExportConfig) -> list[dict]:
    """Convert every variant of a ``kdedge compress`` folder; write ``variant_<name>.tflite`` + tokenizer."""
    from converters import keras_to_tflite
    from converters.qat import load_qat, qat_to_tflite
    from kdedge.embedding import load_tokenizer
    from kdedge.student import load_student

    entries = []
    rng = np.random.default_rng(cfg.seed)
    calib_texts = [train_texts[i] for i in rng.permutation(len(train_texts))[:cfg.calibration_examples]]
    for v in progress(read_json(compress_dir / "manifest.json")["variants"], desc="export variants", unit="model"):
        folder = compress_dir / v["name"]
        tok = load_tokenizer(folder / "tokenizer.json")
        calib = tok.encode(calib_texts)

        def representative(calib=calib):
            for row in calib:
                yield [row[None, :]]
        model = load_student(folder / "student.keras")
        t0 = time.perf_counter()
        if v["method"] == "qat":
            if v.get("qat_kind"):  # pruning- / cluster-preserving QAT: its quantizers hold the mask / assignment
                from converters.sparsity import preserve_qat
                qat = preserve_qat(model, v["qat_kind"])
                qat.load_weights(str(folder / "qat.weights.h5"))
            else:
                qat = load_qat(model, folder / "qat.weights.h5")
            content = qat_to_tflite(qat, representative)
        else:
            mode = "int8" if v["method"] == "ptq" else v["method"]
            content = keras_to_tflite(model, mode, representative if mode == "int8" else None)
        name = f"variant_{v['name']}"
        write_bytes(out / f"{name}.tflite", content)
        write_bytes(out / "tokenizers" / f"{v['name']}.json", (folder / "tokenizer.json").read_bytes())
        entries.append({"name": name, "file": f"{name}.tflite", "kind": "student", "quantization": v["quantization"],
                        "variant": v["spec"], "method": v["method"], "inputs": ["input_ids"],
                        "tokenizer": f"tokenizers/{v['name']}.json", "bytes": len(content),
                        "sha256": sha256_file(out / f"{name}.tflite"),
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
    from kdedge.distill import predict
    from kdedge.latency import model_feeds

    labeled = evals.labels >= 0
    texts = [t for t, keep in zip(evals.texts, labeled) if keep]
    gold = evals.labels[labeled]
    students = [e for e in manifest["models"] if e["kind"] == "student"]
    preds = {e["name"]: tflite_logits(out / e["file"], model_feeds(out, e, texts, manifest["max_len"])).argmax(1)
             for e in progress(students, desc="retention gate", unit="model", leave=False)}
    if "student_float32" in preds:
        reference, ref_pred = "student_float32.tflite", preds["student_float32"]
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
