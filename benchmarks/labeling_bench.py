"""Teacher labeling throughput: in process, and on Apache Beam's DirectRunner with 1 and 2 workers.

    python benchmarks/labeling_bench.py --data runs/sst2/data --teacher-dir runs/sst2/teacher --texts 16384

Each setting runs ``kdedge label`` as its own process over the same first ``--texts`` texts of the
data folder (its ``unlabeled`` part, else train), into a fresh logit store, one after the other on
the same machine; texts/s is the texts the teacher labeled over the command's wall time (start-up,
model loading, Beam's worker processes and the store writes included) and over the labeling itself
(the label command's own clock). The stores are then compared row by row: the logits of every path
against the in-process ones (bitwise equal, or the largest difference). Writes
``benchmarks/results/labeling/labeling.{json,md}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, write_named_report

from kdedge.data.splits import iter_jsonl
from kdedge.io import write_text
from kdedge.measure.machine import machine_info

SETTINGS = (("in process", ["--runner", "inprocess"]),
            ("Beam DirectRunner, 1 worker", ["--runner", "direct", "--workers", "1"]),
            ("Beam DirectRunner, 2 workers", ["--runner", "direct", "--workers", "2"]))


def store_rows(folder: Path) -> dict[bytes, np.ndarray]:
    rows = {}
    for shard in sorted(folder.glob("shard-*.npz")):
        with np.load(shard, allow_pickle=False) as z:
            rows.update((k.tobytes(), v) for k, v in zip(z["keys"], z["logits"]))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, type=Path, help="a kdedge data folder")
    p.add_argument("--teacher-dir", required=True, type=Path, help="a kdedge teacher folder")
    p.add_argument("--texts", type=int, default=16384, help="texts labeled by each setting")
    p.add_argument("--shard-size", type=int, default=1024, help="texts per shard (the unit of work)")
    p.add_argument("--out", type=Path, default=RESULTS / "labeling")
    args = p.parse_args()
    src = args.data / ("unlabeled.jsonl" if (args.data / "unlabeled.jsonl").is_file() else "train.jsonl")
    # Lines end at "\n" only: str.splitlines() would also split at the U+2028 / U+0085 some reviews hold.
    texts = [r["text"] for _, r in itertools.islice(iter_jsonl(src), args.texts)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"  # a data folder of just these texts, as the unlabeled part
        data.mkdir()
        for name in ("train.jsonl", "eval.jsonl", "config.json", "stats.json"):
            (data / name).write_bytes((args.data / name).read_bytes())
        write_text(data / "unlabeled.jsonl", "".join(json.dumps({"text": t, "label": None}) + "\n" for t in texts))
        stores = {}
        for name, flags in SETTINGS:
            cache = Path(tmp) / f"cache{len(stores)}"
            cmd = [sys.executable, "-m", "kdedge", "label", "--data", str(data), "--teacher-dir",
                   str(args.teacher_dir), "--parts", "unlabeled", "--shard-size", str(args.shard_size),
                   "--cache-dir", str(cache), "--json", *flags]
            print("$ " + shlex.join(cmd), file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            wall = time.perf_counter() - t0
            s = json.loads(out[out.index("{"):])
            stores[name] = store_rows(Path(s["store"]))
            rows.append({"setting": name, "command": shlex.join(["kdedge", *cmd[3:]]).replace(tmp, "TMP"),
                         "texts": s["unique_missing"], "shards": s["shards"], "wall_s": round(wall, 2),
                         "label_s": s["seconds"], "texts_per_s_wall": round(s["unique_missing"] / wall, 1),
                         "texts_per_s": s["texts_per_second"], "workers": s["workers"], "threads": s["threads"]})
    ref = stores[SETTINGS[0][0]]
    for row in rows:
        other = stores[row["setting"]]
        row["same_keys"] = set(other) == set(ref)
        row["bitwise_equal"] = row["same_keys"] and all(np.array_equal(ref[k], other[k]) for k in ref)
        row["max_abs_diff"] = float(max(np.abs(ref[k] - other[k]).max() for k in ref)) if row["same_keys"] else None
    report = {"command": "python benchmarks/labeling_bench.py " + shlex.join(sys.argv[1:]),
              "machine": machine_info(), "teacher": str(args.teacher_dir), "source": str(src), "rows": rows}
    m = report["machine"]
    md = ["# Teacher labeling: in process and on Apache Beam", "", "```", report["command"], "```", "",
          f"- Machine: {m['cpu']}, {m['cores']} cores; commit {m['git_commit']}; {m['date']}.",
          f"- Texts: the first {args.texts:,} of `{src}`, {args.shard_size} per shard; teacher "
          f"`{args.teacher_dir}`. Each setting is a fresh `kdedge label` process into an empty store.",
          "- texts/s: labeled texts over the labeling's own time (`label s`: the pipeline or the in-process loop, "
          "model loading included) and over the whole command (`wall s`: Python and TensorFlow start-up too).",
          "- Logits: each store against the in-process one, row by row.", "",
          "| setting | texts | shards | TF threads / worker | label s | texts/s | wall s | texts/s (wall) | "
          "logits vs in process |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        same = "bitwise equal" if r["bitwise_equal"] else f"max |Δ| {r['max_abs_diff']:.2g}"
        md.append(f"| {r['setting']} | {r['texts']:,} | {r['shards']} | {r['threads'] or 'TF default'} | "
                  f"{r['label_s']:.1f} | {r['texts_per_s']:,.0f} | {r['wall_s']:.1f} | {r['texts_per_s_wall']:,.0f} "
                  f"| {same} |")
    write_named_report(args.out, "labeling", report, "\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
