"""Ensemble (optional): one teacher made of several fine-tuned teachers -- the mean of their logits.

    kdedge ensemble --data D --member T1 --member T2 [--member T3 ...] --out E

``E`` holds no model: ``config.json`` lists the members' folders (absolute paths)
and ``metrics.json`` has the ensemble's eval accuracy beside each member's. Every
stage that needs only the teacher's logits takes ``E`` as its ``--teacher-dir``
(``student``, ``label``, ``distill``, ``compress``): each text is labeled by each
member through the member's own logit-store namespace, and the mean is kept
under the ensemble's (:func:`kdedge.training.transfer.ensemble_namespace`), so
rows are never recomputed whichever teacher asks. Where one model is needed the
first member stands in (the student's embedding init); ``export`` (teacher
files) and ``explain`` refuse an ensemble: give them a member's folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kdedge import layout
from kdedge.errors import ConfigError
from kdedge.io import read_json, write_json
from kdedge.options import setting


@dataclasses.dataclass
class EnsembleConfig:
    """Settings of ``kdedge ensemble``; each field is a flag."""

    members: tuple = setting((), "A `kdedge teacher` folder to average (repeat: two or more).", cli=False)
    cache_dir: str | None = setting(None, "Teacher-logits store (else $KDEDGE_CACHE or ~/.cache/kdedge).", type=str)

    def validate(self) -> None:
        check_members(self.members, "an ensemble needs two or more teacher folders", "teacher")


def check_members(members: tuple, too_few: str, kind: str) -> None:
    """``--member``: two or more folders, none given twice (``kdedge ensemble``, ``kdedge merge``)."""
    if len(members) < 2:
        raise ConfigError(f"--member: {too_few}, got {len(members)}")
    resolved = [str(Path(m).resolve()) for m in members]
    if len(set(resolved)) != len(resolved):
        raise ConfigError(f"--member: the same {kind} folder is given twice")


def run_ensemble(data_dir: str | Path, out: str | Path, cfg: EnsembleConfig) -> dict:
    """Average the members' eval logits and write the ensemble folder ``out``.

    Returns the metrics written to ``out/metrics.json``.

    Raises:
        StageInputError: a member folder is incomplete (or is itself an ensemble).
        ConfigError: the members disagree on the number of labels.
    """
    from kdedge.data import Split
    from kdedge.data.splits import num_labels
    from kdedge.training.fine_tune import evaluate
    from kdedge.training.logit_store import default_cache_dir
    from kdedge.training.transfer import CachedTeacher

    cfg.validate()
    data_dir = layout.require(data_dir, "data", layout.EVAL, layout.CONFIG)
    members = []
    for m in cfg.members:
        if layout.is_ensemble(m):
            raise ConfigError(f"--member {m}: an ensemble cannot be a member; list its teachers instead")
        members.append(layout.require(m, "teacher", layout.CONFIG, layout.TEACHER_MODEL_CONFIG).resolve())
    labels = num_labels(data_dir)
    for m in members:
        k = read_json(m / layout.CONFIG).get("num_labels", 2)
        if k != labels:
            raise ConfigError(f"--member {m}: a teacher of {k} labels, but {data_dir} has {labels}")
    cache = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    evals = Split.from_jsonl(data_dir / layout.EVAL, "eval")
    out = Path(out)
    write_json(out / layout.CONFIG, {"ensemble": [str(m) for m in members], "combine": "mean of logits",
                                     "num_labels": labels, "data": str(data_dir)})
    ensemble = CachedTeacher(out, cache)
    mean, _ = ensemble.logits(list(evals.texts), "eval")  # each member labels what its store lacks
    z = [m.logits(list(evals.texts), "eval")[0] for m in ensemble.members]  # from the members' stores now
    metrics = {"eval": evaluate(mean, evals.labels), "store_namespace": ensemble.store.name,
               "members": [{"folder": str(m), "eval": evaluate(zi, evals.labels)} for m, zi in zip(members, z)]}
    write_json(out / layout.METRICS, metrics)
    return metrics
