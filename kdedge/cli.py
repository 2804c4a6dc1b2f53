"""The ``kdedge`` command line: flag parsing and wiring only.

Each command builds one stage's config dataclass, whose fields carry the
defaults and the ``--help`` text of their flags (:func:`kdedge.options.setting`),
validates it, checks the output folder, and calls one library function. Known
errors (:class:`kdedge.errors.KdedgeError`, bad flags) print one line and exit
with code 2 before anything is written. Importing this module imports no
TensorFlow: each command imports its stage's library when it runs.

Folder flags: ``--data`` is a ``kdedge data`` folder, ``--<stage>-dir`` the folder
of any other stage (``--teacher-dir``, ``--student-dir``, ``--distill-dir``,
``--compress-dir``, ``--export-dir``); ``--data-dir`` is where the raw datasets
live and ``--teacher`` the checkpoint the teacher starts from. Old spellings
(``--student``, ``--distill``, ``--compress``, ``--export``, ``kdedge teacher
--init``) still work, hidden from ``--help``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

import kdedge
from kdedge import layout
from kdedge.errors import ConfigError, KdedgeError
from kdedge.flags import (build, data_option, distill_dir_option, folder, folder_option, fresh_out, input_dir,
                          options, out_option, overwrite_option, seed_option, student_dir_option, teacher_dir_option)
from kdedge.io import prepare_out_dir
from kdedge.quiet import quiet_tensorflow
from kdedge.measure.device.config import DeviceConfig
from kdedge.pipeline import PRESETS
from kdedge.serve.config import ServeConfig
from kdedge.stages.bench import BenchConfig
from kdedge.stages.compress import CompressConfig
from kdedge.stages.data import DataConfig
from kdedge.stages.distill import DistillConfig
from kdedge.stages.ensemble import EnsembleConfig
from kdedge.stages.explain import ExplainConfig
from kdedge.stages.label import LabelConfig
from kdedge.stages.merge import MergeConfig
from kdedge.stages.export import ExportConfig
from kdedge.stages.student import StudentConfig
from kdedge.stages.teacher import TeacherConfig

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(kdedge.__version__, prog_name="kdedge")
def cli():
    """Distill a BERT sentiment teacher into a tiny TFLite student and benchmark it.

    Main job: kdedge pipeline --dataset sst2 --out runs/sst2
    """


@cli.command()
@options(DataConfig)
@seed_option
@out_option
@overwrite_option
def data(out, overwrite, seed, **kw):
    """Load a dataset and write its splits as JSONL."""
    from kdedge.stages.data import run_data
    cfg = build(DataConfig, kw, seed=seed)
    cfg.validate()
    with fresh_out(out, overwrite) as folder_:
        stats = run_data(folder_, cfg)
    extra = "".join(f" / {k} {stats[k]['examples']}" for k in ("valid", "test", "unlabeled") if k in stats)
    click.echo(f"train {stats['train']['examples']} / eval {stats['eval']['examples']}{extra} examples -> {out}")


@cli.command()
@data_option
@options(TeacherConfig)
@seed_option
@out_option
@overwrite_option
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out from its checkpoints "
              "(checkpoints made with other settings are discarded: training starts over).")
def teacher(data_dir, out, overwrite, resume, seed, **kw):
    """Fine-tune the BERT teacher on the train split."""
    quiet_tensorflow()
    from kdedge.stages.teacher import run_teacher
    cfg = build(TeacherConfig, kw, seed=seed)
    cfg.validate()
    input_dir(data_dir, "--data")
    with fresh_out(out, overwrite, resume, keep_on_error=layout.CHECKPOINTS) as folder_:
        metrics = run_teacher(data_dir, folder_, cfg)
    click.echo(f"teacher eval accuracy {metrics['eval']['accuracy']:.4f} -> {out}")


@cli.command()
@data_option
@folder_option("--teacher-dir", "teacher_dir", "A `kdedge teacher` folder (for --embed-init teacher*).")
@options(StudentConfig)
@seed_option
@out_option
@overwrite_option
def student(data_dir, out, overwrite, seed, **kw):
    """Build the student's tokenizer and initialized model."""
    quiet_tensorflow()
    from kdedge.stages.student import run_student
    teacher_dir = folder(kw, "teacher_dir", "--teacher-dir", required=False)
    cfg = build(StudentConfig, kw, seed=seed)
    cfg.validate()
    input_dir(data_dir, "--data")
    with fresh_out(out, overwrite) as folder_:
        resolved = run_student(data_dir, folder_, cfg, teacher_dir)
    click.echo(f"student {cfg.arch}: {resolved['params']:,} parameters -> {out}")


@cli.command()
@data_option
@click.option("--member", "members", multiple=True, required=True, metavar="TEACHER_DIR",
              help="A `kdedge teacher` folder to average (repeat: two or more).")
@options(EnsembleConfig)
@out_option
@overwrite_option
def ensemble(data_dir, members, out, overwrite, **kw):
    """Make one teacher of several: the mean of their logits (for distill, compress, label).

    \b
    kdedge ensemble --data runs/sst2/data --member runs/t-seed0 --member runs/t-seed1 --out runs/ens
    kdedge distill --data runs/sst2/data --teacher-dir runs/ens --student-dir runs/sst2/student --out K
    """
    quiet_tensorflow()
    from kdedge.stages.ensemble import run_ensemble
    cfg = build(EnsembleConfig, kw, members=tuple(members))
    cfg.validate()
    input_dir(data_dir, "--data")
    with fresh_out(out, overwrite) as folder_:
        m = run_ensemble(data_dir, folder_, cfg)
    parts = ", ".join(f"{x['eval']['accuracy']:.4f}" for x in m["members"])
    click.echo(f"ensemble eval accuracy {m['eval']['accuracy']:.4f} (members {parts}) -> {out}")


@cli.command()
@click.option("--member", "members", multiple=True, required=True, metavar="DISTILL_DIR",
              help="A `kdedge distill` folder to merge (repeat: two or more; same data, teacher and tokenizer).")
@options(MergeConfig)
@out_option
@overwrite_option
def merge(members, out, overwrite, **kw):
    """Make one student of several distilled ones: the mean of their logits, in one file.

    The output is a distill folder (export, bench and predict take it); it is as large and as slow
    as its members together. Merge students that differ only in --seed to cut the seed's noise.

    \b
    kdedge merge --member runs/k-seed0 --member runs/k-seed1 --member runs/k-seed2 --out runs/k-merged
    kdedge export --distill-dir runs/k-merged --data runs/sst5/data --teacher-dir runs/sst5/teacher --out E
    """
    quiet_tensorflow()
    from kdedge.stages.merge import run_merge
    cfg = build(MergeConfig, kw, members=tuple(members))
    cfg.validate()
    with fresh_out(out, overwrite) as folder_:
        m = run_merge(folder_, cfg)
    parts = ", ".join(f"{x['eval_accuracy']:.4f}" for x in m["members"])
    click.echo(f"merged student eval accuracy {m['eval_accuracy']:.4f} (members {parts}) -> {out}")


@cli.command()
@data_option
@teacher_dir_option
@student_dir_option
@options(DistillConfig)
@seed_option
@out_option
@overwrite_option
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out after its last finished epoch "
              "(checkpoints made with other inputs or settings are discarded: training starts over).")
def distill(data_dir, out, overwrite, resume, seed, **kw):
    """Train the student on the teacher's logits."""
    quiet_tensorflow()
    from kdedge.stages.distill import run_distill
    cfg = build(DistillConfig, kw, seed=seed)
    cfg.validate()
    input_dir(data_dir, "--data")
    teacher_dir = folder(kw, "teacher_dir", "--teacher-dir")
    student_dir = folder(kw, "student_dir", "--student-dir")
    with fresh_out(out, overwrite, resume, keep_on_error=layout.CHECKPOINTS) as folder_:
        m = run_distill(data_dir, teacher_dir, student_dir, folder_, cfg)
    base = (f", labels-only twin {m['baseline_eval_accuracy']:.4f}" if "baseline_eval_accuracy" in m else "")
    kept = (f"; epoch {m['kept_epoch']} kept, valid accuracy {m['valid_accuracy']:.4f} "
            f"(teacher {m['teacher_valid_accuracy']:.4f})" if "valid_accuracy" in m else "")
    click.echo(f"student eval accuracy {m['eval_accuracy']:.4f} (teacher {m['teacher_eval_accuracy']:.4f}{base})"
               f"{kept} -> {out}")


@cli.command()
@data_option
@teacher_dir_option
@options(LabelConfig)
@click.option("--beam-option", "beam_option", multiple=True, metavar="FLAG",
              help="A raw Beam pipeline flag for the runner, e.g. --beam-option=--flink_master=host:8081 or "
                   "--beam-option=--project=P (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def label(data_dir, beam_option, as_json, **kw):
    """Label a data folder's texts with the teacher into the logit store (Apache Beam or in process).

    The distill stage that follows reads every row from the store. Example, two local Beam workers:

    \b
    kdedge label --data runs/sst2/data --teacher-dir runs/sst2/teacher --workers 2
    """
    import json

    quiet_tensorflow()
    from kdedge.stages.label import run_label
    cfg = build(LabelConfig, kw, beam_option=tuple(beam_option))
    cfg.validate()
    input_dir(data_dir, "--data")
    teacher_dir = folder(kw, "teacher_dir", "--teacher-dir")
    s = run_label(data_dir, teacher_dir, cfg)
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    rate = f", {s['texts_per_second']:,.0f} texts/s" if s["texts_per_second"] else ""
    click.echo(f"teacher labeled {s['unique_missing']:,} of {s['texts']:,} texts ({s['shards']} shards) in "
               f"{s['seconds']:.1f} s{rate} [{s['runner']}, {s['workers']} worker(s)] -> {s['store']}")


@cli.command()
@distill_dir_option
@folder_option("--teacher-dir", "teacher_dir", "A `kdedge teacher` folder (exported as the reference).")
@click.option("--data", "data_dir", required=True, help="A `kdedge data` folder (calibration and checks).")
@click.option("--no-teacher", is_flag=True, help="Export the student only.")
@folder_option("--compress-dir", "compress_dir", "A `kdedge compress` folder: export its variants too.",
               aliases=("--compress",))
@options(ExportConfig)
@click.option("--android-assets", "android_assets", default=None,
              help="Also copy student_int8 and student_float32 (those exported) and their tokenizers, with an "
                   "index, into this folder: android_demo/app/src/main/assets.")
@seed_option
@out_option
@overwrite_option
def export(data_dir, no_teacher, out, overwrite, seed, android_assets, **kw):
    """Convert the student (every quantization mode, every compressed variant) and the teacher to TFLite."""
    quiet_tensorflow()
    from kdedge.stages.export import check_android_assets_dir, run_export
    cfg = build(ExportConfig, kw, seed=seed, teacher=not no_teacher)
    cfg.validate()
    if android_assets is not None:
        check_android_assets_dir(android_assets)
    distill_dir = folder(kw, "distill_dir", "--distill-dir")
    input_dir(data_dir, "--data")
    compress_dir = folder(kw, "compress_dir", "--compress-dir", required=False)
    teacher_dir = folder(kw, "teacher_dir", "--teacher-dir", required=False)
    if cfg.teacher and teacher_dir is None:
        raise ConfigError("--teacher-dir is required unless --no-teacher")
    out = prepare_out_dir(out, overwrite)  # replaced only once the new export is complete and past the gate
    manifest = run_export(distill_dir, teacher_dir, data_dir, out, cfg, compress_dir)
    gate = {r["name"]: r for r in manifest["gate"]["models"]}
    for m in manifest["models"]:
        g = gate.get(m["name"])
        kept = f"  acc {g['accuracy']:.4f}  retention {g['retention']:.2%}  flips {g['flip_rate']:.2%}" if g else ""
        click.echo(f"{m['file']}: {m['bytes'] / 1e6:.3f} MB{kept}")
    if android_assets is not None:
        _android_assets(out, data_dir, android_assets, None, "--android-assets")


@cli.command("android-assets")
@folder_option("--export-dir", "export_dir", "A `kdedge export` folder.  [required]")
@click.option("--data", "data_dir", required=True, help="The `kdedge data` folder the export read (label names).")
@click.option("--models", default="student_int8,student_float32", show_default=True,
              help="Comma-separated student files (manifest names) the app ships.")
@click.option("--out", required=True, help="The app's assets folder: android_demo/app/src/main/assets.")
def android_assets(data_dir, models, out, **kw):
    """Copy exported student files, their tokenizers and an index (kdedge_models.json) into the
    android_demo app's assets (what `kdedge export --android-assets DIR` does after an export)."""
    _android_assets(folder(kw, "export_dir", "--export-dir"), input_dir(data_dir, "--data"), out, models, "--out")


def _android_assets(export_dir, data_dir, out, models: str | None, flag: str) -> None:
    from kdedge.data.splits import read_label_names
    from kdedge.options import comma_list
    from kdedge.stages.export import ANDROID_INDEX, write_android_assets
    index = write_android_assets(export_dir, out, read_label_names(data_dir) or ["negative", "positive"],
                                 None if models is None else tuple(comma_list(models)), flag)
    for row in index["models"]:
        click.echo(f"{Path(out) / row['file']}: {row['bytes'] / 1e6:.3f} MB ({row['runtime']})")
    click.echo(f"index: {Path(out) / ANDROID_INDEX}")


@cli.command()
@distill_dir_option
@click.option("--data", "data_dir", required=True, help="The `kdedge data` folder distill read.")
@folder_option("--teacher-dir", "teacher_dir", "The `kdedge teacher` folder distill read (cached logits).  "
               "[required]")
@options(CompressConfig)
@seed_option
@out_option
@overwrite_option
def compress(data_dir, out, overwrite, seed, **kw):
    """Smaller variants of the distilled student: vocabulary pruning, hashing, factorized embeddings,
    pruning, clustering, QAT (see `kdedge export --compress-dir`)."""
    quiet_tensorflow()
    from kdedge.stages.compress import run_compress
    cfg = build(CompressConfig, kw, seed=seed)
    cfg.validate()
    distill_dir = folder(kw, "distill_dir", "--distill-dir")
    input_dir(data_dir, "--data")
    teacher_dir = folder(kw, "teacher_dir", "--teacher-dir")
    with fresh_out(out, overwrite) as folder_:
        manifest = run_compress(distill_dir, data_dir, teacher_dir, folder_, cfg)
    for v in manifest["variants"]:
        click.echo(f"{v['spec']:28s} keras acc {v['keras_eval_accuracy']:.4f}  params {v['params']:,}")


@cli.group(invoke_without_command=True)
@folder_option("--export-dir", "export_dir", "A `kdedge export` output folder.  [required]", aliases=("--export",))
@click.option("--data", "data_dir", help="A `kdedge data` folder (its eval split).  [required]")
@options(BenchConfig)
@options(DeviceConfig)
@seed_option
@click.option("--out", help="Output folder.  [required]")
@overwrite_option
@click.pass_context
def bench(ctx, data_dir, out, overwrite, seed, **kw):
    """Measure size, accuracy, latency and memory of every exported .tflite.

    On this machine by default; with --adb SERIAL on an Android device (latency from
    benchmark_model or the android_demo app, quality from the same files on the host).
    `kdedge bench compare OLD NEW` compares two reports.
    """
    quiet_tensorflow()
    if ctx.invoked_subcommand is not None:
        return
    from kdedge.stages.bench import run_bench, run_device_report
    export_dir = folder(kw, "export_dir", "--export-dir", required=False)
    for value, flag in ((export_dir, "--export-dir"), (data_dir, "--data"), (out, "--out")):
        if not value:
            raise ConfigError(f"missing {flag} (or a subcommand: kdedge bench compare OLD NEW)")
    cfg = build(BenchConfig, kw, seed=seed)
    cfg.validate()
    device_cfg = device_config(kw, cfg)
    input_dir(data_dir, "--data")
    if device_cfg is not None:
        from kdedge.measure.device import check_device
        check_device(device_cfg)  # no adb, no device: one line, exit 2, before the output folder exists
    with fresh_out(out, overwrite) as folder_:
        if device_cfg is not None:
            run_device_report(export_dir, data_dir, folder_, cfg, device_cfg)
        else:
            run_bench(export_dir, data_dir, folder_, cfg)
        click.echo((folder_ / "report.md").read_text())


def device_config(kw: dict, cfg: BenchConfig) -> DeviceConfig | None:
    """The DeviceConfig when a device-mode flag is given (threads, XNNPACK and warm-up from ``cfg``), else None."""
    if kw.get("serial") is None and not kw.get("benchmark_binary") and not kw.get("app"):
        return None
    if kw.get("serial") is None:
        raise ConfigError("--benchmark-binary and --app need --adb SERIAL (the device to run on)")
    device_cfg = build(DeviceConfig, kw, threads=cfg.threads, xnnpack=tuple(x == "on" for x in cfg.xnnpack),
                       warmup=cfg.warmup)
    device_cfg.validate()
    return device_cfg


@bench.command()
@click.argument("old")
@click.argument("new")
@click.option("--min-change", type=float, default=0.05, show_default=True,
              help="Latency: smallest relative p50 change flagged (besides disjoint 95% CIs).")
@click.option("--all", "show_all", is_flag=True, help="Print every latency cell, not only headline and flagged.")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when a regression is flagged.")
def compare(old, new, min_change, show_all, fail_on_regression):
    """Per-model deltas between two bench reports; flags only changes beyond the measured noise."""
    from kdedge.measure.compare import compare_reports, load_report, render_comparison
    if not 0 <= min_change < 1:
        raise ConfigError(f"--min-change must be in [0, 1), got {min_change}")
    result = compare_reports(load_report(old), load_report(new), min_rel=min_change)
    click.echo(render_comparison(result, show_all=show_all))
    if fail_on_regression and any(c["direction"] == "regression" for c in result["changes"]):
        sys.exit(1)


# In `pipeline`, teacher flags get a "teacher-" prefix; --teacher (the init), --max-len and --cache-dir are shared.
PIPELINE_TEACHER_EXCLUDE = ("init", "max_len", "cache_dir")


def pipeline_config(seed: int = 0, teacher_init: str | None = None, max_len: int | None = None,
                    preset: str = "default", **kw):
    """The PipelineConfig for `kdedge pipeline`'s flags (``kw``: flag values, None where unset).

    Per-dataset settings (:data:`kdedge.pipeline.DATASET_DEFAULTS`), then the preset's
    (:data:`kdedge.pipeline.PRESETS`), apply under the flags given.
    """
    from kdedge.pipeline import PipelineConfig, dataset_defaults
    ml = {"max_len": max_len} if max_len is not None else {}
    init = {"init": teacher_init} if teacher_init is not None else {}
    dataset = kw.get("dataset") or DataConfig.dataset
    data = build(DataConfig, kw, seed=seed, **dataset_defaults(dataset, "data", preset))
    cache = {"cache_dir": kw["cache_dir"]} if kw.get("cache_dir") else {}  # --cache-dir: one store for both
    teacher_fixed = {**dataset_defaults(data.dataset, "teacher", preset), **ml, **init, **cache}
    student_fixed = {**dataset_defaults(data.dataset, "student", preset), **ml}
    return PipelineConfig(
        data=data,
        teacher=build(TeacherConfig, kw, "teacher-", PIPELINE_TEACHER_EXCLUDE, seed=seed, **teacher_fixed),
        student=build(StudentConfig, kw, exclude=("max_len",), seed=seed, **student_fixed),
        distill=build(DistillConfig, kw, seed=seed),
        export=build(ExportConfig, kw, seed=seed),
        bench=build(BenchConfig, kw, seed=seed),
    )


@cli.command()
@options(DataConfig)
@click.option("--teacher", "teacher_init", help=f"Teacher init folder. [default: {TeacherConfig.init}]")
@options(TeacherConfig, prefix="teacher-", exclude=PIPELINE_TEACHER_EXCLUDE)
@click.option("--max-len", type=int,
              help="Max tokens for teacher and student. [default: 64; imdb: teacher 128, student 400]")
@options(StudentConfig, exclude=("max_len",))
@options(DistillConfig)
@options(ExportConfig)
@options(BenchConfig)
@click.option("--preset", type=click.Choice(list(PRESETS)), default="default", show_default=True,
              help="default: the main job, within the hour on 2 cores. quality: the best measured recipe, "
                   "which takes longer (sst2 only; see below). Flags you give win over the preset.")
@seed_option
@out_option
@overwrite_option
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out (or an interrupted --overwrite "
              "of it), skipping finished stages; other settings than the run's are refused.")
def pipeline(out, overwrite, resume, seed, teacher_init, max_len, preset, **kw):
    """Run data -> teacher -> student -> distill -> export -> bench into --out.

    \b
    Per-dataset settings, in place of the defaults shown below (a flag you give wins):
      sst2        teacher: 2 epochs at a peak lr of 5e-5
      sst5, sst3  teacher: 3 epochs
      imdb        teacher: 128 tokens, head+tail; student: 400 tokens, 30000 words;
                  25000 unlabeled reviews
    \b
    --preset quality, over those (measured cold times: README, "Presets"):
      sst2        teacher: 3 epochs at 5e-5, layer-wise LR decay 0.9;
                  student: bilstm, 32000 words
    """
    quiet_tensorflow()
    from kdedge.pipeline import run_pipeline
    cfg = pipeline_config(seed, teacher_init, max_len, preset, **kw)
    report = run_pipeline(out, cfg, overwrite=overwrite, resume=resume)
    for r in report["models"]:
        click.echo(f"{r['name']:18s} {r['bytes'] / 1e6:8.3f} MB  acc {r['accuracy']:.4f}  "
                   f"p50 {r['latency']['p50_ms']:.3f} ms")


@cli.command()
@click.argument("model")
@click.argument("texts", nargs=-1)
@click.option("--file", "file", help="Also classify each line of this UTF-8 file ('-' reads standard input).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True,
              help="jsonl: one JSON object per text (label, score, every label's probability); table: aligned "
                   "columns for a terminal.")
@click.option("--top-k", type=int, default=None, help="Keep the K best labels per text (default: all).")
@click.option("--threads", type=int, default=1, show_default=True, help="LiteRT interpreter threads.")
def predict(model, texts, file, fmt, top_k, threads):
    """Classify TEXTS (and --file lines) with a student .tflite written by `kdedge export`.

    The tokenizer and the label names come from the file's own metadata, the same that
    MediaPipe Tasks reads; nothing else is needed. Imports no TensorFlow.
    """
    import json

    from kdedge.classifier import TextClassifier

    if top_k is not None and top_k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {top_k}")
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    texts = list(texts)
    for i, text in enumerate(texts, start=1):  # argv bytes that are not UTF-8 arrive as lone surrogates
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ConfigError(f"TEXT argument {i} is not valid UTF-8 (at character {e.start})") from None
    if file is not None:
        try:
            raw = sys.stdin.buffer.read() if file == "-" else open(file, "rb").read()
        except OSError as e:
            raise ConfigError(f"--file {file}: {e.strerror}") from None
        try:
            content = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = raw[:e.start].count(b"\n") + 1
            raise ConfigError(f"--file {file}:{line}: not valid UTF-8") from None
        texts += [line for line in content.split("\n") if line.strip()]
    if not texts:
        raise click.UsageError("give TEXT arguments or --file (nothing to classify)")
    clf = TextClassifier(model, num_threads=threads)
    results = clf.classify(texts, top_k=top_k)
    if fmt == "jsonl":
        for text, cats in zip(texts, results):
            click.echo(json.dumps({"text": text, "label": cats[0].label, "score": round(cats[0].score, 6),
                                   "scores": {c.label: round(c.score, 6) for c in cats}}, ensure_ascii=False))
        return
    width = min(60, max(len(t) for t in texts))
    click.echo(f"{'text':{width}s}  {'label':16s}  score")
    for text, cats in zip(texts, results):
        shown = text if len(text) <= width else text[:width - 1] + "…"
        others = "  ".join(f"{c.label} {c.score:.3f}" for c in cats[1:])
        click.echo(f"{shown:{width}s}  {cats[0].label:16s}  {cats[0].score:.3f}  {others}".rstrip())


@cli.command()
@click.argument("model")
@options(ServeConfig)
def serve(model, **kw):
    """Serve MODEL (a student .tflite, or a `kdedge export` folder) over HTTP, with a web page.

    POST /v1/classify {"texts": [...]} answers with each text's label and probabilities (the
    numbers `kdedge predict` gives); GET / is a page that classifies in the browser with
    MediaPipe Tasks for Web (installed by `npm ci --prefix kdedge/serve/web`) or through the
    API; /healthz, /readyz, /metrics (Prometheus) and /openapi.json are there too. From an
    export folder the int8 student is served. Imports no TensorFlow. SIGTERM finishes the
    requests in flight, then stops.
    """
    from kdedge.serve.config import served_file
    from kdedge.serve.server import serve as run_serve

    cfg = build(ServeConfig, kw)
    cfg.validate()
    run_serve(served_file(model), cfg)


@cli.command()
@folder_option("--export-dir", "export_dir", "The `kdedge export` folder whose .tflite files are explained.  "
               "[required]")
@folder_option("--teacher-dir", "teacher_dir", "The `kdedge teacher` folder (the teacher explained).  [required]")
@distill_dir_option
@click.option("--data", "data_dir", default=None, help="The `kdedge data` folder: its eval split is sampled when "
              "no --text / --file is given.")
@click.option("--text", "texts", multiple=True, help="A text to explain (repeatable).")
@click.option("--file", "file", default=None, help="Explain each non-empty line of this UTF-8 file.")
@options(ExplainConfig)
@seed_option
@out_option
@overwrite_option
def explain(data_dir, texts, file, out, overwrite, seed, **kw):
    """Why did it say that? Word attributions of the teacher, the distilled student, its labels-only
    twin (Integrated Gradients) and the exported .tflite files (Shapley values), how faithful they are
    (comprehensiveness, sufficiency, AOPC against a random ranking) and how much they agree (Spearman,
    top-k and sign agreement against a permutation baseline); report.md, explain.html, plots."""
    quiet_tensorflow()
    from kdedge.stages.explain import run_explain
    cfg = build(ExplainConfig, kw, seed=seed)
    cfg.validate()
    export_dir = folder(kw, "export_dir", "--export-dir")
    teacher_dir = folder(kw, "teacher_dir", "--teacher-dir")
    distill_dir = folder(kw, "distill_dir", "--distill-dir")
    chosen = list(texts)
    if file is not None:
        try:
            content = open(file, "rb").read().decode("utf-8-sig")
        except OSError as e:
            raise ConfigError(f"--file {file}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"--file {file}: not valid UTF-8") from None
        chosen += [line for line in content.split("\n") if line.strip()]
    if not chosen and data_dir is None:
        raise ConfigError("give --data (its eval split is sampled), or --text / --file")
    if data_dir is not None:
        input_dir(data_dir, "--data")
    with fresh_out(out, overwrite) as folder_:
        summary = run_explain(export_dir, data_dir, teacher_dir, distill_dir, folder_, cfg, texts=chosen or None)
    out = Path(out)
    for name, f in summary["faithfulness"].items():
        click.echo(f"{name:18s} {f['method']:20s} AOPC comprehensiveness {f['aopc_comprehensiveness']:.4f} "
                   f"(random {f['random_aopc_comprehensiveness']:.4f})")
    click.echo(f"report: {out / 'report.md'}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; known errors exit 2 with one line."""
    try:
        cli.main(args=argv, prog_name="kdedge", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("kdedge: aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        click.echo(f"kdedge: error: {e.format_message()}", err=True)
        sys.exit(2)
    except KdedgeError as e:
        click.echo(f"kdedge: error: {e}", err=True)
        sys.exit(2)
    except OSError as e:  # the machine, not the input: a full disk, a folder gone mid-run; KDEDGE_DEBUG=1 shows it
        if os.environ.get("KDEDGE_DEBUG") == "1":
            raise
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        click.echo(f"kdedge: error: {e.strerror or e}{where}", err=True)
        sys.exit(1)
