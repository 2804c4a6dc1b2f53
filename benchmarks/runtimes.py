"""Runtime-compatibility matrix: does each shipped ``.tflite`` load, and give the same outputs, in the
runtimes an app might bundle?

For every file given (each arch × quantization mode) and every eval text, the reference is
**ai-edge-litert on this x86 machine** (kdedge's own runtime) on kdedge's token ids. The same file then
runs in:

- ``tflite-runtime-2.14`` — the 2023 ``tflite_runtime`` wheel (its own venv, numpy < 2): what older
  apps bundle; same token ids.
- ``litert-arm64`` — the aarch64 ai-edge-litert wheel in an arm64 Debian root, run under
  ``qemu-user-static`` (``chroot`` with binfmt): the phone's instruction set (NEON / dot-product
  XNNPACK kernels) without a phone; same token ids.
- ``mediapipe-python`` — MediaPipe Tasks ``TextClassifier`` (text in: it tokenizes from the metadata).
- ``mediapipe-web`` — MediaPipe Tasks for Web in headless Chromium (the ``kdedge serve`` page, driven by
  :class:`kdedge.serve.browser.PageDriver`); text in.
- ``nlclassifier-0.4.4`` — tflite-support 0.4.4's ``NLClassifier`` (own venv, protobuf < 4); text in.

Each runtime other than the browser runs in a child process per file (``benchmarks/runtimes/run_ids.py``
or ``run_text.py``), so a runtime that crashes on a file is a result, not the end of the run. A cell
records whether the file loaded (the runtime's own error line if not), the largest absolute output
difference from the reference (the files output probabilities), top-label agreement and the number of
texts. Each file's ``min_runtime_version`` (the converter's stamp in the flatbuffer metadata) and its
builtin op versions are listed beside it.

Usage (the venvs and the arm64 root are set up once by the commands in :data:`SETUP`, repeated in the report)::

    python benchmarks/runtimes.py --files runs/sst2/export/student_*.tflite --data runs/sst2/data \\
        --out benchmarks/results
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, write_named_report

HERE = Path(__file__).resolve().parent / "runtimes"
REFERENCE = "litert-x86"
RUNTIMES = ("tflite-runtime-2.14", "litert-arm64", "mediapipe-python", "mediapipe-web", "nlclassifier-0.4.4")
ARM64_STAGE = "/tmp/kdedge-runtimes"  # inside the arm64 root

# How the foreign runtimes were installed (Debian 12 host, root). Written into the report verbatim.
SETUP = """\
python3.11 -m venv /work/venvs/tflrt && /work/venvs/tflrt/bin/pip install tflite-runtime==2.14.0 'numpy<2'
python3.11 -m venv /work/venvs/tfls && /work/venvs/tfls/bin/pip install tflite-support==0.4.4 'numpy<2'  # brings protobuf 3.20.3
apt-get install -y libusb-1.0-0                       # tflite-support 0.4.4's .so links libusb (else: ImportError)
apt-get install -y qemu-user-static debootstrap binfmt-support
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && update-binfmts --enable qemu-aarch64   # in a container
debootstrap --arch=arm64 --foreign --variant=minbase bookworm /work/arm64root http://deb.debian.org/debian
cp /usr/bin/qemu-aarch64-static /work/arm64root/usr/bin/
chroot /work/arm64root /debootstrap/debootstrap --second-stage
cp /etc/resolv.conf /work/arm64root/etc/
cp /usr/local/share/ca-certificates/*.crt /work/arm64root/usr/local/share/ca-certificates/   # this network's TLS proxy CA
chroot /work/arm64root sh -c 'apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \\
    && update-ca-certificates && python3 -m venv /opt/litert \\
    && /opt/litert/bin/pip install --cert /etc/ssl/certs/ca-certificates.crt ai-edge-litert==2.3.0 numpy==2.4.6'
npm ci --prefix kdedge/serve/web && apt-get install -y chromium   # MediaPipe Web (README)"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--files", type=Path, nargs="+", required=True,
                    help="student .tflite files with kdedge metadata (each arch x mode)")
    ap.add_argument("--data", type=Path, required=True, help="a data stage folder (eval.jsonl: the texts)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="report folder (default: %(default)s)")
    ap.add_argument("--runtimes", default=",".join(RUNTIMES), help="comma-separated (default: %(default)s)")
    ap.add_argument("--max-eval", type=int, default=None, help="a seeded sample of the eval texts (default: all)")
    ap.add_argument("--arm64-max-eval", type=int, default=None,
                    help="the first N of those texts under emulation (default: all)")
    ap.add_argument("--tflite-runtime-python", default="/work/venvs/tflrt/bin/python",
                    help="python of the tflite-runtime 2.14 venv (default: %(default)s)")
    ap.add_argument("--tflite-support-python", default="/work/venvs/tfls/bin/python",
                    help="python of the tflite-support 0.4.4 venv (default: %(default)s)")
    ap.add_argument("--arm64-root", type=Path, default=Path("/work/arm64root"),
                    help="the arm64 Debian root (default: %(default)s)")
    ap.add_argument("--arm64-python", default="/opt/litert/bin/python",
                    help="python with ai-edge-litert inside that root (default: %(default)s)")
    ap.add_argument("--arm64-cpus", default="cortex-a76",
                    help="comma-separated QEMU_CPU models to emulate, one column each (default: %(default)s, a\n"
                         "common phone core with dot-product; e.g. cortex-a76,cortex-a55,max)")
    ap.add_argument("--arm64-qemu", type=Path, default=None,
                    help="a qemu-aarch64 binary to run the arm64 root with (copied into it, -cpu CPU), instead\n"
                         "of binfmt's registered qemu-user-static; e.g. Debian trixie's QEMU 10 (default: binfmt)")
    ap.add_argument("--converter-check", type=Path, default=None, metavar="KERAS",
                    help="a distilled student.keras (its tokenizer.json beside it): convert it dynamic-range with\n"
                         "each setting of CONVERTER_VARIANTS and report op versions, min_runtime_version,\n"
                         "tflite-runtime 2.14 loading and dev accuracy (default: skip)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per child run (default: %(default)s)")
    args = ap.parse_args()

    from kdedge.measure.quality import labeled_eval

    runtimes = [r for r in args.runtimes.split(",") if r]
    unknown = sorted(set(runtimes) - set(RUNTIMES))
    if unknown:
        print(f"runtimes: unknown --runtimes {','.join(unknown)} (choose from {','.join(RUNTIMES)})", file=sys.stderr)
        return 2
    texts, gold, _ = labeled_eval(args.data, args.max_eval)
    args.out.mkdir(parents=True, exist_ok=True)
    files, cells, environments = [], [], {}
    with tempfile.TemporaryDirectory(prefix="kdedge-runtimes-") as tmp:
        work = Path(tmp)
        for path in args.files:
            f = describe(path)
            ids = tokenize(path, texts, work)
            f["ids"] = str(ids)
            files.append(f)
        for f in files:
            print(f"[runtimes] {f['key']}: {REFERENCE}", file=sys.stderr, flush=True)
            ref = run_child([sys.executable, str(HERE / "run_ids.py"), "ai_edge_litert", f["path"], f["ids"]],
                            work / f"{f['slug']}.{REFERENCE}.npy", args.timeout)
            environments.setdefault(REFERENCE, env_of(ref))
            f["reference"] = cell(f, REFERENCE, ref, None, gold)
            f["_ref"] = ref.pop("_out", None)
            cells.append(f["reference"])
        for runtime in runtimes:
            for column, runner in expand(runtime, args):
                for f in files:
                    print(f"[runtimes] {f['key']}: {column}", file=sys.stderr, flush=True)
                    got = runner(f, texts, work, args)
                    environments.setdefault(column, env_of(got))
                    cells.append(cell(f, column, got, f["_ref"], gold))
        for f in files:
            for k in ("ids", "_ref", "reference", "slug"):
                f.pop(k, None)
        report = matrix_report(args, texts, environments, files, cells)
        write_named_report(args.out, "runtimes", report, markdown(report))  # the matrix, before the check
        if args.converter_check:
            try:
                report["converter_check"] = converter_check(args.converter_check, texts, gold, work, args)
            except Exception as e:  # noqa: BLE001 - recorded; the matrix above stands
                report["converter_check"] = {"keras": str(args.converter_check), "error": f"{type(e).__name__}: {e}"}
            write_named_report(args.out, "runtimes", report, markdown(report))
    return 0


def matrix_report(args, texts, environments, files, cells) -> dict:
    report = {"schema": "kdedge-runtimes/1",
              "command": "python benchmarks/runtimes.py " + shlex.join(sys.argv[1:]),
              "setup": SETUP, "eval": {"split": str(args.data / "eval.jsonl"), "examples": len(texts)},
              "reference": REFERENCE, "environments": environments, "files": files, "cells": cells,
              "date": time.strftime("%Y-%m-%d"), "tensorflow": _tf_version()}
    report["arm64_agrees"] = arm64_verdict(cells)
    return report


def _tf_version() -> str:
    import tensorflow as tf
    return tf.__version__


# --- the files -----------------------------------------------------------------------------------------

def describe(path: Path) -> dict:
    """Name, arch, mode, size, sha256, metadata labels, min_runtime_version and builtin op versions.

    A file whose metadata names its dataset ``..., tiny`` (``runtimes/make_tiny.py``) is marked tiny."""
    from kdedge.classifier import model_metadata_buffer, read_classifier_metadata

    content = path.read_bytes()
    info = read_classifier_metadata(content, str(path))
    named = re.match(r"kdedge (\w+) text classifier \((.*)\)", info.name or "")
    arch, tiny = (named[1], "tiny" in named[2]) if named else ("?", False)
    mode = path.stem.split("_", 1)[-1]
    raw = model_metadata_buffer(content, "min_runtime_version")
    key = f"{arch}{' (tiny)' if tiny else ''} / {mode}"
    return {"key": key, "arch": arch, "mode": mode, "tiny": tiny, "path": str(path),
            "slug": re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_"),
            "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest(), "labels": info.labels,
            "output": info.output,
            "min_runtime_version": raw.rstrip(b"\0").decode() if raw else None, "ops": op_versions(content)}


def op_versions(content: bytes) -> list[str]:
    """``["CONV_2D v3", ...]``: each operator code of the file (builtin name and version)."""
    from tensorflow.lite.python import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(content, 0)
    out = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        op = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        out.append(f"{names.get(op, op)} v{code.Version()}")
    return sorted(set(out))


def tokenize(path: Path, texts: list[str], work: Path) -> Path:
    """kdedge's token ids of ``texts`` for this file (its metadata's tokenizer), saved once per tokenizer."""
    from kdedge import TextClassifier

    clf = TextClassifier(path, check=False)
    key = hashlib.sha256(clf.info.vocab + clf.info.delim_regex.encode() + str(clf.max_len).encode()).hexdigest()
    out = work / f"ids-{key[:12]}.npy"
    if not out.exists():
        np.save(out, clf.tokenizer.encode(texts).astype(np.int32))
    return out


# --- the runtimes ----------------------------------------------------------------------------------------

def expand(runtime: str, args) -> list[tuple[str, object]]:
    """(column name, runner) pairs of one ``--runtimes`` entry (the arm64 one gives one per ``--arm64-cpus``)."""
    if runtime == "tflite-runtime-2.14":
        return [(runtime, lambda f, texts, work, a: run_child(
            [a.tflite_runtime_python, str(HERE / "run_ids.py"), "tflite_runtime", f["path"], f["ids"]],
            work / f"{f['slug']}.tflrt.npy", a.timeout))]
    if runtime == "litert-arm64":
        cpus = [c for c in args.arm64_cpus.split(",") if c]
        return [(f"{runtime}" + ("" if cpu == "max" else f"-{cpu}"),
                 lambda f, texts, work, a, cpu=cpu: run_arm64(f, work, a, cpu)) for cpu in cpus]
    if runtime == "mediapipe-python":
        return [(runtime, lambda f, texts, work, a: run_text(sys.executable, "mediapipe", f, texts, work, a))]
    if runtime == "nlclassifier-0.4.4":
        return [(runtime, lambda f, texts, work, a: run_text(a.tflite_support_python, "tflite_support", f, texts,
                                                             work, a))]
    if runtime == "mediapipe-web":
        return [(runtime, lambda f, texts, work, a: run_web(f, texts, work))]
    raise ValueError(runtime)


def run_child(cmd: list[str], out: Path, timeout: float, env: dict | None = None) -> dict:
    """Run a ``runtimes/`` child (its output array to ``out``); its JSON line, with ``_out`` the array."""
    cmd = [*cmd, str(out)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except FileNotFoundError as e:
        return {"loaded": False, "stage": "setup", "error": f"{e.strerror}: {e.filename}"}
    except subprocess.TimeoutExpired:
        return {"loaded": False, "stage": "timeout", "error": f"no answer in {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = [line for line in proc.stderr.splitlines() if line.strip()][-1:] or [""]
        return {"loaded": False, "stage": "crash", "error": f"exit {proc.returncode}: {tail[0][:400]}"}
    result = json.loads(lines[-1])
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    if result.get("error"):
        # TFLite prints the kernel's own reason ("ERROR: Div only supports ...") before the generic one.
        detail = [line.strip() for line in proc.stderr.splitlines() if line.startswith("ERROR:")]
        detail = [d for d in dict.fromkeys(detail) if d[len("ERROR: "):] not in result["error"]]
        if detail:
            result["error"] += " — " + " ".join(detail)[:400]
    if out.exists():
        result["_out"] = np.load(out)
    return result


def run_text(python: str, library: str, f: dict, texts: list[str], work: Path, args) -> dict:
    job = work / "texts.json"
    if not job.exists() or json.loads(job.read_text())["labels"] != f["labels"]:
        job.write_text(json.dumps({"texts": texts, "labels": f["labels"]}))
    return run_child([python, str(HERE / "run_text.py"), library, f["path"], str(job)],
                     work / f"{f['slug']}.{library}.npy", args.timeout)


# MIDR part numbers (Arm Ltd, implementer 0x41) of the QEMU_CPU models a phone has; "max" has none.
ARM_PARTS = {"cortex-a53": 0xD03, "cortex-a55": 0xD05, "cortex-a57": 0xD07, "cortex-a72": 0xD08,
             "cortex-a76": 0xD0B, "neoverse-n1": 0xD0C, "cortex-a710": 0xD47, "neoverse-v1": 0xD40}
HWCAP = ("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop "
         "sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg").split()
HWCAP2 = ("dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svef32mm svef64mm svebf16 "
          "i8mm bf16 dgh rng bti mte").split()
PROBE = "import ctypes; g = ctypes.CDLL(None).getauxval; g.restype = ctypes.c_ulong; print(g(16), g(26))"


def arm64_prefix(root: Path, qemu: Path | None, cpu: str) -> tuple[list[str], dict]:
    """How to start an aarch64 program in ``root``: through binfmt's registered qemu with ``QEMU_CPU``, or
    through the given ``qemu-aarch64`` binary (copied into the root) with ``-cpu``."""
    import os
    if qemu is None:
        return ["chroot", str(root)], {**os.environ, "QEMU_CPU": cpu}
    inside = root / "kdedge-qemu-aarch64"
    if not inside.exists() or inside.read_bytes() != qemu.read_bytes():
        shutil.copy(qemu, inside)
    return ["chroot", str(root), "/kdedge-qemu-aarch64", "-cpu", cpu], dict(os.environ)


@functools.lru_cache(maxsize=None)
def arm64_cpu_features(root: Path, python: str, cpu: str, qemu: Path | None = None) -> tuple[str, ...]:
    """The features the emulated CPU reports (its ``AT_HWCAP`` / ``AT_HWCAP2``, read inside the root); read
    once per CPU model (a start of Python under qemu costs seconds).

    Raises:
        RuntimeError: the probe printed no feature words (the CPU model is unknown to this qemu, ...).
    """
    prefix, env = arm64_prefix(root, qemu, cpu)
    got = subprocess.run([*prefix, python, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    try:
        hwcap, hwcap2 = (int(x) for x in got.stdout.split())
    except ValueError:
        raise RuntimeError(f"reading the CPU features under QEMU_CPU={cpu} failed: "
                           f"{(got.stderr.strip().splitlines() or ['no output'])[-1][:300]}") from None
    return tuple([n for i, n in enumerate(HWCAP) if hwcap >> i & 1] + [n for i, n in enumerate(HWCAP2) if hwcap2 >> i & 1])


def arm64_cpu_files(root: Path, python: str, cpu: str, qemu: Path | None = None) -> str:
    """Write the ``/sys`` CPU lists and the ``/proc/cpuinfo`` of QEMU_CPU=``cpu`` into the arm64 root.

    XNNPACK (LiteRT's default delegate, what a phone runs) asks the cpuinfo library which kernels the CPU
    can run. In a bare chroot cpuinfo finds no ``/sys/devices/system/cpu/{possible,present}`` and XNNPACK
    quietly stays out: every file then runs on the builtin kernels (float outputs bitwise equal with and
    without the delegate, measured), not what a phone runs. Binding the host's ``/proc`` instead crashes
    it (an x86 cpuinfo under qemu). So the files are written: one CPU, the features the emulated CPU
    reports (:func:`arm64_cpu_features`) and its MIDR part number. Returns the feature list.
    """
    cpus = root / "sys" / "devices" / "system" / "cpu"
    cpus.mkdir(parents=True, exist_ok=True)
    for name in ("possible", "present", "online"):
        (cpus / name).write_text("0\n")
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc" / "cpuinfo").unlink(missing_ok=True)  # the probe must not read another CPU's file
    features = arm64_cpu_features(root, python, cpu, qemu)
    part = ARM_PARTS.get(cpu, 0)
    (root / "proc" / "cpuinfo").write_text(
        f"processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: {' '.join(features)}\nCPU implementer\t: 0x41\n"
        f"CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: {part:#05x}\nCPU revision\t: 0\n\n")
    return " ".join(features)


def run_arm64(f: dict, work: Path, args, cpu: str) -> dict:
    """``run_ids.py`` with the aarch64 ai-edge-litert, in the arm64 root under qemu (binfmt + chroot)."""
    root = args.arm64_root
    if not (root / args.arm64_python.lstrip("/")).exists():
        return {"loaded": False, "stage": "setup", "error": f"no {args.arm64_python} in {root} (see the setup steps)"}
    try:
        features = arm64_cpu_files(root, args.arm64_python, cpu, args.arm64_qemu)
    except (RuntimeError, OSError) as e:
        return {"loaded": False, "stage": "setup", "error": str(e), "qemu_cpu": cpu}
    stage = root / ARM64_STAGE.lstrip("/")
    stage.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "run_ids.py", stage / "run_ids.py")
    model = stage / f"{f['slug']}.tflite"
    shutil.copy(f["path"], model)
    ids = np.load(f["ids"])
    if args.arm64_max_eval:
        ids = ids[:args.arm64_max_eval]
    np.save(stage / "ids.npy", ids)
    out = stage / f"{f['slug']}.out.npy"
    prefix, env = arm64_prefix(root, args.arm64_qemu, cpu)
    got = run_child([*prefix, args.arm64_python, f"{ARM64_STAGE}/run_ids.py", "ai_edge_litert",
                     f"{ARM64_STAGE}/{model.name}", f"{ARM64_STAGE}/ids.npy"], Path(f"{ARM64_STAGE}/{out.name}"),
                    args.timeout, env=env)
    if out.exists():
        got["_out"] = np.load(out)
    got["qemu_cpu"] = cpu
    got["qemu"] = str(args.arm64_qemu) if args.arm64_qemu else "binfmt (qemu-user-static)"
    got["cpu_features"] = features
    for p in (model, out):
        p.unlink(missing_ok=True)
    return got


def run_web(f: dict, texts: list[str], work: Path) -> dict:
    """MediaPipe Tasks for Web in headless Chromium: the ``kdedge serve`` page on this file (text in)."""
    from kdedge.serve.browser import PageDriver
    from kdedge.serve.process import running_server

    info = {"runtime": "mediapipe-web", "loaded": False, "stage": None, "error": None, "rows": 0}
    t0 = time.perf_counter()
    try:
        with running_server(f["path"], work / "serve.log", "--max-chars", str(max(map(len, texts)) + 1)) as (url, _):
            with PageDriver(url + "/") as page:
                info.update(version="Chromium " + str(page.opened["browser"]), machine="WASM (x86_64 host)")
                ready = page.opened["ready"]
                if not ready.get("local"):
                    info.update(stage="load", error=f"the page's MediaPipe TextClassifier: {ready.get('error')}")
                    return info
                info["loaded"] = True
                got = page.classify(texts)["local"]
        errors = [g["error"] for g in got if "error" in g]
        if errors:
            info.update(stage="invoke", error=f"{len(errors)} texts failed: {errors[0]}")
            return info
        info["_out"] = np.array([[g["scores"][k] for k in f["labels"]] for g in got], dtype=np.float32)
        info["rows"] = len(got)
    except Exception as e:  # noqa: BLE001 - a runtime that fails is a result
        info.update(stage=info["stage"] or "setup", error=f"{type(e).__name__}: {str(e).strip().splitlines()[0][:400]}")
    info["wall_s"] = round(time.perf_counter() - t0, 1)
    return info


# --- a converter setting for older runtimes ---------------------------------------------------------------

# Dynamic-range settings of TF's converter tried by --converter-check. kdedge's dynamic mode
# (converters/keras_to_tflite.py) is the first: Optimize.DEFAULT, builtin ops.
CONVERTER_VARIANTS = {
    "float32 (no quantization)": None,
    "dynamic, as kdedge exports it": {},
    "dynamic, per-tensor dense weights": {"_experimental_disable_per_channel_quantization_for_dense_layers": True},
    "dynamic, per-tensor everywhere": {"_experimental_disable_per_channel": True},
}


def converter_check(keras: Path, texts: list[str], gold: np.ndarray, work: Path, args) -> dict:
    """Each :data:`CONVERTER_VARIANTS` conversion of ``keras`` (with its softmax, as export adds it): op
    versions, min_runtime_version, whether tflite-runtime 2.14 loads and runs it, dev accuracy and
    agreement with the float32 conversion (ai-edge-litert x86, kdedge's ids)."""
    import tensorflow as tf

    from kdedge.classifier import model_metadata_buffer
    from kdedge.models.student import load_student
    from kdedge.stages.export import with_softmax
    from kdedge.text.tokenizer import load_tokenizer

    model = with_softmax(load_student(keras))
    ids = work / "converter-ids.npy"
    np.save(ids, load_tokenizer(keras.parent / "tokenizer.json").encode(texts).astype(np.int32))
    rows, float_out = [], None
    for name, settings in CONVERTER_VARIANTS.items():
        print(f"[runtimes] converter check: {name}", file=sys.stderr, flush=True)
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if settings is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            for key, value in settings.items():
                setattr(converter, key, value)
        content = converter.convert()
        path = work / f"converter-{len(rows)}.tflite"
        path.write_bytes(content)
        raw = model_metadata_buffer(content, "min_runtime_version")
        row = {"variant": name, "settings": settings, "bytes": len(content), "ops": op_versions(content),
               "min_runtime_version": raw.rstrip(b"\0").decode() if raw else None}
        ours = run_child([sys.executable, str(HERE / "run_ids.py"), "ai_edge_litert", str(path), str(ids)],
                         work / f"converter-{len(rows)}.x86.npy", args.timeout)
        old = run_child([args.tflite_runtime_python, str(HERE / "run_ids.py"), "tflite_runtime", str(path), str(ids)],
                        work / f"converter-{len(rows)}.tflrt.npy", args.timeout)
        out = ours.get("_out")
        if settings is None:
            float_out = out
        row["tflite_runtime_2_14"] = "runs" if old.get("_out") is not None else f"{old.get('stage')}: {old.get('error')}"
        if out is not None:
            row["accuracy"] = float((out.argmax(1) == gold).mean())
            if float_out is not None:
                row["max_abs_diff_vs_float32"] = float(np.abs(out - float_out).max())
                row["agreement_with_float32"] = float((out.argmax(1) == float_out.argmax(1)).mean())
            if old.get("_out") is not None:
                row["max_abs_diff_2_14_vs_litert"] = float(np.abs(old["_out"] - out).max())
        rows.append(row)
    return {"keras": str(keras), "examples": len(texts), "rows": rows}


# --- cells and the report -------------------------------------------------------------------------------

def env_of(result: dict) -> dict:
    return {k: result.get(k) for k in ("runtime", "version", "machine", "python", "numpy", "qemu", "qemu_cpu",
                                  "cpu_features")
            if result.get(k)}


def cell(f: dict, column: str, got: dict, ref: np.ndarray | None, gold: np.ndarray) -> dict:
    out = got.get("_out")
    c = {"file": f["key"], "runtime": column, "loaded": bool(got.get("loaded")), "ran": out is not None,
         "stage": got.get("stage"), "error": got.get("error"), "n": 0 if out is None else int(len(out)),
         "wall_s": got.get("wall_s")}
    if out is not None:
        n = len(out)
        c["accuracy"] = float((out.argmax(1) == gold[:n]).mean())
        if ref is not None:
            c["max_abs_diff"] = float(np.nanmax(np.abs(out - ref[:n])))
            c["label_agreement"] = float((out.argmax(1) == ref[:n].argmax(1)).mean())
    return c


def arm64_verdict(cells: list[dict]) -> dict:
    """The issue's target: the emulated arm64 run's labels equal x86's on every text of every file."""
    arm = [c for c in cells if c["runtime"].startswith("litert-arm64")]
    ran = [c for c in arm if c["ran"]]
    return {"files": len(arm), "ran": len(ran),
            "min_label_agreement": min((c["label_agreement"] for c in ran), default=None),
            "max_abs_diff": max((c["max_abs_diff"] for c in ran), default=None),
            "met": bool(ran) and len(ran) == len(arm) and all(c["label_agreement"] == 1.0 for c in ran)}


def _fmt(c: dict | None) -> str:
    if c is None:
        return "—"
    if not c["ran"]:
        what = {"load": "does not load", "invoke": "loads, invoke fails", "import": "runtime missing",
                "setup": "not set up", "crash": "crashes", "timeout": "timeout"}.get(c["stage"], "fails")
        return f"**{what}**"
    if "max_abs_diff" not in c:
        return f"ref (n={c['n']})"
    return f"{c['max_abs_diff']:.1e} / {100 * c['label_agreement']:.2f}% (n={c['n']})"


def markdown(r: dict) -> str:
    files, cells = r["files"], r["cells"]
    columns = list(dict.fromkeys(c["runtime"] for c in cells))
    by = {(c["file"], c["runtime"]): c for c in cells}
    env = r["environments"]
    lines = [f"# Runtime compatibility: {len(files)} student files × {len(columns)} runtimes, "
             f"{r['eval']['examples']} SST-2 dev texts", "",
             "```", r["command"], "```", "",
             f"Reference: `{REFERENCE}` = ai-edge-litert {env.get(REFERENCE, {}).get('version', '?')} on this x86 "
             "machine, kdedge's token ids, one text per `invoke()`, default op resolver (XNNPACK), 1 thread. "
             "Each cell: **max |Δ|** of the output probabilities against the reference on the same file / "
             "**top-label agreement** with it (n = texts). Raw runtimes get kdedge's token ids "
             "(`run_ids.py`); MediaPipe and NLClassifier get the texts and tokenize from the file's metadata "
             "(`run_text.py`, the browser through the `kdedge serve` page). A cell in bold did not run; "
             "the reason is below.", "",
             "| file | min_runtime_version | " + " | ".join(f"`{c}`" for c in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for f in files:
        lines.append(f"| {f['key']} | {f['min_runtime_version']} | "
                     + " | ".join(_fmt(by.get((f["key"], col))) for col in columns) + " |")
    failed = [c for c in cells if not c["ran"]]
    if failed:
        lines += ["", "## What failed, in the runtime's words", "", "| file | runtime | stage | error |",
                  "|---|---|---|---|"]
        lines += [f"| {c['file']} | `{c['runtime']}` | {c['stage']} | {c['error']} |".replace("\n", " ")
                  for c in failed]
    v = r["arm64_agrees"]
    if v["files"]:
        lines += ["", "## ARM64 (emulated) against x86", "",
                  f"Target: labels 100% on every file. {v['ran']} of {v['files']} file runs completed; lowest label "
                  f"agreement {100 * (v['min_label_agreement'] or 0):.2f}%, largest |Δ| "
                  f"{(v['max_abs_diff'] or 0):.2e} → **{'met' if v['met'] else 'NOT met'}**."]
    if r.get("converter_check", {}).get("error"):
        lines += ["", "## A converter setting for older runtimes", "", f"The check failed: {r['converter_check']['error']}"]
    elif r.get("converter_check"):
        k = r["converter_check"]
        lines += ["", "## A converter setting for older runtimes", "",
                  f"`--converter-check {k['keras']}`: the same Keras student converted with each setting (TF "
                  f"{r.get('tensorflow', '?')}), run on {k['examples']} dev texts by ai-edge-litert (x86) and by "
                  "tflite-runtime 2.14.", "",
                  "| conversion | bytes | min_runtime_version | FULLY_CONNECTED | tflite-runtime 2.14 | dev accuracy | "
                  "max abs diff vs float32 | agreement with float32 |", "|---|---:|---|---|---|---:|---:|---:|"]
        for row in k["rows"]:
            fc = ", ".join(o for o in row["ops"] if o.startswith("FULLY_CONNECTED")) or "—"
            lines.append(f"| {row['variant']} | {row['bytes']:,} | {row['min_runtime_version']} | {fc} | "
                         f"{row['tflite_runtime_2_14']} | "
                         + (f"{100 * row['accuracy']:.2f}%" if "accuracy" in row else "—") + " | "
                         + (f"{row['max_abs_diff_vs_float32']:.1e} | {100 * row['agreement_with_float32']:.2f}% |"
                            if "max_abs_diff_vs_float32" in row and row["settings"] is not None else "— | — |"))
    lines += ["", "## Runtimes", "", "| column | runtime | version | machine | python | numpy |",
              "|---|---|---|---|---|---|"]
    for col in columns:
        e = env.get(col, {})
        lines.append(f"| `{col}` | {e.get('runtime', '?')}{' (QEMU_CPU=' + e['qemu_cpu'] + ')' if e.get('qemu_cpu') else ''}"
                     f" | {e.get('version', '?')} | {e.get('machine', '?')} | {e.get('python', '?')} | "
                     f"{e.get('numpy', '?')} |")
    lines += ["", "## Files", "", "| file | bytes | sha256 | min_runtime_version | builtin ops (version) |",
              "|---|---:|---|---|---|"]
    lines += [f"| {f['key']} | {f['bytes']:,} | `{f['sha256'][:12]}` | {f['min_runtime_version']} | "
              f"{', '.join(f['ops'])} |" for f in files]
    lines += ["", "## Setup (once, as root on Debian 12)", "", "```bash", r["setup"], "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
