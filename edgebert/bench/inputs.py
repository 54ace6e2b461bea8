"""The inputs bench times: synthetic rows of exactly N real token ids, and the evaluation split in padded batches.

One home for synthetic seq-N inputs: bench, bench --interleave and benchmarks/peers build them here.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from edgebert.errors import UserError
from edgebert.runtime import Encoder


def _special_tokens(encoder: Encoder, text: str) -> tuple[list[int], list[int]]:
    """The ids a real encoding puts before and after the text ([CLS] … [SEP], <s> … </s>)."""
    enc = encoder.tokenizer.encode(text)
    real = [(i, s) for i, s, m in zip(enc.ids, enc.special_tokens_mask, enc.attention_mask) if m]
    head = list(itertools.takewhile(lambda p: p[1], real))
    tail = list(itertools.takewhile(lambda p: p[1], reversed(real[len(head) :])))
    return [i for i, _ in head], [i for i, _ in reversed(tail)]


def synthetic_inputs(encoder: Encoder, texts: Sequence[str], batch_size: int, seq_len: int) -> dict[str, np.ndarray]:
    """`batch_size` rows of exactly `seq_len` real token ids: the evaluation texts' ids back to back, wrapped."""
    head, tail = _special_tokens(encoder, texts[0])
    body = seq_len - len(head) - len(tail)
    if body < 1:
        raise UserError(
            f"sequence length {seq_len} leaves no room for text after the {len(head) + len(tail)} special tokens"
        )
    encs = encoder.tokenizer.encode_batch(list(texts[:512]), add_special_tokens=False)
    stream = np.array([i for e in encs for i, m in zip(e.ids, e.attention_mask) if m], dtype=np.int64)
    if stream.size == 0:
        raise UserError("the evaluation texts tokenize to nothing; cannot build synthetic inputs")
    rows = [
        head + np.take(stream, np.arange(r * body, (r + 1) * body), mode="wrap").tolist() + tail
        for r in range(batch_size)
    ]
    arrays = {
        "input_ids": np.array(rows, dtype=np.int64),
        "attention_mask": np.ones((batch_size, seq_len), dtype=np.int64),
        "token_type_ids": np.zeros((batch_size, seq_len), dtype=np.int64),
    }
    return {k: arrays[k] for k in encoder.input_names}


def real_batches(
    encoder: Encoder, texts: Sequence[str], batch_size: int, sort_by_length: bool
) -> list[dict[str, np.ndarray]]:
    """The texts in batches padded to their own longest text; sorted by length first, so padding stays small."""
    order = np.argsort(encoder.lengths(texts), kind="stable") if sort_by_length else np.arange(len(texts))
    return [encoder([texts[j] for j in order[i : i + batch_size]]) for i in range(0, len(texts), batch_size)]
