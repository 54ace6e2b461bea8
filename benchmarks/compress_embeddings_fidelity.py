"""How close compress_embeddings.sh's bundles stay to the original model. bench scores each bundle against its own
source, so for the compressed one (whose source is the compressed PyTorch model) it cannot say how far it moved from
all-MiniLM-L6-v2. Here, on the Rotten Tomatoes test texts the bundles carry: nearest-neighbour agreement with the fp32
bundle (the original model) and the cosine of each bundle's vectors to the fp32 bundle's; and that cosine on Lee's 50
news documents, the texts Spearman is measured on, with each bundle's Spearman drop against the fp32 bundle, paired
over resampled documents (edgebert.search_stats.paired_drop, 95 % interval); then issue 14's check for the
compressed bundle: Spearman at most 0.02 below fp32's, and >= 1.8x faster than plain int8 at real lengths, batch 1
(the interleaved ratio compress_embeddings.sh's bench wrote into WORK_DIR/results/minilm-compressed-int8.json).

    python benchmarks/compress_embeddings_fidelity.py WORK_DIR     # the work dir compress_embeddings.sh wrote
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgebert.bench.embedding import neighbour_agreement, neighbours
from edgebert.data import load_lee
from edgebert.search_stats import paired_drop, spearman_metric
from edgebert.bundle import read_manifest
from edgebert.runtime import Encoder


def vectors(bundle: Path, texts: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """The bundle's vectors of `texts` (default: its evaluation texts)."""
    m = read_manifest(bundle)
    if texts is None:
        lines = (bundle / "eval.jsonl").read_text(encoding="utf-8").splitlines()
        texts = [json.loads(line)["text"] for line in lines]
    session = ort.InferenceSession(str(bundle / m["model_file"]), providers=["CPUExecutionProvider"])
    enc = Encoder(bundle, m)
    return texts, np.concatenate([session.run(None, enc(texts[i : i + 32]))[0] for i in range(0, len(texts), 32)])


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def main(work: Path) -> None:
    texts, fp32 = vectors(work / "minilm-fp32")
    lee_benchmark = load_lee()
    documents = list(lee_benchmark.documents)
    metric = spearman_metric(lee_benchmark.ratings)
    _, lee_fp32 = vectors(work / "minilm-fp32", documents)
    reference = neighbours(fp32)
    drops = {}
    for name in ("minilm-int8", "minilm-compressed-int8"):
        got_texts, got = vectors(work / name)
        assert got_texts == texts, f"{name} carries other evaluation texts than minilm-fp32"
        agreement = {k: round(v, 4) for k, v in neighbour_agreement(neighbours(got), reference).items()}
        lee_vectors = vectors(work / name, documents)[1]
        c, lee = cosine(got, fp32), cosine(lee_vectors, lee_fp32)
        drop = drops[name] = paired_drop(lee_fp32, lee_vectors, metric, confidence=0.95, resamples=2000)
        print(
            f"{name}: {agreement}, cosine to fp32 mean {c.mean():.4f} min {c.min():.4f}, {len(texts)} texts; "
            f"on Lee's {len(documents)} documents mean {lee.mean():.4f} min {lee.min():.4f}; "
            f"Spearman {drop.candidate_points / 100:.4f} vs fp32 {drop.reference_points / 100:.4f}: drop "
            f"{drop.drop_points / 100:+.4f} (95 % paired interval {drop.interval_points[0] / 100:+.4f} to "
            f"{drop.interval_points[1] / 100:+.4f}, documents resampled)"
        )
    drop = drops["minilm-compressed-int8"].drop_points / 100
    print(f"check: compressed Spearman {drop:+.4f} below fp32 (need <= 0.02): {'PASS' if drop <= 0.02 else 'FAIL'}")
    doc = json.loads((work / "results" / "minilm-compressed-int8.json").read_text())
    real = [r for r in doc["interleaved"]["ratios_to_first"] if r["mode"] == "real" and r["batch_size"] == 1]
    if not real:
        print("check: no interleaved real-length ratio in the results: FAIL")
        return
    speed, lo, hi = 1 / real[0]["ratio"], 1 / real[0]["high"], 1 / real[0]["low"]
    verdict = "PASS" if speed >= 1.8 else "FAIL"
    print(
        f"check: compressed vs plain int8 at real lengths, batch 1: {speed:.2f}x (95% {lo:.2f}-{hi:.2f}x; need >= 1.8): {verdict}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
