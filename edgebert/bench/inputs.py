"""The inputs bench times: what a workload is, synthetic rows of exactly N real token ids, and the evaluation split in
padded batches.

One home for workloads and synthetic seq-N inputs: bench, bench --interleave, the reports and the benchmarks
(benchmarks/peers, benchmarks/compress_ab.py) all use these.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

import numpy as np

from edgebert.errors import UserError

if TYPE_CHECKING:
    from edgebert.runtime import Encoder


def _special_tokens(tokenizer, text: str) -> tuple[list[int], list[int]]:
    """The ids a real encoding puts before and after the text ([CLS] … [SEP], <s> … </s>)."""
    enc = tokenizer.encode(text)
    real = [(i, s) for i, s, m in zip(enc.ids, enc.special_tokens_mask, enc.attention_mask) if m]
    head = list(itertools.takewhile(lambda p: p[1], real))
    tail = list(itertools.takewhile(lambda p: p[1], reversed(real[len(head) :])))
    return [i for i, _ in head], [i for i, _ in reversed(tail)]


class Workload(NamedTuple):
    """One timed configuration: what a latency row was measured on."""

    mode: str  # "synthetic" (every sequence seq_len tokens) or "real" (the dataset's own texts)
    batch_size: int
    seq_len: int | None

    @property
    def name(self) -> str:
        """A short key: "b1-s128" (synthetic), "real-b1" (real lengths)."""
        return f"real-b{self.batch_size}" if self.mode == "real" else f"b{self.batch_size}-s{self.seq_len}"

    def describe(self) -> str:
        if self.mode == "real":
            return f"real lengths, batch {self.batch_size}"
        return f"{self.mode}, batch {self.batch_size}, seq {self.seq_len}"

    def sort_key(self) -> tuple:
        # Real lengths first (closest to use), then batch 1, then the longest synthetic sequence.
        return (self.mode != "real", self.batch_size, -(self.seq_len or 0), self.mode)

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


def synthetic_rows(tokenizer, texts: Sequence[str], batch_size: int, seq_len: int) -> dict[str, np.ndarray]:
    """`batch_size` rows of exactly `seq_len` real token ids (a `tokenizers.Tokenizer`'s): the texts' ids back to back,
    wrapped, between the special tokens a real encoding has; no padding. Every input a BERT-family model takes."""
    head, tail = _special_tokens(tokenizer, texts[0])
    body = seq_len - len(head) - len(tail)
    if body < 1:
        raise UserError(
            f"sequence length {seq_len} leaves no room for text after the {len(head) + len(tail)} special tokens"
        )
    encs = tokenizer.encode_batch(list(texts[:512]), add_special_tokens=False)
    stream = np.array([i for e in encs for i, m in zip(e.ids, e.attention_mask) if m], dtype=np.int64)
    if stream.size == 0:
        raise UserError("the evaluation texts tokenize to nothing; cannot build synthetic inputs")
    rows = [
        head + np.take(stream, np.arange(r * body, (r + 1) * body), mode="wrap").tolist() + tail
        for r in range(batch_size)
    ]
    return {
        "input_ids": np.array(rows, dtype=np.int64),
        "attention_mask": np.ones((batch_size, seq_len), dtype=np.int64),
        "token_type_ids": np.zeros((batch_size, seq_len), dtype=np.int64),
    }


def synthetic_inputs(encoder: Encoder, texts: Sequence[str], batch_size: int, seq_len: int) -> dict[str, np.ndarray]:
    """`batch_size` rows of exactly `seq_len` real token ids: the evaluation texts' ids back to back, wrapped."""
    arrays = synthetic_rows(encoder.tokenizer, texts, batch_size, seq_len)
    return {k: arrays[k] for k in encoder.input_names}


def real_batches(
    encoder: Encoder, texts: Sequence[str], batch_size: int, sort_by_length: bool
) -> list[dict[str, np.ndarray]]:
    """The texts in batches padded to their own longest text; sorted by length first, so padding stays small."""
    order = np.argsort(encoder.lengths(texts), kind="stable") if sort_by_length else np.arange(len(texts))
    return [encoder([texts[j] for j in order[i : i + batch_size]]) for i in range(0, len(texts), batch_size)]
