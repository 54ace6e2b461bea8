"""The inputs every variant gets: tokenized once, as numpy int64 arrays, identical for all.

Three workloads: batch 1 and batch 8 at a full 128 tokens (the product's synthetic rows, edgebert.bench.inputs: real
test texts' token ids packed end to end to fill the window, so every position is a real token and attention is not
masked), and the test split at its true lengths (batch 1, each text padded to nothing but itself). The real-length
pass also yields every variant's logits on the test split, so accuracy comes from the very calls that were timed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgebert.bench.inputs import Workload, synthetic_rows
from edgebert.errors import UserError


@dataclass(frozen=True)
class WorkloadCalls:
    """A workload (the product's `Workload`) and the inputs of its timed calls, the same for every variant."""

    workload: Workload
    calls: tuple[dict[str, np.ndarray], ...]  # timed call i uses calls[i % len(calls)]

    @property
    def name(self) -> str:  # "b1-s128", "b8-s128", "real-b1"
        return self.workload.name

    @property
    def batch_size(self) -> int:
        return self.workload.batch_size

    @property
    def seq_len(self) -> int | None:  # None: each call has its own (true) length
        return self.workload.seq_len

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


def build_workloads(
    model_dir: Path, texts: Sequence[str], pack_texts: Sequence[str], seq_len: int = 128
) -> dict[str, WorkloadCalls]:
    """`texts` at their true lengths; `pack_texts` (the whole split, even in a quick run) fill the fixed-length rows."""
    tok = load_tokenizer(model_dir, seq_len)
    rows = synthetic_rows(tok, pack_texts, 8, seq_len)
    real = tuple(_arrays([tok.encode(t)]) for t in texts)
    b1, b8 = Workload("synthetic", 1, seq_len), Workload("synthetic", 8, seq_len)
    return {
        b1.name: WorkloadCalls(b1, ({k: v[:1] for k, v in rows.items()},)),
        b8.name: WorkloadCalls(b8, (rows,)),
        "real-b1": WorkloadCalls(Workload("real", 1, None), real),
    }
