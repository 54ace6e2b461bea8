"""Extra distillation inputs: perturbed copies of the training texts, labelled by the teacher alone.

A teacher's logits on the very texts it was fine-tuned on say little more than the labels; on texts it has not seen
they carry what it learned. Tang et al. (2019, "Distilling Task-Specific Knowledge from BERT into Simple Neural
Networks") made such texts by masking words, swapping words and sampling spans, and found the augmented transfer set
was what let a small student approach a large teacher. Here words are dropped rather than masked (the teacher and the
student may tokenize differently, and a dropped word means the same to both), and swaps draw from the training texts'
own words (no tagger, no download). numpy only; the same texts and seed always give the same copies.
"""

from __future__ import annotations

import numpy as np

DROP = 0.1  # chance a word is left out
SWAP = 0.1  # chance a word is replaced by a word drawn from the training texts (by frequency)
SPAN = 0.25  # chance a copy is cut to a random span of at least a third of its words
SEED = 0  # fixed, so every run (and every seed of a study) shares one augmented set and its cached teacher logits


def augment_texts(texts: list[str] | tuple[str, ...], copies: int, seed: int = SEED) -> list[str]:
    """`copies` perturbed copies of each text, none equal to a training text or to each other.

    A copy that comes out the same as its source (or as one already made) is drawn again, up to a few times, then
    dropped: the result may hold slightly fewer than copies × len(texts) texts (short texts have few variants)."""
    if copies < 0:
        raise ValueError("copies must be >= 0")
    rng = np.random.default_rng(seed)
    words = [t.split() for t in texts]
    vocabulary = [w for ws in words for w in ws]  # by frequency: common words are swapped in more often
    seen = set(texts)
    out: list[str] = []
    for ws in words:
        for _ in range(copies):
            for _attempt in range(4):
                text = " ".join(_perturb(ws, vocabulary, rng))
                if text and text not in seen:
                    seen.add(text)
                    out.append(text)
                    break
    return out


def _perturb(words: list[str], vocabulary: list[str], rng: np.random.Generator) -> list[str]:
    if len(words) > 3 and rng.random() < SPAN:
        n = int(rng.integers(max(1, len(words) // 3), len(words) + 1))
        start = int(rng.integers(0, len(words) - n + 1))
        words = words[start : start + n]
    out = []
    for w in words:
        r = rng.random()
        if r < DROP:
            continue
        out.append(vocabulary[int(rng.integers(len(vocabulary)))] if r < DROP + SWAP else w)
    return out or words[:1]
