"""Which op costs what: one-op models cut from a ``.tflite``, each timed on the values it sees in a real run.

LiteRT's Python interpreter has no op profiler, so this times ops one by one: the whole file runs once on
the eval text of median token count with every tensor kept (builtin kernels, so nothing is fused away);
then, for each operator of the main subgraph, a copy of the file whose graph is that operator alone (its
non-constant inputs made the graph's inputs, its outputs the graph's outputs; weights, quantization
parameters and op versions untouched) is loaded, fed the values that op saw, and timed. Each one-op model
is timed with the builtin kernels and with LiteRT's default delegate (XNNPACK), which is what the whole
file runs with by default; the whole file is timed both ways too, so the per-op sum can be read against it
(a one-op model pays one ``invoke()``'s fixed cost, shown as the cheapest op's time, and the delegate
fuses a whole file into one partition, so the sum is an upper bound).

Usage::

    python benchmarks/op_profile.py --data runs/sst2/data \\
        --file runs/sst2/export/student_float32.tflite --file runs/sst2/export/student_int8.tflite

writes ``benchmarks/results/<dataset>/op_profile.{json,md,png}``. One thread, as the bench stage's default.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from common import ROOT, write_named_report

from converters.flatbuffer import read_model, schema as tflite_schema, write_model
from kdedge.data.splits import iter_jsonl
from kdedge.io import write_figure, write_text
from kdedge.measure.machine import machine_info


def _litert():
    return importlib.import_module("ai_edge_litert.interpreter")


def op_names(schema) -> dict[int, str]:
    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def type_names(schema) -> dict[int, str]:
    return {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}


def interpreter(content: bytes, xnnpack: bool, preserve: bool = False, allocate: bool = True):
    mod = _litert()
    resolver = mod.OpResolverType.AUTO if xnnpack else mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = mod.Interpreter(model_content=content, num_threads=1, experimental_op_resolver_type=resolver,
                             experimental_preserve_all_tensors=preserve)
    if allocate:
        interp.allocate_tensors()
    return interp


def p50_us(interp, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        interp.invoke()
    times = np.empty(runs)
    clock = time.perf_counter_ns
    for i in range(runs):
        t0 = clock()
        interp.invoke()
        times[i] = clock() - t0
    return float(np.median(times) / 1000.0)


def median_text_ids(path: Path, data: Path, split: str) -> tuple[np.ndarray, str]:
    from kdedge import TextClassifier
    clf = TextClassifier(path, check=False)
    texts = [r["text"] for _, r in iter_jsonl(data / f"{split}.jsonl")]
    ids = clf.tokenizer.encode(texts)
    counts = (ids != 0).sum(axis=1)
    i = int(np.argsort(counts, kind="stable")[len(counts) // 2])
    return ids[i:i + 1], texts[i]


def profile(path: Path, ids: np.ndarray, runs: int, warmup: int) -> dict:
    schema = tflite_schema()
    names, types = op_names(schema), type_names(schema)
    content = path.read_bytes()
    full = interpreter(content, xnnpack=False, preserve=True)
    full.set_tensor(full.get_input_details()[0]["index"], ids)
    full.invoke()
    whole = {"builtin_us": p50_us(full, runs, warmup),
             "xnnpack_us": p50_us(_fed(interpreter(content, xnnpack=True), ids), runs, warmup)}
    model = read_model(content)
    graph = model.subgraphs[0]
    all_ops, graph_in, graph_out = graph.operators, graph.inputs, graph.outputs
    signatures, metadata = model.signatureDefs, model.metadata
    model.signatureDefs, model.metadata = [], []

    def constant(t: int) -> bool:
        b = graph.tensors[t].buffer
        return b > 0 and model.buffers[b].data is not None and len(model.buffers[b].data) > 0

    def describe(t: int) -> str:  # dtype[shape] as the full run saw it (the file may leave dims dynamic)
        try:
            shape = list(full.get_tensor(t).shape)
        except ValueError:
            shape = graph.tensors[t].shape
        return f"{types[graph.tensors[t].type]}{[int(d) for d in shape]}"

    rows = []
    try:
        for k, op in enumerate(all_ops):
            code = model.operatorCodes[op.opcodeIndex]
            name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
            ins = [t for t in op.inputs if t >= 0]
            feeds = [t for t in ins if not constant(t) and not graph.tensors[t].isVariable]
            row = {"index": k, "op": name, "version": code.version,
                   "inputs": [describe(t) for t in ins], "outputs": [describe(t) for t in op.outputs]}
            if op.intermediates is not None and len(op.intermediates) or any(graph.tensors[t].isVariable for t in ins):
                row["skipped"] = "op with state or intermediates (LSTM): not cut out alone"
                rows.append(row)
                continue
            graph.operators, graph.inputs, graph.outputs = [op], feeds, list(op.outputs)
            one = write_model(model, len(content))
            timings = {}
            for mode, xnn in (("builtin_us", False), ("xnnpack_us", True)):
                interp = interpreter(one, xnnpack=xnn, allocate=False)
                # The one-op model keeps the file's tensor list, so an input's index is its tensor's; the
                # full run's value may have a shape the file leaves dynamic (batch x length reshapes).
                values = {t: full.get_tensor(t) for t in feeds}
                for t, v in values.items():
                    interp.resize_tensor_input(t, v.shape)
                interp.allocate_tensors()
                for t, v in values.items():
                    interp.set_tensor(t, v)
                timings[mode] = p50_us(interp, runs, warmup)
            rows.append({**row, **timings})
    finally:
        graph.operators, graph.inputs, graph.outputs = all_ops, graph_in, graph_out
        model.signatureDefs, model.metadata = signatures, metadata
    timed = [r for r in rows if "builtin_us" in r]
    by_op = defaultdict(lambda: {"count": 0, "builtin_us": 0.0, "xnnpack_us": 0.0})
    for r in timed:
        g = by_op[r["op"]]
        g["count"] += 1
        g["builtin_us"] += r["builtin_us"]
        g["xnnpack_us"] += r["xnnpack_us"]
    floor = {m: min((r[m] for r in timed), default=None) for m in ("builtin_us", "xnnpack_us")}
    return {"file": str(path), "bytes": len(content), "whole": whole, "ops": rows,
            "by_op": dict(sorted(by_op.items(), key=lambda kv: -kv[1]["builtin_us"])),
            "sum": {m: sum(r[m] for r in timed) for m in ("builtin_us", "xnnpack_us")},
            "cheapest_op": floor}


def _fed(interp, ids):
    interp.set_tensor(interp.get_input_details()[0]["index"], ids)
    return interp


def label(f: dict) -> str:
    """``<run>/<file>``: the run folder tells two exports' ``student_float32.tflite`` apart."""
    path = Path(f["file"])
    return f"{path.parent.parent.name}/{path.name}" if path.parent.name == "export" else f"{path.parent.name}/{path.name}"


def render(r: dict) -> str:
    out = [f"# Op profile: {r['dataset']}", "", "```", r["command"], "```", "",
           f"- Input: the {r['split']} text of median token count ({r['tokens']} tokens): \"{r['text']}\".",
           f"- Machine: {r['machine'].get('cpu', '?')}, {r['machine'].get('cores', '?')} cores; 1 thread; "
           f"p50 of {r['runs']} `invoke()` calls after {r['warmup']} warm-up calls, per model.",
           "- Each op is cut out as a one-op model and fed the values it saw in a full run (module docstring). "
           "`builtin`: LiteRT's builtin kernels; `xnnpack`: with the default delegate (what a file runs with "
           "unless told otherwise). The per-op sum pays one `invoke()` per op (the cheapest op's time is "
           "about that floor), so it is an upper bound of the whole file's time.", ""]
    out += ["| file | size | whole, builtin µs | whole, XNNPACK µs | sum of ops, builtin µs | sum, XNNPACK µs "
            "| cheapest op, builtin µs |", "|---|---:|---:|---:|---:|---:|---:|"]
    for f in r["files"]:
        out.append(f"| {label(f)} | {f['bytes'] / 1e6:.3f} MB | {f['whole']['builtin_us']:.1f} | "
                   f"{f['whole']['xnnpack_us']:.1f} | {f['sum']['builtin_us']:.1f} | {f['sum']['xnnpack_us']:.1f} | "
                   f"{f['cheapest_op']['builtin_us']:.1f} |")
    for f in r["files"]:
        total = f["sum"]["builtin_us"] or 1.0
        out += ["", f"## {label(f)}", "", "By op type (builtin kernels, share of the per-op sum):", "",
                "| op | count | builtin µs | share | XNNPACK µs |", "|---|---:|---:|---:|---:|"]
        for name, g in f["by_op"].items():
            out.append(f"| {name} | {g['count']} | {g['builtin_us']:.1f} | {g['builtin_us'] / total:.0%} | "
                       f"{g['xnnpack_us']:.1f} |")
        out += ["", "<details><summary>every op</summary>", "",
                "| # | op (version) | inputs | outputs | builtin µs | XNNPACK µs |", "|---:|---|---|---|---:|---:|"]
        for o in f["ops"]:
            t = (f"{o['builtin_us']:.1f} | {o['xnnpack_us']:.1f}" if "builtin_us" in o else f"{o['skipped']} | –")
            out.append(f"| {o['index']} | {o['op']} (v{o['version']}) | {', '.join(o['inputs'])} | "
                       f"{', '.join(o['outputs'])} | {t} |")
        out += ["", "</details>"]
    return "\n".join(out) + "\n"


def plot(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    files = r["files"]
    ops = sorted({name for f in files for name in f["by_op"]},
                 key=lambda n: -max(f["by_op"].get(n, {"builtin_us": 0})["builtin_us"] for f in files))
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(files) + 1.8))
    left = np.zeros(len(files))
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(ops):
        w = np.array([f["by_op"].get(name, {"builtin_us": 0})["builtin_us"] for f in files])
        ax.barh(range(len(files)), w, left=left, color=cmap(i % 20), label=name)
        left += w
    ax.scatter([f["whole"]["builtin_us"] for f in files], range(len(files)), marker="|", s=300, color="k",
               label="whole file (builtin)", zorder=3)
    ax.set_yticks(range(len(files)), [label(f) for f in files], fontsize=8)
    ax.set_xlabel("µs per text, one thread (sum of one-op models, builtin kernels)")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    ax.set_title("Which op costs what")
    write_figure(path, fig)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", action="append", default=[], type=Path,
                   help="a self-describing student .tflite (kdedge export); repeatable")
    p.add_argument("--data", type=Path, help="the kdedge data folder whose texts feed the models")
    p.add_argument("--split", default="eval", help="which split's median-length text is the input (default eval)")
    p.add_argument("--runs", type=int, default=400, help="timed invoke() calls per model (default 400)")
    p.add_argument("--warmup", type=int, default=50, help="untimed calls before them (default 50)")
    p.add_argument("--results", type=Path, default=None, help="default benchmarks/results/<dataset>")
    p.add_argument("--name", default="op_profile", help="report file stem (default op_profile)")
    p.add_argument("--render", type=Path, default=None,
                   help="re-render this op_profile.json's .md and .png (no timing; --file and --data unused)")
    args = p.parse_args()
    if args.render:
        report = json.loads(args.render.read_text())
        write_text(args.render.with_suffix(".md"), render(report))
        plot(report, args.render.with_suffix(".png"))
        return 0
    if not args.file or args.data is None:
        p.error("--file (at least one) and --data are required")
    for f in args.file:
        if not f.is_file():
            p.error(f"--file {f}: no such file")
    dataset = json.loads((args.data / "config.json").read_text())["dataset"]
    files, first = [], None
    for f in args.file:  # each file tokenizes with its own vocabulary; the report names the first one's text
        f_ids, f_text = median_text_ids(f, args.data, args.split)
        first = first or (f_ids, f_text)
        print(f"profiling {f} ...", file=sys.stderr, flush=True)
        files.append(profile(f, f_ids, args.runs, args.warmup))
    ids, text = first
    report = {"dataset": dataset, "command": "python benchmarks/op_profile.py " + shlex.join(sys.argv[1:]),
              "split": args.split, "text": text, "tokens": int((ids != 0).sum()), "runs": args.runs,
              "warmup": args.warmup, "machine": machine_info(), "files": files}
    results = args.results or ROOT / "benchmarks" / "results" / dataset
    plot(report, results / f"{args.name}.png")
    write_named_report(results, args.name, report, render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
