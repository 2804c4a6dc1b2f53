"""Text in, probabilities out: kdedge's student against fastText, the baseline users reach for first.

    python benchmarks/end_to_end.py --export-dir runs/sst2/export --data runs/sst2/data --work runs/fasttext

One run, one process, the same machine and the same real eval texts, one text per call, one thread:

- fastText (``fasttext-numpy2``, the maintained numpy-2 build of Facebook's bindings): supervised, word
  bigrams, trained here on the data folder's train split. Its epochs and learning rate are chosen on
  a seeded 10% of the train split held out (never the eval split), then it is retrained on the whole
  train split with ``thread=1`` and a fixed seed. Kept as ``.bin`` and quantized ``.ftz``
  (product quantization, norms quantized, retrained).
- kdedge's :class:`kdedge.TextClassifier` on the student ``.tflite`` files (format-3 tokenizer in
  Python, LiteRT, softmax): ``probabilities([text])``.
- MediaPipe Tasks' own Python ``TextClassifier`` on the same files (its C++ RegexTokenizer and
  runtime): ``classify(text)``.
- fastText ``predict(text, k=-1)`` (every label's probability) on ``.bin`` and ``.ftz``.
- With ``--teacher``: the export folder's teacher files (float32, and the ``dynamic`` / ``int8`` ones
  ``kdedge export --teacher-modes`` writes): WordPiece tokenizer (HF fast, Rust), LiteRT, softmax --
  what a user shipping the teacher itself would run.

Every timed call goes through :func:`kdedge.measure.timing.adaptive_timing` (20 untimed warm-up
calls, then at least 200 timed calls, more until the median's 95% CI is within ±2%, or 5 s).
Accuracy is each model's own over the eval split (and ``test.jsonl`` where the data folder has it).
Writes ``benchmarks/results/<dataset>/end_to_end.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from common import RESULTS, mediapipe_classifier, write_named_report

from kdedge.io import read_json, write_figure
from kdedge.measure.machine import machine_info
from kdedge.measure.timing import TimingPlan, adaptive_timing

GRID = {"epoch": (5, 10, 25), "lr": (0.1, 0.5, 1.0)}  # fastText's documented ranges for supervised tasks
FILES = ("student_int8", "student_float32")


def read_split(path: Path) -> tuple[list[str], np.ndarray]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows], np.array([r["label"] for r in rows])


def one_line(text: str) -> str:
    return " ".join(text.split())  # fastText reads one example per line and splits on whitespace


def write_fasttext(path: Path, texts: list[str], labels: np.ndarray) -> None:
    path.write_text("".join(f"__label__{y} {one_line(t)}\n" for t, y in zip(texts, labels)), encoding="utf-8")


def ft_probabilities(model, texts: list[str], k: int) -> np.ndarray:
    out = np.zeros((len(texts), k))
    for i, text in enumerate(texts):
        names, probs = model.predict(one_line(text), k=-1)
        for name, p in zip(names, probs):
            out[i, int(name.removeprefix("__label__"))] = p
    return out


def train_fasttext(train: tuple[list[str], np.ndarray], work: Path, seed: int) -> dict:
    """Choose epochs and lr on a held-out tenth of train, retrain on all of it; ``.bin`` and ``.ftz``."""
    import fasttext

    texts, labels = train
    k = int(labels.max()) + 1
    order = np.random.default_rng(seed).permutation(len(texts))
    held, fit = order[:len(texts) // 10], order[len(texts) // 10:]
    write_fasttext(work / "fit.txt", [texts[i] for i in fit], labels[fit])
    write_fasttext(work / "train.txt", texts, labels)
    grid = []
    for epoch, lr in itertools.product(GRID["epoch"], GRID["lr"]):
        m = fasttext.train_supervised(str(work / "fit.txt"), epoch=epoch, lr=lr, wordNgrams=2, dim=100,
                                      thread=1, seed=seed, verbose=0)
        acc = float((ft_probabilities(m, [texts[i] for i in held], k).argmax(1) == labels[held]).mean())
        grid.append({"epoch": epoch, "lr": lr, "held_out_accuracy": acc})
    best = max(grid, key=lambda g: g["held_out_accuracy"])
    t0 = time.perf_counter()
    model = fasttext.train_supervised(str(work / "train.txt"), epoch=best["epoch"], lr=best["lr"], wordNgrams=2,
                                      dim=100, thread=1, seed=seed, verbose=0)
    train_s = time.perf_counter() - t0
    model.save_model(str(work / "fasttext.bin"))
    model.quantize(input=str(work / "train.txt"), qnorm=True, retrain=True, cutoff=100_000, thread=1, verbose=0)
    model.save_model(str(work / "fasttext.ftz"))
    return {"grid": grid, "chosen": best, "train_seconds": round(train_s, 1), "k": k,
            "settings": {"wordNgrams": 2, "dim": 100, "thread": 1, "seed": seed, "loss": "softmax",
                         "quantize": {"qnorm": True, "retrain": True, "cutoff": 100_000}}}


class TeacherTextIn:
    """A teacher ``.tflite`` of an export folder, text in -> probabilities out (one text per call)."""

    def __init__(self, export_dir: Path, entry: dict):
        from transformers import BertTokenizerFast

        from kdedge.runtime import TFLiteModel

        self.tok = BertTokenizerFast.from_pretrained(str(export_dir / entry["tokenizer"]))
        self.lite = TFLiteModel(export_dir / entry["file"], num_threads=1)
        self.max_len, self.truncation = entry["max_len"], entry.get("truncation", "head")

    def probabilities(self, text: str) -> np.ndarray:
        from kdedge.classifier import softmax
        from kdedge.models.teacher import tokenize

        ids = np.zeros((1, self.max_len), dtype=np.int32)
        row = tokenize(self.tok, [text], self.max_len, self.truncation)[0]
        ids[0, :len(row)] = row
        return softmax(self.lite({"input_ids": ids, "attention_mask": (ids != 0).astype(np.int32)}))[0]


def timed(call, texts: list[str], plan: TimingPlan) -> dict:
    for i in range(plan.warmup):
        call(texts[i % len(texts)])

    def run(start: int, n: int) -> list[float]:
        out = []
        for i in range(start, start + n):
            text = texts[i % len(texts)]
            t0 = time.perf_counter()
            call(text)
            out.append(time.perf_counter() - t0)
        return out

    return adaptive_timing(run, plan)


def main() -> int:
    import fasttext

    from kdedge import TextClassifier

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--export-dir", required=True, type=Path, help="a kdedge export folder (format-3 students)")
    p.add_argument("--data", required=True, type=Path, help="its kdedge data folder")
    p.add_argument("--work", required=True, type=Path, help="where the fastText files go")
    p.add_argument("--files", default=",".join(FILES), help="student files of the export folder to time "
                   "(e.g. student_int8,student_int4,student_float32)")
    p.add_argument("--teacher", action="store_true", help="also the export folder's teacher files (text in)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-cap", type=float, default=5.0, help="seconds of timing per row at most")
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/results/<dataset>")
    args = p.parse_args()
    dataset = read_json(args.data / "stats.json")["dataset"]
    out = args.out or RESULTS / dataset
    args.work.mkdir(parents=True, exist_ok=True)
    train = read_split(args.data / "train.jsonl")
    splits = {"eval": read_split(args.data / "eval.jsonl")}
    if (args.data / "test.jsonl").is_file():
        splits["test"] = read_split(args.data / "test.jsonl")
    eval_texts = splits["eval"][0]
    plan = TimingPlan(time_cap_s=args.time_cap)

    ft = train_fasttext(train, args.work, args.seed)
    rows = []
    for suffix in ("bin", "ftz"):
        path = args.work / f"fasttext.{suffix}"
        m = fasttext.load_model(str(path))
        row = {"model": f"fastText .{suffix}", "runtime": "fasttext predict(text, k=-1)", "file": str(path),
               "bytes": path.stat().st_size}
        for name, (texts, gold) in splits.items():
            row[f"{name}_accuracy"] = float((ft_probabilities(m, texts, ft["k"]).argmax(1) == gold).mean())
        row["latency"] = timed(lambda t, m=m: m.predict(one_line(t), k=-1), eval_texts, plan)
        rows.append(row)
    for name in [f for f in args.files.split(",") if f]:
        path = args.export_dir / f"{name}.tflite"
        clf = TextClassifier(path, num_threads=1)
        row = {"model": name, "runtime": "kdedge.TextClassifier probabilities([text])", "file": str(path),
               "bytes": path.stat().st_size}
        for split, (texts, gold) in splits.items():
            row[f"{split}_accuracy"] = float((clf.probabilities(texts).argmax(1) == gold).mean())
        # The timed path is one text per call: for a file with a trailing_pad entry that runs short texts at
        # n + k ids (rounded up to 8), not at max_len. Its outputs against the batched full-length ones:
        one = np.concatenate([clf.probabilities([t]) for t in eval_texts])
        row["trailing_pad"] = clf.trailing_pad
        row["one_text_max_abs_diff"] = float(np.abs(one - clf.probabilities(eval_texts)).max())
        row["latency"] = timed(lambda t, clf=clf: clf.probabilities([t]), eval_texts, plan)
        rows.append(row)
        with mediapipe_classifier(path) as mp:
            row = {"model": name, "runtime": "MediaPipe TextClassifier classify(text)", "file": str(path),
                   "bytes": path.stat().st_size}
            for split, (texts, gold) in splits.items():
                pred = [max(mp.classify(t).classifications[0].categories, key=lambda c: c.score).index
                        for t in texts]
                row[f"{split}_accuracy"] = float((np.array(pred) == gold).mean())
            row["latency"] = timed(mp.classify, eval_texts, plan)
            rows.append(row)
    if args.teacher:
        manifest = read_json(args.export_dir / "manifest.json")
        for entry in [m for m in manifest["models"] if m["kind"] == "teacher"]:
            t = TeacherTextIn(args.export_dir, entry)
            row = {"model": entry["name"], "runtime": "WordPiece (HF fast) + LiteRT + softmax",
                   "file": str(args.export_dir / entry["file"]), "bytes": entry["bytes"]}
            for split, (texts, gold) in splits.items():
                row[f"{split}_accuracy"] = float((np.array([t.probabilities(x).argmax() for x in texts])
                                                  == gold).mean())
            row["latency"] = timed(t.probabilities, eval_texts, plan)
            rows.append(row)
    fast = next(r for r in rows if r["model"] == "fastText .bin")["latency"]["p50_ms"]
    for r in rows:
        r["vs_fasttext_bin"] = r["latency"]["p50_ms"] / fast
    shipped = next((r for r in rows if r["runtime"].startswith("kdedge") and r["model"] == "student_int8"), None)
    targets = []
    if shipped:
        targets.append({"target": "TextClassifier (shipped int8 file) p50 <= 2x fastText predict p50",
                        "measured": f"{shipped['latency']['p50_ms']:.4f} vs {fast:.4f} ms = "
                                    f"{shipped['vs_fasttext_bin']:.2f}x", "met": shipped["vs_fasttext_bin"] <= 2})
    report = {"command": "python benchmarks/end_to_end.py " + shlex.join(sys.argv[1:]), "machine": machine_info(),
              "dataset": dataset, "eval_texts": len(eval_texts), "fasttext": ft, "rows": rows, "targets": targets}
    plot(rows, out / "end_to_end.png")
    write_named_report(out, "end_to_end", report, markdown(report))
    return 0


def _pad_note(r: dict) -> str:
    rows = [x for x in r["rows"] if x.get("trailing_pad")]
    if not rows:
        return ""
    return (" kdedge runs " + ", ".join(f"{x['model']} (k = {x['trailing_pad']})" for x in rows) + " at n + k ids "
            "rounded up to 8 (n = the text's tokens; the file's `kdedge_trailing_pad` entry, checked at export), "
            "MediaPipe at the file's full length; over the eval texts kdedge's one-text outputs differ from its "
            "full-length batch outputs by at most " + f"{max(x['one_text_max_abs_diff'] for x in rows):.2g}.")


def markdown(r: dict) -> str:
    m, ft = r["machine"], r["fasttext"]
    splits = [s for s in ("eval", "test") if f"{s}_accuracy" in r["rows"][0]]
    lines = ["# Text in, probabilities out: kdedge against fastText", "", "```", r["command"], "```", "",
             f"- Machine: {m['cpu']}, {m['cores']} cores; commit {m['git_commit']}; {m['date']}. One process, "
             f"one thread, one text per call, cycling the {r['eval_texts']} eval texts; 20 warm-up calls, then "
             "timed calls until the median's 95% CI is within ±2% (or the time cap: †).",
             "- fastText: supervised, word bigrams, dim 100, softmax; epochs and learning rate chosen on a "
             f"held-out tenth of the train split (chosen: {ft['chosen']['epoch']} epochs, lr {ft['chosen']['lr']}; "
             f"held-out accuracy {ft['chosen']['held_out_accuracy']:.2%}), then retrained on all of it in "
             f"{ft['train_seconds']:.0f} s (1 thread). `.ftz`: quantized (qnorm, retrain, 100k cutoff).",
             "- kdedge and MediaPipe run the same `.tflite` file (tokenizer in its metadata)." + _pad_note(r), "",
             "| model | runtime | size | " + " | ".join(f"{s} acc" for s in splits)
             + " | p50 ms | p90 ms | p99 ms | p50 vs fastText .bin |",
             "|---|---|---:|" + "---:|" * len(splits) + "---:|---:|---:|---:|"]
    for row in r["rows"]:
        lat = row["latency"]
        mark = "" if lat["converged"] else " †"
        lines.append(f"| {row['model']} | {row['runtime']} | {row['bytes'] / 1e6:.2f} MB | "
                     + " | ".join(f"{row[f'{s}_accuracy']:.2%}" for s in splits)
                     + f" | {lat['p50_ms']:.4f}{mark} | {lat['p90_ms']:.4f} | {lat['p99_ms']:.4f} | "
                     f"{row['vs_fasttext_bin']:.2f}x |")
    if r["targets"]:
        lines += ["", "| target | measured | met |", "|---|---|:---:|"]
        lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'NO'} |" for t in r["targets"]]
    lines += ["", "fastText's grid (held-out tenth of train):", "", "| epochs | lr | held-out accuracy |",
              "|---:|---:|---:|"]
    lines += [f"| {g['epoch']} | {g['lr']} | {g['held_out_accuracy']:.2%} |" for g in ft["grid"]]
    lines += ["", "![p50 per model](end_to_end.png)"]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    names = [f"{r['model']}\n{r['runtime'].split(' ')[0]}" for r in rows]
    y = np.arange(len(rows))
    ax.barh(y, [r["latency"]["p50_ms"] * 1000 for r in rows], color=["C7" if "fastText" in r["model"] else "C0"
                                                                       for r in rows])
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("p50 µs per text (text in, probabilities out; 1 thread)")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    write_figure(path, fig)


if __name__ == "__main__":
    raise SystemExit(main())
