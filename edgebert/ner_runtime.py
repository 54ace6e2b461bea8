"""Words in, one tag per word out: the token-classification path shared by training, export parity and bench.

numpy + `tokenizers` only (a Pi runs it). Sentences are encoded pre-tokenized (`is_pretokenized=True`), so the
tokenizer's `Encoding.word_ids` maps each sub-token to its word; a word's prediction is its first sub-token's logits
(as Hugging Face's token-classification recipe labels only first sub-tokens).

Truncation policy: a sentence longer than the max length loses its last sub-tokens; a word whose first sub-token was
cut has no prediction. Such words are *not scored* (neither as gold nor as predicted): entity F1 is computed over the
visible words, and every result counts the sentences and words that were cut, so nothing is hidden. A word the
tokenizer turns into no sub-token at all (only characters it drops) is predicted `O` and counted as `empty_words`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

TRUNCATION_POLICY = "words cut by the max length are left out of scoring (gold and predicted); counted in truncation"


class WordEncoder:
    """Pre-tokenized sentences → the model's int64 inputs plus, per row, each sub-token's word index (-1: none).

    `tokenizer`: a tokenizers.Tokenizer with truncation and padding already set (runtime.load_tokenizer sets them
    from the bundle's manifest; `configure` does it for a source model's tokenizer)."""

    def __init__(self, tokenizer, input_names: Sequence[str]):
        self.tokenizer = tokenizer
        self.input_names = list(input_names)

    def __call__(self, sentences: Sequence[Sequence[str]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        encs = self.tokenizer.encode_batch([list(s) for s in sentences], is_pretokenized=True)
        arrays = {
            "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
        }
        word_ids = np.array([[-1 if w is None else w for w in e.word_ids] for e in encs], dtype=np.int64)
        return {k: arrays[k] for k in self.input_names}, word_ids


def configure(tokenizer, max_length: int, pad_id: int, pad_token: str):
    """`tokenizer` set to cut at `max_length` and pad each batch to its longest row, as the runtime sets a bundle's."""
    tokenizer.enable_truncation(max_length=int(max_length))
    tokenizer.enable_padding(pad_id=int(pad_id), pad_token=str(pad_token))
    return tokenizer


def first_subtokens(word_ids: np.ndarray, n_words: int) -> np.ndarray:
    """Position of each word's first sub-token in one row (-1 when the word has none: cut or empty)."""
    first = np.full(n_words, -1, dtype=np.int64)
    for pos in range(len(word_ids) - 1, -1, -1):  # backwards, so the first occurrence wins
        w = word_ids[pos]
        if 0 <= w < n_words:
            first[w] = pos
    return first


@dataclass(frozen=True)
class WordPredictions:
    """Per sentence, the predicted label id of each visible word (its first `visible[i]` words), plus what was cut."""

    labels: list[np.ndarray]
    logits: list[np.ndarray]  # [visible words, labels] per sentence (an empty word's row is NaN)
    visible: list[int]
    truncated_sentences: int
    truncated_words: int
    empty_words: int

    def truncation(self) -> dict:
        return {
            "sentences": self.truncated_sentences,
            "words_cut": self.truncated_words,
            "empty_words": self.empty_words,
            "policy": TRUNCATION_POLICY,
        }


def predict_words(
    run: Callable[[dict[str, np.ndarray]], np.ndarray],
    encoder: WordEncoder,
    sentences: Sequence[Sequence[str]],
    o_id: int = 0,
    batch_size: int = 32,
) -> WordPredictions:
    """Word-level predictions of `run` (inputs → logits [batch, seq, labels]), batched in length order."""
    order = np.argsort([len(s) for s in sentences], kind="stable")
    labels: list = [None] * len(sentences)
    logits: list = [None] * len(sentences)
    visible = [0] * len(sentences)
    cut_sentences = cut_words = empty = 0
    for i in range(0, len(sentences), batch_size):
        idx = order[i : i + batch_size]
        inputs, word_ids = encoder([sentences[j] for j in idx])
        out = np.asarray(run(inputs), dtype=np.float32)
        for row, j in enumerate(idx):
            n = len(sentences[j])
            first = first_subtokens(word_ids[row], n)
            seen = np.flatnonzero(first >= 0)
            k = int(seen[-1]) + 1 if seen.size else 0  # words after the last visible one were cut
            if k < n:
                cut_sentences += 1
                cut_words += n - k
            rows = np.full((k, out.shape[-1]), np.nan, dtype=np.float32)
            has = first[:k] >= 0
            rows[has] = out[row, first[:k][has]]
            empty += int((~has).sum())
            pred = np.where(has, np.nan_to_num(rows, nan=-np.inf).argmax(-1) if k else 0, o_id)
            labels[j], logits[j], visible[j] = pred.astype(np.int64), rows, k
    return WordPredictions(labels, logits, visible, cut_sentences, cut_words, empty)
