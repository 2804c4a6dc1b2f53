import numpy as np

from kdedge.augment import MASK, augment, augment_text
from kdedge.tokenizer import WordTokenizer

TEXTS = ["the film is a great and moving story", "dull", "an awful , boring plot that goes nowhere"]


def test_same_seed_same_copies_other_seed_other_copies():
    assert augment(TEXTS, 3, seed=1) == augment(TEXTS, 3, seed=1)
    assert augment(TEXTS, 3, seed=1) != augment(TEXTS, 3, seed=2)


def test_copies_are_new_texts_made_only_of_original_words_or_mask():
    out = augment(TEXTS, 5, p_mask=0.3, p_ngram=0.5, seed=0)
    assert out and len(out) == len(set(out)) and not set(out) & set(TEXTS)
    vocab = {w for t in TEXTS for w in t.split()} | {MASK}
    assert all(set(t.split()) <= vocab for t in out)


def test_masking_rate_and_ngram_length():
    rng = np.random.default_rng(0)
    text = " ".join(f"w{i}" for i in range(20))
    masked = [augment_text(text, rng, p_mask=0.5, p_ngram=0.0) for _ in range(200)]
    rate = np.mean([t.split().count(MASK) / 20 for t in masked])
    assert 0.45 < rate < 0.55
    cut = [augment_text(text, rng, p_mask=0.0, p_ngram=1.0) for _ in range(200)]
    assert all(1 <= len(t.split()) <= 5 for t in cut)
    # An n-gram is a contiguous run of the original words.
    assert all(t in text for t in cut)
    assert augment_text(text, rng, p_mask=0.0, p_ngram=0.0) == text


def test_student_tokenizer_reads_mask_as_unknown():
    tok = WordTokenizer.build(["a great film", f"a {MASK} film"], max_len=4, vocab_size=50)
    assert "[mask]" not in tok.vocab and "[MASK]" not in tok.vocab
    assert tok.encode([f"a {MASK} film"])[0].tolist() == [tok.index["a"], tok.unk_id, tok.index["film"], 0]
