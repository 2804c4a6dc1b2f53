"""Merge (optional): one student made of several distilled students -- the mean of their logits, one file.

    kdedge merge --member K1 --member K2 [--member K3 ...] --out M

Each member is a ``kdedge distill`` folder of the same data, teacher and
tokenizer (typically one student recipe distilled with different ``--seed``\\ s).
``M`` is a distill folder like any other: ``student.keras`` holds the members
whole (nested models ``member0``, ``member1``, ...) on one ``input_ids`` input,
with an ``Average`` layer as the logits, so ``export`` (every mode, the
unrolled bilstm graph, MediaPipe metadata), ``bench`` and ``kdedge predict`` take
it unchanged. Where every member has its labels-only twin, ``baseline.keras`` is
the merge of the twins, so the report still compares like with like. The file
is as large and as slow as its members together. ``compress`` and ``explain``
refuse a merged student (they need one embedding table).

``metrics.json`` has the merged student's accuracy on the eval split (and the
validation split, where the data has one), its agreement with the teacher
(logits from the store; the members' distillation labeled them), and each
member's metrics as its distill stage wrote them. No member is chosen here and
no weight is tuned: which members to merge is the caller's choice, made before
this stage sees the eval split.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kdedge import layout
from kdedge.errors import ConfigError
from kdedge.io import read_json, write_bytes, write_json
from kdedge.options import setting


@dataclasses.dataclass
class MergeConfig:
    """Settings of ``kdedge merge``; each field is a flag."""

    members: tuple = setting((), "A `kdedge distill` folder to merge (repeat: two or more).", cli=False)
    cache_dir: str | None = setting(None, "Teacher-logits store (else $KDEDGE_CACHE or ~/.cache/kdedge).", type=str)

    def validate(self) -> None:
        from kdedge.stages.ensemble import check_members
        check_members(self.members, "merging needs two or more distill folders", "distill")


def is_merged_dir(distill_dir: str | Path) -> bool:
    """Whether ``distill_dir`` was written by ``kdedge merge``."""
    path = Path(distill_dir) / layout.CONFIG
    return path.is_file() and "merged" in read_json(path)


def run_merge(out: str | Path, cfg: MergeConfig) -> dict:
    """Merge the members' students (and twins) into the distill folder ``out``; returns its metrics.

    Raises:
        StageInputError: a member folder is incomplete.
        ConfigError: the members differ in data, teacher or tokenizer, or one is itself merged.
    """
    from kdedge.data import Split
    from kdedge.models.student import load_student, merge_students, save_student
    from kdedge.text.tokenizer import load_tokenizer
    from kdedge.training.distill import predict
    from kdedge.training.logit_store import default_cache_dir
    from kdedge.training.transfer import CachedTeacher

    cfg.validate()
    members = [layout.require(m, "distill", layout.CONFIG, layout.STUDENT, layout.TOKENIZER, layout.METRICS).resolve()
               for m in cfg.members]
    configs = [read_json(m / layout.CONFIG) for m in members]
    for m, c in zip(members, configs):
        if "merged" in c:
            raise ConfigError(f"--member {m}: a merged student cannot be a member; list its members instead")
        for key in ("data", "teacher"):
            if str(Path(c[key]).resolve()) != str(Path(configs[0][key]).resolve()):
                raise ConfigError(f"--member {m}: distilled from {key} {c[key]}, but {members[0]} from "
                                  f"{configs[0][key]} (members must share data and teacher)")
        if (m / layout.TOKENIZER).read_bytes() != (members[0] / layout.TOKENIZER).read_bytes():
            raise ConfigError(f"--member {m}: its tokenizer differs from {members[0]}'s (members must share one "
                              "vocabulary: same data and --vocab-size)")
    data_dir = layout.require(configs[0]["data"], "data", layout.EVAL, layout.CONFIG)
    teacher_dir = layout.require_teacher(configs[0]["teacher"])
    tokenizer = load_tokenizer(members[0] / layout.TOKENIZER)

    try:
        student = merge_students([load_student(m / layout.STUDENT) for m in members])
        twins = [m / layout.BASELINE for m in members]
        baseline = merge_students([load_student(t) for t in twins]) if all(t.is_file() for t in twins) else None
    except ValueError as e:
        raise ConfigError(f"--member: {e}") from None

    def accuracy(z, y) -> float:
        return float((z.argmax(1) == y).mean())

    evals = Split.from_jsonl(data_dir / layout.EVAL, "eval")
    labeled = evals.labels >= 0
    eval_ids = tokenizer.encode(evals.texts)
    z_student = predict(student, eval_ids)
    cache = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    z_teacher, _ = CachedTeacher(teacher_dir, cache).logits(list(evals.texts), "eval")
    member_metrics = [read_json(m / layout.METRICS) for m in members]
    metrics = {
        "eval_accuracy": accuracy(z_student[labeled], evals.labels[labeled]),
        "teacher_eval_accuracy": accuracy(z_teacher[labeled], evals.labels[labeled]),
        "agreement_with_teacher": float((z_student.argmax(1) == z_teacher.argmax(1)).mean()),
        "members": [{"folder": str(m), **mm} for m, mm in zip(members, member_metrics)],
    }
    if (data_dir / layout.VALID).is_file():
        valid = Split.from_jsonl(data_dir / layout.VALID, "valid")
        metrics["valid_accuracy"] = accuracy(predict(student, tokenizer.encode(valid.texts)), valid.labels)
        if "teacher_valid_accuracy" in member_metrics[0]:
            metrics["teacher_valid_accuracy"] = member_metrics[0]["teacher_valid_accuracy"]
    if baseline is not None:
        z_base = predict(baseline, eval_ids)
        metrics["baseline_eval_accuracy"] = accuracy(z_base[labeled], evals.labels[labeled])
        metrics["gain_over_baseline"] = metrics["eval_accuracy"] - metrics["baseline_eval_accuracy"]

    out = Path(out)
    save_student(student, out / layout.STUDENT)
    if baseline is not None:
        save_student(baseline, out / layout.BASELINE)
    elif (out / layout.BASELINE).exists():
        (out / layout.BASELINE).unlink()
    write_bytes(out / layout.TOKENIZER, (members[0] / layout.TOKENIZER).read_bytes())
    write_json(out / layout.METRICS, metrics)
    # "student" (the first member's student folder) tells export the architecture for the file's metadata.
    write_json(out / layout.CONFIG, {"merged": [str(m) for m in members], "combine": "mean of logits",
                                     "data": str(data_dir), "teacher": str(teacher_dir),
                                     "student": configs[0].get("student"), "cache_dir_resolved": str(cache)})
    return metrics
