"""Every run folder's file names, the completion marker, and :func:`require`.

Each stage reads the folders of earlier stages by the names below and writes
its own; nothing else in kdedge spells a file name of a run folder. A stage's
``config.json`` (its resolved settings) is written last: a folder holding it is
complete (:func:`is_complete`), which is how ``kdedge pipeline --resume`` skips
finished stages.

    stage      folder holds
    data       train.jsonl, eval.jsonl, [unlabeled.jsonl], stats.json
    teacher    model/ (a Hugging Face checkpoint), metrics.json, [_checkpoints/ while training]
    student    tokenizer.json, student.keras
    distill    student.keras, [baseline.keras, baseline_history.json], tokenizer.json, history.json, metrics.json,
               [_checkpoints/ while training: a rerun resumes after the last finished epoch]
    compress   <variant>/{student.keras, [qat.weights.h5], tokenizer.json, variant.json}, manifest.json
    export     student_<mode>.tflite, [student_int8_mixed.tflite], [baseline_float32.tflite],
               [teacher_float32.tflite, teacher_tokenizer/], [variant_<name>.tflite, tokenizers/<name>.json],
               tokenizer.json, [sensitivity.json, sensitivity.md], manifest.json
    bench      report.json, report.md, report.png, latency.png, [device/]
    pipeline   config.json (every stage's settings), timings.json, and one folder per stage
"""

from __future__ import annotations

import os
from pathlib import Path

from kdedge.errors import StageInputError

CONFIG = "config.json"  # the resolved settings of a stage; written last, so it marks the stage complete

# data
TRAIN = "train.jsonl"
EVAL = "eval.jsonl"
TEST = "test.jsonl"  # a second labeled eval split, when the dataset has one (SST-2: the treebank's test)
VALID = "valid.jsonl"  # a validation split for model choice, when the dataset has one (SST-5/SST-3: dev trees)
UNLABELED = "unlabeled.jsonl"
STATS = "stats.json"

# teacher
TEACHER_MODEL = "model"  # a Hugging Face checkpoint folder: config.json, tf_model.h5, tokenizer files
TEACHER_MODEL_CONFIG = f"{TEACHER_MODEL}/{CONFIG}"
CHECKPOINTS = "_checkpoints"  # only while training; a rerun resumes from it
METRICS = "metrics.json"

# student, distill, compress variants
TOKENIZER = "tokenizer.json"
STUDENT = "student.keras"
BASELINE = "baseline.keras"
BASELINE_HISTORY = "baseline_history.json"
HISTORY = "history.json"
QAT_WEIGHTS = "qat.weights.h5"
VARIANT = "variant.json"
MANIFEST = "manifest.json"  # compress: every variant; export: every model

# export
TEACHER_TOKENIZER = "teacher_tokenizer"
VARIANT_TOKENIZERS = "tokenizers"
TEACHER_TFLITE = "teacher_float32.tflite"
BASELINE_TFLITE = "baseline_float32.tflite"
MIXED_TFLITE = "student_int8_mixed.tflite"
SENSITIVITY_JSON = "sensitivity.json"
SENSITIVITY_MD = "sensitivity.md"

# bench
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_PNG = "report.png"
LATENCY_PNG = "latency.png"
DEVICE = "device"  # device mode: the raw on-device run (kdedge.measure.device)

# pipeline
STAGES = ("data", "teacher", "student", "distill", "export", "bench")
TIMINGS = "timings.json"


def student_tflite(mode: str) -> str:
    """``student_<mode>.tflite``: the distilled student in one quantization mode."""
    return f"student_{mode}.tflite"


def variant_tflite(name: str) -> str:
    """``variant_<name>.tflite``: one ``kdedge compress`` variant, converted."""
    return f"variant_{name}.tflite"


def variant_tokenizer(name: str) -> str:
    """Its tokenizer, relative to the export folder."""
    return f"{VARIANT_TOKENIZERS}/{name}.json"


def require(folder: str | os.PathLike, stage: str, *names: str) -> Path:
    """Check that ``folder``, written by ``kdedge <stage>``, holds ``names``; say how to make them.

    Raises:
        StageInputError: the folder or some of the files are missing.
    """
    folder = Path(folder)
    made_by = f"kdedge {stage}"
    if not folder.is_dir():
        raise StageInputError(f"{folder}: folder not found (make it with `{made_by}`)")
    missing = [n for n in names if not (folder / n).exists()]
    if missing:
        raise StageInputError(f"{folder}: missing {', '.join(missing)} (make it with `{made_by}`)")
    return folder


def is_ensemble(teacher_dir: str | os.PathLike) -> bool:
    """Whether ``teacher_dir`` is a ``kdedge ensemble`` folder (its config lists member teacher folders)."""
    import json

    path = Path(teacher_dir) / CONFIG
    try:
        return path.is_file() and "ensemble" in json.loads(path.read_text())
    except ValueError:
        return False


def require_teacher(teacher_dir: str | os.PathLike) -> Path:
    """Check a ``--teacher-dir``: a ``kdedge teacher`` folder, or a ``kdedge ensemble`` folder whose members are.

    Raises:
        StageInputError: the folder, or one of an ensemble's members, is incomplete.
    """
    folder = Path(teacher_dir)
    if is_ensemble(folder):
        require(folder, "ensemble", CONFIG, METRICS)
        for member in teacher_members(folder):
            require(member, "teacher", CONFIG, TEACHER_MODEL_CONFIG)
        return folder
    return require(folder, "teacher", CONFIG, TEACHER_MODEL_CONFIG)


def teacher_members(teacher_dir: str | os.PathLike) -> list[Path]:
    """The teacher folders behind ``teacher_dir``: its ensemble's members, else itself."""
    import json

    folder = Path(teacher_dir)
    if not is_ensemble(folder):
        return [folder]
    return [Path(m) for m in json.loads((folder / CONFIG).read_text())["ensemble"]]


def teacher_model(teacher_dir: str | os.PathLike) -> Path:
    """The checkpoint folder that stands for ``teacher_dir`` where one model is needed (the student's
    embedding init): its own, or an ensemble's first member's."""
    return teacher_members(teacher_dir)[0] / TEACHER_MODEL


def _inside(folder: Path, name, what: str, manifest: Path) -> Path:
    """``folder / name`` when ``name`` is a relative path that stays inside ``folder`` (else one clear error)."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise StageInputError(f"{manifest}: {what} {name!r} is not a path inside {folder}")
    path = folder / name
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        raise StageInputError(f"{manifest}: {what} {name!r} leads outside {folder} (a link?)") from None
    return path


def manifest_models(export_dir: str | os.PathLike, entries: list[dict]) -> list[dict]:
    """Check the export manifest's ``entries`` before anything reads them: each ``file`` and ``tokenizer`` is a
    path inside ``export_dir`` that exists, and each file's sha256 is the manifest's (a file replaced after
    export would otherwise be measured and reported under the old hash).

    Raises:
        StageInputError: names the manifest, the entry and what is wrong.
    """
    from kdedge.io import sha256_file

    export_dir = Path(export_dir)
    manifest = export_dir / MANIFEST
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise StageInputError(f"{manifest}: a model entry without a name: {str(entry)[:80]}")
        path = _inside(export_dir, entry.get("file"), f"{entry['name']}: file", manifest)
        if not path.is_file():
            raise StageInputError(f"{manifest}: {entry['name']}: {path} is missing (make it with `kdedge export`)")
        if "tokenizer" in entry:
            tok = _inside(export_dir, entry["tokenizer"], f"{entry['name']}: tokenizer", manifest)
            if not tok.exists():
                raise StageInputError(f"{manifest}: {entry['name']}: {tok} is missing")
        got = sha256_file(path)
        if entry.get("sha256") != got:
            raise StageInputError(f"{path}: sha256 {got[:12]}... is not the manifest's "
                                  f"{str(entry.get('sha256'))[:12]}... (the file changed after `kdedge export`)")
    return entries


def is_complete(folder: str | os.PathLike) -> bool:
    """Whether a stage finished writing ``folder`` (its ``config.json`` is there)."""
    return (Path(folder) / CONFIG).is_file()
