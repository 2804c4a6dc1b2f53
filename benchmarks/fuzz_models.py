"""Fuzz campaign on model files: mutated copies of real student ``.tflite`` files, each loaded and invoked by
LiteRT in a child process (:class:`kdedge.untrusted.Worker`), and then handed to kdedge's own checks the way
``kdedge predict`` / ``serve`` / ``bench`` get them (:func:`kdedge.untrusted.check_model`, then
:class:`kdedge.TextClassifier`).

Per file the child's outcome (ran, refused with one line, crashed with a signal, hung) and kdedge's
(refused with one StageInputError line, or loaded) are recorded; the campaign passes when this process
never died, every kdedge refusal is one line, and every file that crashed or hung the child was refused by
kdedge.

Mutations (seeded): ``truncate`` (cut at a random length), ``bitflip-K`` (K random bits flipped),
``word`` (a random aligned 32-bit word set to a random value: flatbuffer offsets and sizes), ``zero-run``
(a random run of bytes zeroed), ``random-body`` (the 8-byte header kept, the rest random), ``splice`` (the
head of one file joined to the tail of another).

Usage::

    python benchmarks/fuzz_models.py --export-dir runs/sst2/export --count 1000 --out benchmarks/results/reliability
"""

from __future__ import annotations

import argparse
import collections
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS, write_named_report

from kdedge.errors import StageInputError
from kdedge.io import read_json

MUTATIONS = ("truncate", "bitflip-1", "bitflip-8", "bitflip-64", "word", "zero-run", "random-body", "splice")


def mutate(content: bytes, other: bytes, how: str, rng: np.random.Generator) -> bytes:
    b = bytearray(content)
    n = len(b)
    if how == "truncate":
        return bytes(b[:int(rng.integers(0, n))])
    if how.startswith("bitflip-"):
        for pos in rng.integers(0, n * 8, int(how.split("-")[1])):
            b[pos // 8] ^= 1 << (pos % 8)
        return bytes(b)
    if how == "word":
        pos = int(rng.integers(0, n // 4)) * 4
        b[pos:pos + 4] = int(rng.integers(0, 2 ** 32, dtype=np.uint64)).to_bytes(4, "little")
        return bytes(b)
    if how == "zero-run":
        start = int(rng.integers(0, n))
        b[start:start + int(rng.integers(1, 257))] = bytes(min(256, n - start))[:len(b[start:start + 256])]
        return bytes(b[:n])
    if how == "random-body":
        return bytes(b[:8]) + rng.bytes(n - 8)
    if how == "splice":
        cut = int(rng.integers(8, n))
        return bytes(b[:cut]) + other[min(cut, len(other)):]
    raise ValueError(how)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-dir", required=True, type=Path, help="A `kdedge export` folder.")
    parser.add_argument("--files", default="student_int8,student_float32",
                        help="Comma-separated manifest names to mutate.")
    parser.add_argument("--count", type=int, default=1000, help="Mutated files to try.")
    parser.add_argument("--seed", type=int, default=0, help="Random seed.")
    parser.add_argument("--out", type=Path, default=RESULTS / "reliability", help="Results folder.")
    parser.add_argument("--stem", default="fuzz", help="Report name: OUT/STEM.{json,md}.")
    args = parser.parse_args(argv)

    from kdedge import TextClassifier
    from kdedge.untrusted import Worker, check_model

    manifest = {e["name"]: e for e in read_json(args.export_dir / "manifest.json")["models"]}
    sources = {name: (args.export_dir / manifest[name]["file"]).read_bytes() for name in args.files.split(",")}
    names = list(sources)
    rng = np.random.default_rng(args.seed)
    rows, t0 = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, Worker() as worker:
        cache = Path(tmp) / "cache"
        import os
        os.environ["KDEDGE_CACHE"] = str(cache)  # a fresh verified-cache: every file is checked
        for i in range(args.count):
            src = names[i % len(names)]
            how = MUTATIONS[int(rng.integers(0, len(MUTATIONS)))]
            content = mutate(sources[src], sources[names[(i + 1) % len(names)]], how, rng)
            path = Path(tmp) / f"m{i}.tflite"
            path.write_bytes(content)
            child, detail = worker.check(path, timeout=30)
            try:
                check_model(path, worker=worker)  # kdedge's check, in the same kind of child
                clf = TextClassifier(path)
                clf.classify(["a good film", ""])
                kdedge, message = "loaded", None
            except StageInputError as e:
                kdedge, message = "refused", str(e)
            rows.append({"i": i, "source": src, "mutation": how, "bytes": len(content), "child": child,
                         "child_detail": detail, "kdedge": kdedge, "one_line": message is None or "\n" not in message,
                         "message": None if message is None else message.replace(str(path), "<file>")[:160]})
            path.unlink()
            if (i + 1) % 100 == 0:
                print(f"{i + 1}/{args.count} files, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    by = collections.Counter((r["mutation"], r["child"], r["kdedge"]) for r in rows)
    dangerous = [r for r in rows if r["child"] in ("crashed", "hung")]
    report = {"schema": "kdedge-fuzz/1", "command": shlex.join(["python", *sys.argv]), "files": len(rows),
              "seconds": round(seconds, 1), "sources": {k: len(v) for k, v in sources.items()},
              "child": dict(collections.Counter(r["child"] for r in rows)),
              "kdedge": dict(collections.Counter(r["kdedge"] for r in rows)),
              "kdedge_process_deaths": 0,  # this process ran every file; had it died there would be no report
              "crashed_or_hung_not_refused": sum(r["kdedge"] != "refused" for r in dangerous),
              "multi_line_messages": sum(not r["one_line"] for r in rows),
              "by_mutation": [{"mutation": m, "child": c, "kdedge": k, "files": n}
                              for (m, c, k), n in sorted(by.items())],
              "crash_examples": [r for r in dangerous][:10], "rows": rows}
    md = [f"# Fuzzing model files: {len(rows)} mutated `.tflite` files", "", "```", report["command"], "```", "",
          f"- Sources: {', '.join(f'`{k}` ({v:,} bytes)' for k, v in report['sources'].items())}; "
          f"{seconds:.0f} s in all.",
          "- `child`: LiteRT in a child process loading the file, allocating and invoking once on zeros; "
          "`kdedge`: `check_model` then `TextClassifier` and one `classify`, as `predict`/`serve` do.",
          f"- This process never died (it wrote this report); files that crashed or hung the child yet were "
          f"not refused by kdedge: **{report['crashed_or_hung_not_refused']}**; kdedge refusals longer than one "
          f"line: **{report['multi_line_messages']}**.", "",
          "| mutation | child outcome | kdedge | files |", "|---|---|---|---:|"]
    md += [f"| {r['mutation']} | {r['child']} | {r['kdedge']} | {r['files']} |" for r in report["by_mutation"]]
    md += ["", "Totals — child: " + ", ".join(f"{k} {v}" for k, v in sorted(report["child"].items()))
           + "; kdedge: " + ", ".join(f"{k} {v}" for k, v in sorted(report["kdedge"].items())) + ".", ""]
    if dangerous:
        md += ["Examples of files that crashed or hung LiteRT (refused by kdedge):", ""]
        md += [f"- #{r['i']} {r['mutation']} of {r['source']}: child {r['child']} ({r['child_detail']}); "
               f"kdedge: {r['message']}" for r in dangerous[:5]]
        md.append("")
    args.out.mkdir(parents=True, exist_ok=True)
    write_named_report(args.out, args.stem, report, "\n".join(md))


if __name__ == "__main__":
    main()
