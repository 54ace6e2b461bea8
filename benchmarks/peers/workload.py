"""The inputs every variant gets: tokenized once, as numpy int64 arrays, identical for all.

Three workloads: batch 1 and batch 8 at a full 128 tokens (real test texts packed end to end until they fill the
window, so every position is a real token and attention is not masked), and the test split at its true lengths
(batch 1, each text padded to nothing but itself). The real-length pass also yields every variant's logits on
the test split, so accuracy comes from the very calls that were timed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgebert.errors import UserError

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class Workload:
    name: str  # "b1-s128", "b8-s128", "real-b1"
    batch_size: int
    seq_len: int | None  # None: each call has its own (true) length
    calls: tuple[dict[str, np.ndarray], ...]  # timed call i uses calls[i % len(calls)]

    def tokens(self, i: int) -> int:
        return int(self.calls[i % len(self.calls)]["attention_mask"].sum())

    def mean_tokens(self, iterations: int) -> float:
        return float(np.mean([self.tokens(i) for i in range(iterations)]))

    def seq_lens(self, iterations: int) -> list[int]:
        """The padded length of each timed call (what the model computes over)."""
        return [int(self.calls[i % len(self.calls)]["input_ids"].shape[1]) for i in range(iterations)]


def load_tokenizer(model_dir: Path, max_length: int):
    from tokenizers import Tokenizer

    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        raise UserError(f"{model_dir} has no tokenizer.json (a fast tokenizer); the peers benchmark needs one")
    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=max_length)
    tok.no_padding()
    return tok


def _arrays(encodings) -> dict[str, np.ndarray]:
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def packed_rows(tokenizer, texts: Sequence[str], rows: int, seq_len: int) -> list:
    """`rows` encodings of exactly `seq_len` tokens, each made of consecutive test texts joined by spaces."""
    out, buf = [], []
    for text in texts:
        buf.append(text)
        enc = tokenizer.encode(" ".join(buf))
        if len(enc.ids) >= seq_len:
            out.append(enc)
            buf = []
            if len(out) == rows:
                return out
    raise UserError(f"the evaluation texts are too few to fill {rows} rows of {seq_len} tokens")


def build_workloads(
    model_dir: Path, texts: Sequence[str], pack_texts: Sequence[str], seq_len: int = 128
) -> dict[str, Workload]:
    """`texts` at their true lengths; `pack_texts` (the whole split, even in a quick run) fill the fixed-length rows."""
    tok = load_tokenizer(model_dir, seq_len)
    rows = packed_rows(tok, pack_texts, 8, seq_len)
    real = tuple(_arrays([tok.encode(t)]) for t in texts)
    return {
        f"b1-s{seq_len}": Workload(f"b1-s{seq_len}", 1, seq_len, (_arrays(rows[:1]),)),
        f"b8-s{seq_len}": Workload(f"b8-s{seq_len}", 8, seq_len, (_arrays(rows),)),
        "real-b1": Workload("real-b1", 1, None, real),
    }
