"""Explain stage: word attributions of the teacher, the distilled student, its labels-only twin and the
exported ``.tflite`` files, over the same words, with how faithful they are and how much they agree.

- Teacher (``--teacher-dir``) and the Keras students of ``--distill-dir`` (``student.keras``, and
  ``baseline.keras``, the labels-only twin): Integrated Gradients (:mod:`kdedge.explain.ig`).
- Each ``.tflite`` of ``--files`` from ``--export-dir`` (default the float32 and int8 students): Shapley
  values by permutation sampling (:mod:`kdedge.explain.shapley`) — the file that runs on the phone.
- Faithfulness per model (:mod:`kdedge.explain.faithfulness`): each model's own answers with words masked
  (students: ``<UNKNOWN>``; teacher: ``[MASK]``), beside a random ranking.
- Agreement (:mod:`kdedge.explain.agreement`): teacher vs student, teacher vs twin (IG both), float32 vs
  int8 file (Shapley both), each with a permutation baseline.

Output folder (``kdedge explain --out DIR``)::

    DIR/attributions.jsonl  per text and model: words, scores, label, probabilities (+ IG completeness)
    DIR/explain.json        the figures (faithfulness, agreement, completeness) and the examples
    DIR/report.md           the same as tables, with the most instructive examples
    DIR/explain.html        words highlighted by score, models side by side (a static page)
    DIR/example.png         one example's per-word scores, every model
    DIR/agreement.png       the agreement distributions against their baselines
    DIR/config.json         the resolved ExplainConfig (written last: the folder is complete)
"""

from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path

import numpy as np

from kdedge import layout
from kdedge.errors import ConfigError
from kdedge.options import comma_list, setting

PAIRS = (("teacher", "student"), ("teacher", "twin"), ("student_float32", "student_int8"))


@dataclasses.dataclass
class ExplainConfig:
    """Settings of the explain stage; each field is a ``kdedge explain`` flag."""

    max_texts: int = setting(500, "Explain a seeded sample of this many eval texts (all when fewer).")
    steps: int = setting(32, "Integrated Gradients steps to start with (doubled, up to 512, while the "
                         "completeness error is above 0.01).")
    permutations: int = setting(64, "Shapley permutations per text for the .tflite files.")
    files: tuple = setting(("student_float32", "student_int8"), "Comma-separated export manifest names explained "
                           "with Shapley values.", type=str)
    whole: bool = setting(True, "Sample only eval texts that the teacher and the student read whole (no "
                          "truncation), so every model's explanation covers the same words.")
    seed: int = setting(0, "Random seed.", cli=False)

    def __post_init__(self):
        self.files = tuple(comma_list(self.files))

    def validate(self) -> None:
        if self.max_texts < 1:
            raise ConfigError(f"--max-texts must be >= 1, got {self.max_texts}")
        if self.steps < 1 or self.permutations < 2:
            raise ConfigError(f"need --steps >= 1 and --permutations >= 2, got {self.steps}, {self.permutations}")


def run_explain(export_dir, data_dir, teacher_dir, distill_dir, out, cfg: ExplainConfig,
                texts: list[str] | None = None) -> dict:
    """Explain ``texts`` (default: a seeded sample of the eval split) with every model; write ``out``."""
    import tensorflow as tf

    from kdedge.classifier import TextClassifier
    from kdedge.explain import agreement
    from kdedge.explain.faithfulness import FRACTIONS, erasure, random_erasure
    from kdedge.explain.ig import Attribution, student_ig, teacher_ig
    from kdedge.explain.shapley import keras_game, shapley_values, tflite_game
    from kdedge.explain.words import student_words
    from kdedge.io import read_json, write_json, write_text
    from kdedge.models.student import load_student
    from kdedge.models.teacher import load_teacher, tokenize
    from kdedge.progress import progress
    from kdedge.text.tokenizer import load_tokenizer
    from kdedge.training.batching import pad_batch

    cfg.validate()
    export_dir = layout.require(export_dir, "export", layout.MANIFEST)
    if layout.is_ensemble(teacher_dir):
        raise ConfigError(f"--teacher-dir {teacher_dir} is an ensemble: explain compares one teacher model "
                          "with the student (pass one member's folder)")
    teacher_dir = layout.require(teacher_dir, "teacher", layout.TEACHER_MODEL, layout.CONFIG)
    distill_dir = layout.require(distill_dir, "distill", layout.STUDENT, layout.TOKENIZER)
    from kdedge.stages.merge import is_merged_dir
    if is_merged_dir(distill_dir):
        raise ConfigError(f"--distill-dir {distill_dir} is a merged student: explain's attributions need one "
                          "embedding table (pass a member's folder)")
    manifest = {e["name"]: e for e in read_json(export_dir / layout.MANIFEST)["models"]}
    unknown = [f for f in cfg.files if f not in manifest]
    if unknown:
        raise ConfigError(f"--files {','.join(unknown)}: not in {export_dir}/{layout.MANIFEST}")
    tokenizer = load_tokenizer(distill_dir / layout.TOKENIZER)
    teacher, teacher_tok = load_teacher(teacher_dir / layout.TEACHER_MODEL)
    teacher_cfg = read_json(teacher_dir / layout.CONFIG)
    teacher_len, truncation = int(teacher_cfg["max_len"]), teacher_cfg.get("truncation", "head")
    gold, eligible = None, None
    if texts is None:
        data_dir = layout.require(data_dir, "data", layout.EVAL)
        texts, gold, eligible = sample_texts(Path(data_dir), cfg, tokenizer, teacher_tok, teacher_len)
    keras_models = {"student": load_student(distill_dir / layout.STUDENT)}
    if (distill_dir / layout.BASELINE).is_file():
        keras_models["twin"] = load_student(distill_dir / layout.BASELINE)
    layout.manifest_models(export_dir, [manifest[name] for name in cfg.files])
    files = {name: TextClassifier(export_dir / manifest[name]["file"]) for name in cfg.files}
    labels = next(iter(files.values())).labels if files else None

    def teacher_game(words):
        def game(keep):
            masked = []
            for row in np.atleast_2d(keep):
                text, end = [], 0
                for (a, b), k in zip(words.spans, row):
                    text.append(words.text[end:a] + (words.text[a:b] if k else teacher_tok.mask_token))
                    end = b
                masked.append("".join(text) + words.text[end:])
            batch, mask = pad_batch(tokenize(teacher_tok, masked, teacher_len, truncation), teacher_len,
                                    teacher_tok.pad_token_id)
            logits = teacher({"input_ids": batch, "attention_mask": mask}, training=False).logits
            return tf.nn.softmax(logits, -1).numpy()
        return game

    records, per_model = [], {}
    for i, text in enumerate(progress(texts, desc="explain", unit="text")):
        words = student_words(tokenizer, text)
        row = {"index": i, "text": text, "words": list(words.words), "gold": None if gold is None else int(gold[i]),
               "models": {}}
        explained = {"teacher": (teacher_ig(teacher, teacher_tok, words, teacher_len, steps=cfg.steps,
                                            truncation=truncation),
                                 teacher_game(words))}
        for name, model in keras_models.items():
            explained[name] = (student_ig(model, tokenizer, words, steps=cfg.steps),
                               keras_game(model, tokenizer, words))
        for name, clf in files.items():
            game = tflite_game(clf, words)
            explained[name] = (shapley_values(game, len(words), permutations=cfg.permutations, seed=cfg.seed + i), game)
        for name, (a, game) in explained.items():
            ig = isinstance(a, Attribution)
            m = {"method": "integrated-gradients" if ig else "shapley-permutation",
                 "scores": [round(float(s), 6) for s in a.scores], "label": int(a.target),
                 "probabilities": [round(float(p), 6) for p in a.probabilities]}
            if ig:
                m["completeness_error"], m["steps"] = float(a.completeness_error), int(a.steps)
            if len(words):
                m["erasure"] = erasure(game, a.scores, a.target)
                m["random_erasure"] = random_erasure(game, len(words), a.target, seed=cfg.seed + i)
            row["models"][name] = m
            per_model.setdefault(name, []).append(m)
        row["agreement"] = {}
        for x, y in PAIRS:
            if x in row["models"] and y in row["models"] and len(words):
                a, b = row["models"][x]["scores"], row["models"][y]["scores"]
                row["agreement"][f"{x}~{y}"] = {"observed": agreement.compare(a, b),
                                                "baseline": agreement.permutation_baseline(a, b, seed=cfg.seed + i)}
        records.append(row)

    summary = summarize(records, per_model, FRACTIONS)
    summary["examples"] = instructive_examples(records)
    summary["labels"] = labels
    summary["sample"] = {"whole_texts_only": cfg.whole if gold is not None else None, "eligible": eligible,
                         "teacher_max_len": teacher_len, "teacher_truncation": truncation,
                         "student_max_len": int(tokenizer.max_len)}
    summary["finding"] = distillation_finding(summary)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "attributions.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    write_json(out / "explain.json", summary)
    plot_example(records[summary["examples"]["figure"]], out / "example.png")
    plot_agreement(summary, out / "agreement.png")
    write_text(out / "explain.html", render_html(records, summary, labels))
    write_text(out / "report.md", render_markdown(summary, labels, records))
    write_json(out / layout.CONFIG, {**dataclasses.asdict(cfg), "export": str(export_dir), "teacher": str(teacher_dir),
                                     "distill": str(distill_dir), "data": str(data_dir), "texts": len(texts)})
    return summary


def sample_texts(data_dir: Path, cfg: ExplainConfig, tokenizer, teacher_tok, teacher_len: int):
    """A seeded sample of ``cfg.max_texts`` labeled eval texts (with ``cfg.whole``: among those both models read
    whole), their gold labels, and how many texts were eligible."""
    from kdedge.data import Split
    from kdedge.explain.words import student_words

    evals = Split.from_jsonl(data_dir / layout.EVAL, "eval")
    ok = evals.labels >= 0
    if cfg.whole:
        pieces = teacher_tok(list(evals.texts), add_special_tokens=True, truncation=False,
                             return_attention_mask=False, return_token_type_ids=False, verbose=False)["input_ids"]
        limit = tokenizer.max_len
        for i, text in enumerate(evals.texts):
            ok[i] = ok[i] and len(pieces[i]) <= teacher_len and len(student_words(tokenizer, text, limit + 1)) <= limit
    keep = np.flatnonzero(ok)
    if not len(keep):
        raise ConfigError(f"{data_dir / layout.EVAL}: no labeled eval text " + (
            f"fits both the teacher ({teacher_len} pieces) and the student ({tokenizer.max_len} words); "
            "use --no-whole" if cfg.whole else "to explain"))
    eligible = len(keep)
    if cfg.max_texts < len(keep):
        keep = np.sort(np.random.default_rng(cfg.seed).permutation(keep)[:cfg.max_texts])
    return [evals.texts[i] for i in keep], evals.labels[keep], eligible


def summarize(records: list[dict], per_model: dict, fractions) -> dict:
    from kdedge.explain.agreement import summarize as dist

    faith = {}
    for name, ms in per_model.items():
        with_words = [m for m in ms if "erasure" in m]
        entry = {"method": ms[0]["method"], "texts": len(ms)}
        for key in ("aopc_comprehensiveness", "aopc_sufficiency"):
            entry[key] = float(np.mean([m["erasure"][key] for m in with_words]))
            entry[f"random_{key}"] = float(np.mean([m["random_erasure"][key] for m in with_words]))
        for key in ("comprehensiveness", "sufficiency"):
            entry[key] = np.mean([m["erasure"][key] for m in with_words], 0).tolist()
            entry[f"random_{key}"] = np.mean([m["random_erasure"][key] for m in with_words], 0).tolist()
        if "completeness_error" in ms[0]:
            errors = [m["completeness_error"] for m in ms]
            entry["completeness_error"] = {"median": float(np.median(errors)), "p90": float(np.percentile(errors, 90)),
                                           "max": float(np.max(errors))}
            entry["steps"] = {"median": float(np.median([m["steps"] for m in ms])),
                              "max": int(max(m["steps"] for m in ms))}
        faith[name] = entry
    agree = {}
    for pair in {k for r in records for k in r["agreement"]}:
        rows = [r["agreement"][pair] for r in records if pair in r["agreement"]]
        agree[pair] = {measure: {"observed": dist([x["observed"][measure] for x in rows]),
                                 "baseline": dist([x["baseline"][measure] for x in rows])}
                       for measure in rows[0]["observed"]}
    return {"texts": len(records), "fractions": list(fractions), "faithfulness": faith, "agreement": agree}


def distillation_finding(summary: dict) -> str | None:
    """One sentence: does the distilled student decide for the teacher's reasons more than its labels-only twin?"""
    agree = summary.get("agreement", {})
    try:
        a = agree["teacher~student"]["spearman"]["observed"]["median"]
        b = agree["teacher~twin"]["spearman"]["observed"]["median"]
    except KeyError:
        return None
    if a is None or b is None:
        return None
    verdict = "more" if a > b else "no more" if a == b else "less"
    return (f"the distilled student's attributions agree with the teacher's {verdict} than the labels-only twin's "
            f"do (median Spearman {a:.3f} vs {b:.3f}).")


def instructive_examples(records: list[dict], k: int = 3) -> dict:
    """Texts where teacher and student agree on the label but least on the reasons, and where the labels differ."""
    same, differ = [], []
    for r in records:
        got = r["agreement"].get("teacher~student")
        if not got:
            continue
        rho = got["observed"]["spearman"]
        if r["models"]["teacher"]["label"] == r["models"]["student"]["label"]:
            if rho is not None:
                same.append((rho, r["index"]))
        else:
            differ.append((-(rho if rho is not None else 0), r["index"]))
    same.sort()
    differ.sort()
    figure = max(range(len(records)), key=lambda i: (len(records[i]["words"]) <= 14, len(records[i]["words"])))
    return {"same_label_least_agreement": [i for _, i in same[:k]], "different_label": [i for _, i in differ[:k]],
            "figure": figure}


def render_markdown(summary: dict, labels, records: list[dict] | None = None) -> str:
    lines = [f"# Why did it say that? {summary['texts']} texts", ""]
    sample = summary.get("sample") or {}
    if sample.get("eligible") is not None:
        lines += [f"Texts: a seeded sample of {summary['texts']} of the {sample['eligible']:,} labeled eval texts"
                  + (f" that both models read whole (the teacher at most {sample['teacher_max_len']} word pieces, "
                     f"the student at most {sample['student_max_len']} words)" if sample["whole_texts_only"] else "")
                  + ".", ""]
    finding = distillation_finding(summary)
    if finding:
        lines += [f"**Finding:** {finding}", ""]
    lines += [
             "Faithfulness: each model's own probability of the label it gave, with the top-scored words masked "
             "(comprehensiveness: higher is better) or kept alone (sufficiency: lower is better), AOPC over "
             f"{', '.join(f'{100 * q:g}%' for q in summary['fractions'])} of the words; `random` is the same for a "
             "random ranking.", "",
             "| model | method | AOPC comprehensiveness | random | AOPC sufficiency | random | IG completeness error "
             "(median / p90) | IG steps (median / max) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, f in summary["faithfulness"].items():
        ce, st = f.get("completeness_error"), f.get("steps")
        lines.append(f"| {name} | {f['method']} | {f['aopc_comprehensiveness']:.4f} | "
                     f"{f['random_aopc_comprehensiveness']:.4f} | {f['aopc_sufficiency']:.4f} | "
                     f"{f['random_aopc_sufficiency']:.4f} | "
                     + (f"{ce['median']:.4f} / {ce['p90']:.4f} | {st['median']:g} / {st['max']} |" if ce else "| |"))
    lines += ["", "Agreement: median (IQR) over texts; `baseline` = the same against a random permutation of the "
                  "second model's scores.", "",
              "| pair | measure | observed | baseline |", "|---|---|---:|---:|"]
    for pair, measures in sorted(summary["agreement"].items()):
        for measure, v in measures.items():
            o, b = v["observed"], v["baseline"]
            if o["median"] is None:
                continue
            lines.append(f"| {pair.replace('~', ' vs ')} | {measure} | {o['median']:.3f} ({o['q1']:.3f}–{o['q3']:.3f}) "
                         f"| {b['median']:.3f} |")
    lines += ["", "![one example](example.png)", "", "![agreement](agreement.png)", ""]
    titles = {"same_label_least_agreement": "Same label, least agreement on the reasons (teacher vs student)",
              "different_label": "Teacher and student give different labels"}
    for key, title in titles.items():
        if records is None or not summary["examples"][key]:
            continue
        lines += [f"## {title}", "", "| # | text | " + " | ".join(records[0]["models"]) + " |",
                  "|---:|---|" + "---|" * len(records[0]["models"])]
        for i in summary["examples"][key]:
            r = records[i]
            text = (r["text"] if len(r["text"]) <= 160 else r["text"][:159] + "…").replace("|", "\\|")
            cells = []
            for m in r["models"].values():
                label = labels[m["label"]] if labels else str(m["label"])
                top = np.argsort(-np.asarray(m["scores"]), kind="stable")[:3]
                cells.append(f"**{label}**: " + ", ".join(f"{r['words'][j]} {m['scores'][j]:+.3f}" for j in top))
            lines.append(f"| {i} | {text} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Words highlighted by score for these and more texts: [explain.html](explain.html).", ""]
    return "\n".join(lines)


def render_html(records: list[dict], summary: dict, labels, limit: int = 40) -> str:
    from kdedge.explain.html import LEGEND, STYLE, highlight

    ex = summary["examples"]
    chosen = list(dict.fromkeys(ex["same_label_least_agreement"] + ex["different_label"] + [ex["figure"]]))
    chosen += [r["index"] for r in records if r["index"] not in chosen][:max(0, limit - len(chosen))]
    names = list(records[0]["models"])
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for i in chosen:
        r = records[i]
        cells = []
        for n in names:
            m = r["models"][n]
            label = labels[m["label"]] if labels else str(m["label"])
            cells.append(f"<td><b>{html.escape(label)}</b> {max(m['probabilities']):.3f}<br>"
                         f"{highlight(r['words'], m['scores'])}</td>")
        rows.append(f"<tr><td>{i}</td>{''.join(cells)}</tr>")
    return ("<!doctype html><meta charset=utf-8><title>kdedge explain</title>"
            "<style>body{font:14px system-ui,sans-serif;margin:2em}td,th{border:1px solid #ddd;padding:6px;"
            f"vertical-align:top}}table{{border-collapse:collapse}}{STYLE}</style>"
            f"<h1>Why did it say that?</h1><p>{LEGEND}</p>"
            f"<table><tr><th>#</th>{head}</tr>{''.join(rows)}</table>")


def plot_example(record: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kdedge.io import write_figure

    names = list(record["models"])
    fig, axes = plt.subplots(len(names), 1, figsize=(max(6, 0.6 * len(record["words"])), 1.6 * len(names)),
                             sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        s = np.array(record["models"][name]["scores"])
        ax.bar(range(len(s)), s, color=["#2a8a2a" if v > 0 else "#c82828" for v in s])
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel(name, rotation=0, ha="right", fontsize=8)
    axes[-1, 0].set_xticks(range(len(record["words"])), record["words"], rotation=45, ha="right")
    fig.suptitle("Per-word attribution to each model's predicted label", fontsize=10)
    fig.tight_layout()
    write_figure(path, fig)


def plot_agreement(summary: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kdedge.io import write_figure

    pairs = sorted(summary["agreement"])
    measures = ["spearman", "top1", "top3", "sign3"]
    fig, axes = plt.subplots(1, len(measures), figsize=(3.2 * len(measures), 3.2), squeeze=False)
    for ax, measure in zip(axes[0], measures):
        for j, pair in enumerate(pairs):
            v = summary["agreement"][pair].get(measure)
            if not v or v["observed"]["median"] is None:
                continue
            o, b = v["observed"], v["baseline"]
            ax.errorbar([j], [o["median"]], yerr=[[o["median"] - o["q1"]], [o["q3"] - o["median"]]], fmt="o",
                        capsize=4, color="C0", label="observed (median, IQR)" if j == 0 else None)
            ax.plot([j], [b["median"]], "x", color="C3", label="permutation baseline" if j == 0 else None)
        ax.set_xticks(range(len(pairs)), [p.replace("~", "\nvs ") for p in pairs], fontsize=7)
        ax.set_title(measure)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    write_figure(path, fig)
