"""The golden texts of the Java tokenizer's parity test: deterministic (seeded), every corner Unicode has.

:func:`golden_texts` returns well-formed texts (no lone surrogates; the hashed format's UTF-8 needs
them well formed, as Python's ``str.encode`` does); :func:`lone_surrogate_texts` the few that are not.
"""

from __future__ import annotations

import random
import unicodedata

SURROGATES = range(0xD800, 0xE000)
CHUNK = 32  # code points per sweep text: each becomes a word, so max_len must hold 3 * CHUNK tokens
MAX_LEN = 3 * CHUNK + 8


def _sweep(first: int, last: int) -> list[str]:
    """Every code point of [first, last] once, in three texts per chunk: ``xCx`` words, their UPPER
    form, and ``Cx`` words (a Capitalized form when C is a capital). Whether C is a token character,
    a word character, a space or other, and how it lower- and upper-cases, changes the ids."""
    out = []
    for start in range(first, last + 1, CHUNK):
        chars = [chr(cp) for cp in range(start, min(start + CHUNK, last + 1)) if cp not in SURROGATES]
        if not chars:
            continue
        words = " ".join(f"x{c}x" for c in chars)
        out += [words, words.upper(), " ".join(f"{c}x" for c in chars)]
    return out


EMOJI = ["😀", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "1️⃣", "#️⃣", "❤️", "🧑🏿‍🚀", "🫠", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"]
WORDS = ["good", "bad", "film", "movie", "great", "boring", "café", "naïve", "don't", "rock'n'roll", "snake_case",
         "straße", "ǆemal", "ﬁne", "İstanbul", "ıi", "ΟΔΟΣ", "σοφός", "Σίσυφος", "ὈΔΥΣΣΕΎΣ", "東京", "映画",
         "привет", "مرحبا", "नमस्ते", "ประเทศ", "한국어", "𝐁𝐨𝐥𝐝", "𠀀𠀁", "𐌰𐌱", "x²", "½", "Ⅻ", "٣٤", "123"]


def _handmade() -> list[str]:
    sigma = ["Σ", "ΣΣ", "ΑΣ", "ΑΣ.", "ΑΣ'", "Α'Σ", "ΑΣ'Β", "ΑΣ\u0301", "Α\u00adΣ", "ΑΣ\u00adΒ", "1Σ", "ΑΣ1", "ΟΔΟΣ ΟΔΟΣ",
             "ΣΑΣ ΣΑΣ.", "Α\u0345Σ", "ΑΣ\u0345", "ꙊΣ", "ᾼΣ", "ǅΣ", "ΑΣ𝐀", "𝐀Σ", "Σ\u0300\u0300", "Α\u0300\u0300Σ"]
    turkish = ["İ", "İstanbul ISTANBUL istanbul", "ı I i İ", "i\u0307", "I\u0307", "DİYARBAKIR", "ŞIRNAK"]
    nul = ["good\0bad", "\0", "\0good", "a\0\0b", "good bad\0", "ΑΣ\0Β", "x\0" * 50]
    marks = []
    for w in ["café", "naïve", "Ångström", "crème brûlée", "Việt Nam", "Zoë", "ñandú", "한국어"]:
        marks += [unicodedata.normalize(f, w) for f in ("NFC", "NFD", "NFKC", "NFKD")]
    marks += ["e" + "\u0301\u0300\u0302\u0303" * 5, "Z\u0336\u0337a\u0338l\u0339g\u033ao", "\u0301 \u0301x \u0301X",
              "क्षत्रिय", "ภาษาไทย", "\u200bzero\u200bwidth\u200c\u200d", "soft\u00adhyphen", "a\ufe0fb\ufe0e"]
    space = ["", " ", "\t\n\r\x0b\x0c", "\x1c\x1d\x1e\x1f\x85", "\u00a0\u1680\u2000\u2028\u2029\u202f\u205f\u3000",
             "a\u200bb", "a\ufeffb", "tab\tsep\u00a0nbsp\u2028ls"]
    mask = ["[MASK] film", "[mask]", "[Mask]", "a[MASK]b", "[MASK][MASK]", "[ mask ]", "[MASK", "x[mask]x"]
    return sigma + turkish + nul + marks + space + mask + EMOJI + [" ".join(EMOJI), "".join(EMOJI)] + WORDS


def _long(rng: random.Random) -> list[str]:
    """Texts of 100,000 characters: tokens early, late (after 100k delimiters), and everywhere."""
    words = WORDS + EMOJI
    mixed = " ".join(rng.choice(words) for _ in range(20_000))[:100_000]
    return ["x" * 100_000, " " * 99_990 + "good film", "!" * 99_990 + "good film", "ΑΣ" * 50_000, mixed,
            ("Σ" + "\u0301" * 999) * 100, "🙂" * 50_000, "\u00ad" * 99_999 + "Σ", "a\u0301" * 50_000]


def _random(rng: random.Random, n: int) -> list[str]:
    """Random mixes: vocabulary-like words in every case form, random assigned characters, emoji."""
    assigned = [cp for cp in range(0x20, 0x323B0) if cp not in SURROGATES and unicodedata.category(chr(cp)) != "Cn"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 24)):
            kind = rng.random()
            if kind < 0.4:
                w = rng.choice(WORDS)
                parts.append(rng.choice([w, w.upper(), w.capitalize(), w.title(), w.swapcase()]))
            elif kind < 0.8:
                parts.append("".join(chr(rng.choice(assigned)) for _ in range(rng.randint(1, 6))))
            else:
                parts.append(rng.choice(EMOJI + [".", ",", "!", "?", "'", "\u0301", "\0", "_", "-"]))
        out.append(rng.choice([" ", "", "  ", ", "]).join(parts))
    return out


def golden_texts(extra: list[str] = (), seed: int = 0) -> list[str]:
    """The golden texts (more than 20,000): every code point of planes 0-3 (surrogates aside) and of
    plane 14, samples of the others, hand-written corners, 100k-character texts, random mixes, then
    ``extra`` (e.g. real sentences)."""
    rng = random.Random(seed)
    texts = _sweep(0, 0x323AF) + _sweep(0xE0000, 0xE01EF)
    texts += [" ".join(f"x{chr(rng.randrange(0x40000, 0x110000))}x" for _ in range(CHUNK)) for _ in range(100)]
    return texts + _handmade() + _long(rng) + _random(rng, 1500) + list(extra)


def lone_surrogate_texts() -> list[str]:
    """Texts with lone surrogates (never a pair: each stands between ASCII letters)."""
    return ["x" + chr(cp) + "x " + "a" + chr(cp) for cp in range(0xD800, 0xE000, 61)] + ["\ud800", "\udfff Σ"]
