"""The main job: data -> teacher -> student -> distill -> export -> bench in one run folder.

``kdedge pipeline --dataset sst2 --out runs/sst2`` lays out::

    runs/sst2/config.json   every stage's resolved config (written first)
    runs/sst2/data/ teacher/ student/ distill/ export/ bench/   one folder per stage
    runs/sst2/timings.json  wall seconds per stage

A stage whose folder holds its ``config.json`` is complete (that file is
written last), so ``--resume`` skips it; the teacher (every ``--teacher-checkpoint-every``
steps) and distill (every epoch) also resume mid-training from their checkpoints.
``--overwrite`` over an earlier run writes the new one beside it, in ``.<name>.partial``,
and swaps it in when complete: the earlier run stays whole until then, and ``--resume``
continues an interrupted replacement.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

from kdedge import layout
from kdedge.errors import ConfigError
from kdedge.io import output_folder, partial_path, prepare_out_dir, read_json, write_json
from kdedge.layout import STAGES
from kdedge.stages.bench import BenchConfig, run_bench
from kdedge.stages.data import DataConfig, run_data
from kdedge.stages.distill import DistillConfig, run_distill
from kdedge.stages.export import ExportConfig, run_export
from kdedge.stages.student import StudentConfig, run_student
from kdedge.stages.teacher import TeacherConfig, run_teacher

# Settings that differ by dataset, under any flag the user gives. IMDB reviews
# average ~300 WordPiece tokens (p90 584); on 2 cores a teacher epoch at 256
# tokens costs hours, so the teacher reads 128 tokens, head+tail (measured in
# benchmarks/results/imdb/truncation.md), while the student, whose cost hardly
# grows with length, reads 400 words and a larger vocabulary.
DATASET_DEFAULTS = {
    "imdb": {"data": {"max_unlabeled": 25000},  # half of train/unsup: labeling 25k reviews costs ~10 min
             "teacher": {"max_len": 128, "truncation": "head+tail"},
             "student": {"max_len": 400, "vocab_size": 30000}},
    # SST-2: of the teacher recipes that keep the cold main job within the hour, two epochs at a peak lr of
    # 5e-5 scored best on dev (89.33% against one epoch at 3e-5's 88.99%; benchmarks/results/sst2/
    # sst2_teachers.md); the second epoch costs 12.5 min on 2 cores (teacher stage 1,430 s against 678 s;
    # benchmarks/results/sst2/main_job).
    "sst2": {"teacher": {"epochs": 2.0, "lr": 5e-5}},
    # The treebank's 8,544 train sentences are an eighth of SST-2's 67k phrases: three teacher epochs
    # cost what ~0.4 of an SST-2 epoch does (~9 min on 2 cores; benchmarks/results/sst5).
    "sst5": {"teacher": {"epochs": 3.0}},
    "sst3": {"teacher": {"epochs": 3.0}},
}


# Presets: named recipes applied over the per-dataset settings (a flag given still wins). "default" is the
# main job that keeps SST-2 cold within the hour. "quality" is the best recipe measured on SST-2 dev that
# does not fit that hour (issue 15): of the teacher sweep, three epochs at 5e-5 with layer-wise LR decay
# 0.9 (90.02% dev with seed 1; benchmarks/results/sst2/sst2_teachers.md); of the MediaPipe-compatible
# students, the bilstm with a 32k-word vocabulary (88.30% int8 against the cnn's 87.16% from the same
# teacher; benchmarks/results/sst2/bilstm_graph_vocab32k.md). Its cold wall time and numbers:
# benchmarks/results/sst2/quality/. Datasets without a measured recipe have no quality preset.
PRESETS = {
    "default": {},
    "quality": {
        "sst2": {"teacher": {"epochs": 3.0, "lr": 5e-5, "layer_decay": 0.9},
                 "student": {"arch": "bilstm", "vocab_size": 32000}},
    },
}


def dataset_defaults(dataset: str, stage: str, preset: str = "default") -> dict:
    """The settings of ``stage`` for ``dataset`` under ``preset`` (empty where the dataclass defaults hold).

    Raises ConfigError for an unknown preset, or one with no recipe for ``dataset``.
    """
    if preset not in PRESETS:
        raise ConfigError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    recipes = PRESETS[preset]
    if recipes and dataset not in recipes:
        raise ConfigError(f"--preset {preset} has a recipe for {', '.join(sorted(recipes))} only, not {dataset}")
    return {**DATASET_DEFAULTS.get(dataset, {}).get(stage, {}), **recipes.get(dataset, {}).get(stage, {})}


@dataclasses.dataclass
class PipelineConfig:
    """All stages' settings for one run."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    teacher: TeacherConfig = dataclasses.field(default_factory=TeacherConfig)
    student: StudentConfig = dataclasses.field(default_factory=StudentConfig)
    distill: DistillConfig = dataclasses.field(default_factory=DistillConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    bench: BenchConfig = dataclasses.field(default_factory=BenchConfig)

    def validate(self) -> None:
        for stage in STAGES:
            getattr(self, stage).validate()


def check_out(out: Path, cfg: PipelineConfig, overwrite: bool, resume: bool) -> None:
    """Validate the run folder before anything is written (raises ConfigError)."""
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume exclude each other")
    if resume:
        run = partial_path(out) if partial_path(out).is_dir() else out  # an interrupted --overwrite run first
        if not (run / layout.CONFIG).is_file():
            raise ConfigError(f"--resume: {run} holds no pipeline run (no {layout.CONFIG})")
        if read_json(run / layout.CONFIG) != _jsonable(cfg):
            raise ConfigError(f"--resume: {run} was made with other settings (see {run / layout.CONFIG}); "
                              "rerun with those, or --overwrite to start over")
        return
    prepare_out_dir(out, overwrite)


def run_pipeline(out: str | Path, cfg: PipelineConfig, overwrite: bool = False, resume: bool = False) -> dict:
    """Run every stage into ``out``. Returns the bench report.

    With ``overwrite`` over an earlier run, the new run is written beside it (``.<name>.partial``) and replaces
    it only when complete; ``resume`` continues such a run (or an interrupted one in ``out``).
    """
    out = Path(out)
    cfg.validate()
    check_out(out, cfg, overwrite, resume)
    with output_folder(out, overwrite, resume, keep_on_error=layout.CONFIG) as run:
        report, total = _run_stages(run, cfg)
    print(f"[kdedge] pipeline done in {total:.0f} s; report: {out / 'bench' / layout.REPORT_MD}", file=sys.stderr)
    return report


def _run_stages(out: Path, cfg: PipelineConfig) -> tuple[dict, float]:
    write_json(out / layout.CONFIG, _jsonable(cfg))
    d = {s: out / s for s in STAGES}
    timings = read_json(out / layout.TIMINGS) if (out / layout.TIMINGS).is_file() else {}
    started = time.perf_counter()

    def stage(name, fn):
        if layout.is_complete(d[name]) and name in timings:
            print(f"[kdedge] {name}: done already, skipped", file=sys.stderr)
            return
        print(f"[kdedge] {name} ...", file=sys.stderr)
        t0 = time.perf_counter()
        fn()
        timings[name] = round(time.perf_counter() - t0, 1)
        write_json(out / layout.TIMINGS, timings)
        print(f"[kdedge] {name}: {timings[name]:.0f} s", file=sys.stderr)

    stage("data", lambda: run_data(d["data"], cfg.data))
    stage("teacher", lambda: run_teacher(d["data"], d["teacher"], cfg.teacher))
    stage("student", lambda: run_student(d["data"], d["student"], cfg.student, d["teacher"]))
    stage("distill", lambda: run_distill(d["data"], d["teacher"], d["student"], d["distill"], cfg.distill))
    stage("export", lambda: run_export(d["distill"], d["teacher"], d["data"], d["export"], cfg.export))
    before_bench = sum(timings.get(s, 0) for s in STAGES if s != "bench")
    extra = {"command": "kdedge " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "",
             "stage_seconds_before_bench": {s: timings.get(s) for s in STAGES if s != "bench"},
             "seconds_before_bench": round(before_bench, 1),
             "this_invocation_seconds_before_bench": round(time.perf_counter() - started, 1)}
    extra["distill_metrics"] = read_json(d["distill"] / layout.METRICS)
    extra["teacher_keras_eval"] = read_json(d["teacher"] / layout.METRICS)["eval"]
    report = {}

    def bench():
        report.update(run_bench(d["export"], d["data"], d["bench"], cfg.bench, extra))

    stage("bench", bench)
    total = round(sum(timings.get(s, 0) for s in STAGES), 1)
    timings["total"] = total
    write_json(out / layout.TIMINGS, timings)
    return report or read_json(d["bench"] / layout.REPORT_JSON), total


def _jsonable(cfg: PipelineConfig) -> dict:
    """Every stage's config as plain JSON (tuples become lists, as they would on reload)."""
    return json.loads(json.dumps({s: dataclasses.asdict(getattr(cfg, s)) for s in STAGES}))
