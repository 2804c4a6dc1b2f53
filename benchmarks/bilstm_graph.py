"""The bilstm's two export graphs side by side: fused LSTM op against the unrolled plain-op graph.

``kdedge export --lstm fused`` converts each LSTM direction into one UNIDIRECTIONAL_SEQUENCE_LSTM op;
``--lstm unrolled`` (the default) into ``max_len`` steps of FULLY_CONNECTED / ADD / LOGISTIC / TANH /
MUL ops. Same weights, same function. This script exports one distilled bilstm both ways (no teacher)
and measures, for every student file of both: size, op count, accuracy of the ``.tflite`` over the
whole eval split (LiteRT, one text per call), single-call latency (1 thread, XNNPACK on, real eval
ids at the file's length, rounds interleaved across the files, the median of the rounds' p50s), and
whether MediaPipe Tasks' own ``TextClassifier`` loads it; where it does, its label agreement with
``kdedge.TextClassifier`` over the whole eval split.

Usage::

    python benchmarks/bilstm_graph.py --distill runs/x/distill --data runs/x/data --work runs/x/graphs

writes ``benchmarks/results/<dataset>/bilstm_graph.{json,md,png}`` (``--out``, ``--stem`` to change).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import ROOT, mediapipe_classifier, mediapipe_scores, write_named_report

from kdedge.io import write_figure
from kdedge.measure.machine import machine_info
from kdedge.measure.timing import TimingPlan, time_invocations

GRAPHS = ("fused", "unrolled")
FILES = ("student_float32", "student_dynamic", "student_int8")


def export(distill: Path, data: Path, out: Path, graph: str) -> str:
    """``kdedge export --lstm graph`` into ``out`` unless it is there; the command."""
    cmd = ["kdedge", "export", "--distill-dir", str(distill), "--data", str(data), "--no-teacher",
           "--modes", "float32,dynamic,int8", "--lstm", graph, "--out", str(out)]
    if not (out / "manifest.json").is_file():
        subprocess.run(cmd, check=True)
    return shlex.join(cmd)


def stamped(path: Path, tokenizer, labels: list[str], dataset: str) -> Path:
    """A copy of ``path`` carrying the metadata export gives the unrolled files (export writes none for a fused
    LSTM, so this is how MediaPipe gets to try the fused graph)."""
    from kdedge.stages.export import _Card

    card = _Card(labels=labels, output="probabilities", arch="bilstm", dataset=dataset, author="kdedge",
                 license=None)
    out = path.with_name(path.stem + "_stamped.tflite")
    out.write_bytes(card.stamp(path.read_bytes(), tokenizer, path.name, "fused"))
    return out


def mediapipe_agreement(path: Path, texts: list[str]) -> dict:
    """MediaPipe's ``TextClassifier`` on ``path``: refused (first line of why) or its agreement with kdedge."""
    from kdedge import TextClassifier

    ours = TextClassifier(path)
    try:
        mp = mediapipe_classifier(path)
    except Exception as e:
        return {"loads": False, "why": str(e).splitlines()[0][:200]}
    try:
        p_ours = ours.probabilities(texts)
        p_mp = mediapipe_scores(mp, texts, p_ours.shape[1])
    finally:
        mp.close()
    return {"loads": True, "texts": len(texts), "label_agreement": float((p_mp.argmax(1) == p_ours.argmax(1)).mean()),
            "max_abs_prob_diff": float(np.abs(p_mp - p_ours).max())}


def op_count(path: Path) -> dict:
    from converters.flatbuffer import read_model, schema
    s = schema()
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    model = read_model(path.read_bytes())
    counts: dict[str, int] = {}
    for op in model.subgraphs[0].operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")
        counts[name] = counts.get(name, 0) + 1
    return {"ops": sum(counts.values()), "by_op": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--distill", type=Path, required=True, help="a kdedge distill folder of a bilstm student")
    ap.add_argument("--data", type=Path, required=True, help="its kdedge data folder (eval split scored)")
    ap.add_argument("--work", type=Path, required=True, help="where the two exports go (kept; reused if there)")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results/<dataset>)")
    ap.add_argument("--stem", default="bilstm_graph", help="report file names")
    ap.add_argument("--rounds", type=int, default=5, help="latency rounds, interleaved across the files")
    ap.add_argument("--runs", type=int, default=300, help="timed calls per file per round")
    ap.add_argument("--graphs", default=",".join(GRAPHS),
                    help="comma-separated graphs to export and measure (a merged student converts only unrolled)")
    args = ap.parse_args()
    graphs = [g for g in GRAPHS if g in args.graphs.split(",")]
    if not graphs or set(args.graphs.split(",")) - set(GRAPHS):
        ap.error(f"--graphs: comma-separated, from {', '.join(GRAPHS)}; got {args.graphs!r}")

    from kdedge.data import Split
    from kdedge.data.splits import read_label_names
    from kdedge.runtime import TFLiteModel
    from kdedge.text.tokenizer import load_tokenizer

    stats = json.loads((args.data / "stats.json").read_text())
    dataset = stats.get("dataset", "custom")
    out = args.out or ROOT / "benchmarks" / "results" / dataset
    commands = [export(args.distill, args.data, args.work / g, g) for g in graphs]
    evals = Split.from_jsonl(args.data / "eval.jsonl", "eval")
    tokenizer = load_tokenizer(args.work / "unrolled" / "tokenizer.json")
    ids = tokenizer.encode(evals.texts)
    gold = np.asarray(evals.labels)
    rows, models = [], {}
    for graph in graphs:
        manifest = {m["file"]: m for m in json.loads((args.work / graph / "manifest.json").read_text())["models"]}
        for name in FILES:
            path = args.work / graph / f"{name}.tflite"
            model = TFLiteModel(path, num_threads=1)
            preds = np.array([int(np.argmax(model({"input_ids": r[None, :]}))) for r in ids])
            models[(graph, name)] = model
            metadata = bool(manifest[path.name].get("metadata"))
            tried = path if metadata else stamped(path, tokenizer, read_label_names(args.data) or
                                                  ["negative", "positive"], dataset)
            rows.append({"graph": graph, "file": name, "bytes": path.stat().st_size, "metadata": metadata,
                         "accuracy": float((preds == gold).mean()), **op_count(path),
                         "mediapipe": mediapipe_agreement(tried, evals.texts), "p50_ms_rounds": []})
            print(f"{graph} {name}: acc {rows[-1]['accuracy']:.4f}", flush=True)
    feeds = [{"input_ids": r[None, :]} for r in ids[:args.runs]]
    plan = TimingPlan(warmup=20, min_runs=len(feeds), max_runs=len(feeds), time_cap_s=3600)  # exactly one pass
    for _ in range(args.rounds):
        for row in rows:
            row["p50_ms_rounds"].append(time_invocations(models[(row["graph"], row["file"])], feeds, plan)["p50_ms"])
    for row in rows:
        row["p50_ms"] = float(np.median(row["p50_ms_rounds"]))
    command = shlex.join([sys.executable.rsplit("/", 1)[-1], *sys.argv])
    report = {"command": command, "export_commands": commands, "machine": machine_info(),
              "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "dataset": dataset, "eval_examples": len(gold),
              "max_len": int(ids.shape[1]), "distill": str(args.distill), "graphs": graphs, "rows": rows}
    write_named_report(out, args.stem, report, render(report))
    plot(report, out / f"{args.stem}.png")


def render(rep: dict) -> str:
    rows = {(r["graph"], r["file"]): r for r in rep["rows"]}
    graphs = rep.get("graphs", list(GRAPHS))
    title = "fused LSTM op vs unrolled" if len(graphs) > 1 else f"{graphs[0]} only"
    lines = [f"# The bilstm's export graphs: {title} ({rep['dataset']})", "",
             "```", rep["command"], *rep["export_commands"], "```", "",
             f"- Student: `{rep['distill']}`; eval split {rep['eval_examples']} texts, {rep['max_len']} ids per call.",
             "- Accuracy: each `.tflite` run with LiteRT over the whole eval split, one text per call.",
             f"- Latency: p50 of single `invoke()` calls on real eval ids, 1 thread, XNNPACK on; "
             f"{len(next(iter(rows.values()))['p50_ms_rounds'])} rounds interleaved across the {len(rows)} files, "
             "median of the rounds' p50s.",
             "- MediaPipe: its Python `TextClassifier` (mediapipe 1.2.3) loads the file itself; agreement is its top "
             "label against `kdedge.TextClassifier`'s on every eval text. Export writes no metadata into a fused "
             "file, so MediaPipe is given a copy stamped with the same metadata as the unrolled files.",
             "- MB: the file as exported; an unrolled file carries the metadata, whose vocabulary file (every word "
             "in three casings, stored uncompressed) is most of the difference.",
             f"- Machine: {rep['machine']['cpu']}, {rep['machine']['cores']} cores; "
             f"commit {rep['machine']['git_commit']}; {rep['date']}.",
             "", "| graph | file | metadata | MB | ops | accuracy | p50 ms | / float32 p50 | MediaPipe |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for (graph, name), r in rows.items():
        base = rows[(graph, "student_float32")]["p50_ms"]
        mp = r["mediapipe"]
        said = (f"loads; {100 * mp['label_agreement']:.2f}% agreement, max prob diff {mp['max_abs_prob_diff']:.2g}"
                if mp["loads"] else f"no: {mp['why']}")
        lines.append(f"| {graph} | {name} | {'yes' if r['metadata'] else 'no'} | {r['bytes'] / 1e6:.3f} | "
                     f"{r['ops']} | {100 * r['accuracy']:.2f}% | {r['p50_ms']:.3f} | {r['p50_ms'] / base:.2f}x | "
                     f"{said} |")
    lines += ["", "Ops per file: " + "; ".join(
        f"{g} {f.removeprefix('student_')}: " + ", ".join(
            f"{k} {v}" for k, v in sorted(r["by_op"].items(), key=lambda kv: (-kv[1], kv[0])))
        for (g, f), r in rows.items() if f != "student_dynamic"), ""]
    return "\n".join(lines)


def plot(rep: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.38
    graphs = rep.get("graphs", list(GRAPHS))
    for k, graph in enumerate(graphs):
        vals = [next(r["p50_ms"] for r in rep["rows"] if r["graph"] == graph and r["file"] == f) for f in FILES]
        xs = np.arange(len(FILES)) + (k - (len(graphs) - 1) / 2) * width
        ax.bar(xs, vals, width, label=f"--lstm {graph}")
        for x, v in zip(xs, vals):
            ax.text(x, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(len(FILES)), [f.removeprefix("student_") for f in FILES])
    ax.set_ylabel("p50 ms per call (1 thread)")
    ax.set_title(f"bilstm student, {rep['dataset']}: " + " vs ".join(graphs))
    ax.legend()
    write_figure(path, fig)


if __name__ == "__main__":
    main()
