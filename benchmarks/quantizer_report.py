"""Sub-8-bit weights with Google's ai-edge-quantizer: which student ops it takes, and what that buys.

    python benchmarks/quantizer_report.py --export-dir runs/sst2/export --data runs/sst2/data

Each recipe of ``ai_edge_quantizer.recipe`` (int8 / int4 / int2 weights; dynamic or weight-only) is
applied to the export folder's ``student_float32.tflite``; then per recipe the report says which ops
now read quantized weights (their weight tensors' type, op by op), the file size, and the accuracy
of the file run by kdedge's ``TextClassifier`` over the eval split (and the test split when there is
one), and whether MediaPipe's ``TextClassifier`` loads it and agrees with kdedge on every eval text.
The quantizer writes the flatbuffer anew and drops the associated files kdedge zips after it (the
vocabulary and the labels), so each output gets the original's metadata and files back
(:func:`converters.metadata.with_metadata`). It also tries int4 on the embedding table's op
(GATHER: the TF converter never emits EMBEDDING_LOOKUP, the op the quantizer supports) and records
its answer; then rewrites the GATHER as EMBEDDING_LOOKUP (:mod:`converters.embedding_lookup`) and
quantizes the table (int8, int4) alone and with the conv and dense weights (int4). Writes
``benchmarks/results/<dataset>/quantizer.{json,md}``.
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import sys
import zipfile
from pathlib import Path

import numpy as np

from common import RESULTS, mediapipe_classifier, mediapipe_scores, write_named_report

from converters.embedding_lookup import gather_to_embedding_lookup
from converters.metadata import with_metadata
from kdedge.classifier import model_metadata_buffer
from kdedge.io import read_json, write_bytes
from kdedge.measure.machine import machine_info

RECIPES = ("dynamic_wi8_afp32", "dynamic_wi4_afp32", "weight_only_wi4_afp32", "dynamic_wi4b32_afp32",
           "dynamic_wi2c_afp32")


def read_split(path: Path) -> tuple[list[str], np.ndarray]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows], np.array([r["label"] for r in rows])


def restamp(original: bytes, quantized: bytes) -> bytes:
    """``quantized`` with ``original``'s kdedge metadata buffer and its zipped files."""
    files = {}
    with zipfile.ZipFile(io.BytesIO(original)) as z:
        for name in z.namelist():
            files[name] = z.read(name)
    return with_metadata(quantized, model_metadata_buffer(original), files)


def weight_types(content: bytes) -> dict[str, list[str]]:
    """Op name -> the types of its constant inputs (the weights), from the flatbuffer."""
    import importlib

    schema = importlib.import_module("tensorflow.lite.python.schema_py_generated")
    m = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    out: dict[str, list[str]] = {}
    graph = m.subgraphs[0]
    for op in graph.operators:
        code = m.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), str(code.builtinCode))
        for i in op.inputs:
            if i < 0:
                continue
            t = graph.tensors[i]
            buf = m.buffers[t.buffer]
            size = len(buf.data) if buf.data is not None else (buf.size if buf.offset and buf.offset > 1 else 0)
            if size > 64:  # a constant (inline, or kept after the flatbuffer), not a scalar or a shape
                out.setdefault(name, []).append(types.get(t.type, str(t.type)))
    return {k: sorted(set(v)) for k, v in out.items()}


def main() -> int:
    from ai_edge_quantizer import quantizer, recipe, recipe_manager
    from ai_edge_quantizer.recipe import AlgorithmName, TFLOperationName

    from kdedge import TextClassifier

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--export-dir", required=True, type=Path)
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--work", type=Path, default=None, help="where the quantized files go (default EXPORT/quantizer)")
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/results/<dataset>")
    args = p.parse_args()
    dataset = read_json(args.data / "stats.json")["dataset"]
    out = args.out or RESULTS / dataset
    work = args.work or args.export_dir / "quantizer"
    src = args.export_dir / "student_float32.tflite"
    original = src.read_bytes()
    splits = {"eval": read_split(args.data / "eval.jsonl")}
    if (args.data / "test.jsonl").is_file():
        splits["test"] = read_split(args.data / "test.jsonl")

    def score(path: Path) -> dict:
        clf = TextClassifier(path)
        res = {f"{k}_accuracy": float((clf.probabilities(t).argmax(1) == y).mean()) for k, (t, y) in splits.items()}
        res["_eval_probs"] = clf.probabilities(splits["eval"][0])
        return res

    base = score(src)

    def row(recipe_name: str, path: Path) -> dict:
        """The measured row of one quantized (and re-stamped) file."""
        scored = score(path)
        return {"recipe": recipe_name, "bytes": path.stat().st_size, "weights": weight_types(path.read_bytes()),
                **{k: v for k, v in scored.items() if not k.startswith("_")},
                "max_prob_diff_vs_float32": float(np.abs(scored["_eval_probs"] - base["_eval_probs"]).max()),
                "label_agreement_vs_float32": float((scored["_eval_probs"].argmax(1)
                                                     == base["_eval_probs"].argmax(1)).mean()),
                "mediapipe": mediapipe_check(path, scored, splits["eval"][0])}

    def quantized(recipe_name: str, source: Path, qrecipe, file: str) -> dict:
        q = quantizer.Quantizer(str(source))
        q.load_quantization_recipe(qrecipe)
        try:
            content = restamp(original, q.quantize().quantized_model)
        except Exception as e:  # the quantizer's own refusal, recorded as it said it
            return {"recipe": recipe_name, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
        write_bytes(work / file, content)
        return row(recipe_name, work / file)

    rows = [{**row("(none: the exported float32 file)", src), "label_agreement_vs_float32": None}]
    rows += [quantized(name, src, getattr(recipe, name)(), f"student_{name}.tflite") for name in RECIPES]
    # The embedding table through EMBEDDING_LOOKUP (converters.embedding_lookup), then int8 / int4 on it
    # alone and with the conv and dense weights.
    lookup, count = gather_to_embedding_lookup(original)
    lookup_path = work / "student_float32_lookup.tflite"
    write_bytes(lookup_path, restamp(original, lookup))
    rows.append(row(f"EMBEDDING_LOOKUP rewrite ({count} GATHER), float32", lookup_path))
    for label, bits, ops in (("table int8", 8, ("EMBEDDING_LOOKUP",)), ("table int4", 4, ("EMBEDDING_LOOKUP",)),
                             ("table, conv, dense int4", 4, ("EMBEDDING_LOOKUP", "CONV_2D", "FULLY_CONNECTED"))):
        rp = recipe_manager.RecipeManager()
        for op in ops:
            rp.add_dynamic_config(regex=".*", operation_name=getattr(TFLOperationName, op), num_bits=bits,
                                  algorithm_key=AlgorithmName.MIN_MAX_UNIFORM_QUANT)
        rows.append(quantized(f"EMBEDDING_LOOKUP rewrite + dynamic {label}", lookup_path,
                              rp.get_quantization_recipe(),
                              f"student_lookup_{label.replace(', ', '_').replace(' ', '_')}.tflite"))
    gather = {}
    for op in ("GATHER", "EMBEDDING_LOOKUP"):
        rp = recipe_manager.RecipeManager()
        try:
            rp.add_weight_only_config(regex=".*", operation_name=getattr(TFLOperationName, op), num_bits=4,
                                      algorithm_key=AlgorithmName.MIN_MAX_UNIFORM_QUANT)
            q = quantizer.Quantizer(str(src))
            q.load_quantization_recipe(rp.get_quantization_recipe())
            content = q.quantize().quantized_model
            after = weight_types(content)
            gather[op] = {"bytes_before_metadata": len(content), "weights": after,
                          "changed_nothing": after == weight_types(original)}
        except Exception as e:
            gather[op] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
    report = {"command": "python benchmarks/quantizer_report.py " + shlex.join(sys.argv[1:]),
              "machine": machine_info(), "source": str(src), "rows": rows, "embedding_int4": gather,
              "quantizer_version": _version("ai-edge-quantizer")}
    write_named_report(out, "quantizer", report, markdown(report, list(splits)))
    return 0


def _version(dist: str) -> str:
    import importlib.metadata
    return importlib.metadata.version(dist)


def mediapipe_check(path: Path, scored: dict, texts: list[str]) -> dict:
    """Whether MediaPipe's TextClassifier loads the file, and how often its top label on the eval texts is
    kdedge's."""
    try:
        clf = mediapipe_classifier(path)
    except Exception as e:
        return {"loads": False, "error": str(e).splitlines()[0][:200]}
    try:
        top = mediapipe_scores(clf, texts, scored["_eval_probs"].shape[1]).argmax(1)
    finally:
        clf.close()
    return {"loads": True, "label_agreement_with_kdedge": float((top == scored["_eval_probs"].argmax(1)).mean())}


def mp_cell(mp: dict) -> str:
    if not mp["loads"]:
        return f"NO: {mp['error']}"
    return f"yes, {mp['label_agreement_with_kdedge']:.2%}"


def markdown(r: dict, splits: list[str]) -> str:
    m = r["machine"]
    lines = ["# ai-edge-quantizer on the student: which ops, what size, what accuracy", "", "```", r["command"], "```",
             "", f"- Machine: {m['cpu']}, {m['cores']} cores; commit {m['git_commit']}; {m['date']}; "
             f"ai-edge-quantizer {r['quantizer_version']}.",
             f"- Source: `{r['source']}`. Every file is run by kdedge's `TextClassifier` (LiteRT) over each split; "
             "`weights` lists, per op, the types of its constant inputs.", "",
             "| recipe | size | " + " | ".join(f"{s} acc" for s in splits)
             + " | labels = float32 | max prob diff | MediaPipe: loads, labels = kdedge | weights by op |",
             "|---|---:|" + "---:|" * len(splits) + "---:|---:|:---:|---|"]
    for row in r["rows"]:
        if "error" in row:
            lines.append(f"| {row['recipe']} | – | " + " | ".join("–" for _ in splits)
                         + f" | – | – | – | refused: {row['error']} |")
            continue
        w = "; ".join(f"{op}: {'/'.join(t)}" for op, t in sorted(row["weights"].items()))
        agree = row.get("label_agreement_vs_float32")
        lines.append(f"| {row['recipe']} | {row['bytes'] / 1e6:.3f} MB | "
                     + " | ".join(f"{row[f'{s}_accuracy']:.2%}" for s in splits)
                     + f" | {'–' if agree is None else f'{agree:.2%}'} | "
                     f"{row.get('max_prob_diff_vs_float32', 0):.3g} | "
                     f"{mp_cell(row['mediapipe'])} | {w} |")
    lines += ["", "int4 on the embedding table (the bulk of the file):", ""]
    for op, res in r["embedding_int4"].items():
        lines.append(f"- {op}: " + (f"refused: {res['error']}" if "error" in res else
                                    "accepted, but the file has no such op: nothing changed" if res["changed_nothing"]
                                    else f"accepted; weights by op after it: {res['weights']}"))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
