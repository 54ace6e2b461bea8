"""How close compress_embeddings.sh's bundles stay to the original model. bench scores each bundle against its own
source, so for the compressed one (whose source is the compressed PyTorch model) it cannot say how far it moved from
all-MiniLM-L6-v2. Here, on the Rotten Tomatoes test texts the bundles carry: nearest-neighbour agreement with the fp32
bundle (the original model) and the cosine of each bundle's vectors to the fp32 bundle's.

    python benchmarks/compress_embeddings_fidelity.py WORK_DIR     # the work dir compress_embeddings.sh wrote
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgebert.bench.embedding import neighbour_agreement, neighbours
from edgebert.bundle import read_manifest
from edgebert.runtime import Encoder


def vectors(bundle: Path) -> tuple[list[str], np.ndarray]:
    m = read_manifest(bundle)
    texts = [json.loads(line)["text"] for line in (bundle / "eval.jsonl").read_text(encoding="utf-8").splitlines()]
    session = ort.InferenceSession(str(bundle / m["model_file"]), providers=["CPUExecutionProvider"])
    enc = Encoder(bundle, m)
    return texts, np.concatenate([session.run(None, enc(texts[i : i + 32]))[0] for i in range(0, len(texts), 32)])


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def main(work: Path) -> None:
    texts, fp32 = vectors(work / "minilm-fp32")
    reference = neighbours(fp32)
    for name in ("minilm-int8", "minilm-compressed-int8"):
        got_texts, got = vectors(work / name)
        assert got_texts == texts, f"{name} carries other evaluation texts than minilm-fp32"
        agreement = {k: round(v, 4) for k, v in neighbour_agreement(neighbours(got), reference).items()}
        c = cosine(got, fp32)
        print(f"{name}: {agreement}, cosine to fp32 mean {c.mean():.4f} min {c.min():.4f}, {len(texts)} texts")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
