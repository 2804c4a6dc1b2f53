import numpy as np

from kdedge.text.augment import MASK, augment, augment_text
from kdedge.text.tokenizer import WordTokenizer

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


NEIGHBOURS = {"great": ["terrific", "fine"], "boring": ["dull"], "film": ["movie"]}


def test_replacement_swaps_only_for_neighbours_and_is_seeded():
    rng = np.random.default_rng(0)
    text = "a great film , boring plot"
    outs = [augment_text(text, rng, p_mask=0.0, p_ngram=0.0, p_replace=1.0, neighbours=NEIGHBOURS)
            for _ in range(50)]
    for out in outs:
        words = out.split()
        assert len(words) == 6 and words[0] == "a" and words[3] == "," and words[5] == "plot"
        assert words[1] in NEIGHBOURS["great"] and words[2] == "movie" and words[4] == "dull"
    assert {o.split()[1] for o in outs} == {"terrific", "fine"}
    assert augment(TEXTS, 3, p_replace=0.5, neighbours=NEIGHBOURS, seed=4) == \
        augment(TEXTS, 3, p_replace=0.5, neighbours=NEIGHBOURS, seed=4)


def test_mask_and_replace_split_one_draw_per_word():
    rng = np.random.default_rng(1)
    text = " ".join(["great"] * 20)
    outs = [augment_text(text, rng, p_mask=0.3, p_ngram=0.0, p_replace=0.5, neighbours=NEIGHBOURS).split()
            for _ in range(200)]
    flat = [w for o in outs for w in o]
    assert 0.25 < flat.count(MASK) / len(flat) < 0.35
    assert 0.45 < sum(w in ("terrific", "fine") for w in flat) / len(flat) < 0.55


def test_word_neighbours_are_nearest_by_cosine_and_skip_punctuation():
    from kdedge.text.augment import word_neighbours
    words = ["good", "great", "bad", "awful", ","]
    vectors = np.array([[1.0, 0.1], [2.0, 0.3], [-1.0, 0.0], [-3.0, 0.2], [1.0, 0.1]])
    out = word_neighbours(words, vectors, k=1)
    assert out == {"good": ["great"], "great": ["good"], "bad": ["awful"], "awful": ["bad"]}
