"""A run's measurements of one bundle: export it for the target, bench it on a split (alone or interleaved with
others), and its per-text correctness (classification's per-item statistics; search_tasks.py has every task's); and the two baselines every trial is measured against (fp32, plain int8).

`Baselines` is a part of `search.Search`: it reads the run's config, target, splits and directory from it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import bundle, data

# Rounds of the runoff (search.runoff): enough real-length calls that a p50 ratio is steady (the dev texts are
# visited in a random order, so a sample of them is unbiased); the whole 1,275-text split, with scoring, took over two
# minutes of a 12-minute run on a 2-core machine, while the trials it ranks waited for time.
RUNOFF_CALLS = 400


def real_p50(results: dict[str, Any]) -> float:
    rows = [r for r in results["latency"] if r["mode"] == "real" and r["batch_size"] == 1]
    return float(rows[0]["p50_ms"])


def correct_on(bundle_dir: Path, texts: data.LabelledTexts, cache: Path) -> np.ndarray:
    """Per-text correctness of a bundle (what the paired bootstrap resamples), cached beside its results."""
    if cache.is_file():
        return np.asarray(json.loads(cache.read_text()), dtype=bool)
    from edgebert.bench.accuracy import label2id
    from edgebert.runtime import Encoder, make_runner, predict_logits

    manifest = bundle.read_manifest(bundle_dir)
    preds = predict_logits(
        make_runner(Path(bundle_dir), manifest), Encoder(Path(bundle_dir), manifest), texts.texts
    ).argmax(1)
    correct = preds == texts.label_ids(label2id(manifest))
    write_json_atomic(cache, [int(c) for c in correct])
    return correct


def write_json_atomic(path: Path, value: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value) + "\n")
    tmp.replace(path)


class Baselines:
    """Export and bench for one run directory (a part of `Search`)."""

    def _export(self, model_dir: Path, out: Path, quantization=None, timing_only: bool = False) -> Path:
        from edgebert.export.exporter import export_bundle

        if (out / bundle.MANIFEST).is_file():
            return out  # resumed: already exported and validated
        dataset = self.task.export_dataset  # the run's data, resolved once in prepare() (search_tasks.py)
        if dataset is not None and not dataset.is_file():
            self.splits["test"].to_jsonl(dataset)
        return export_bundle(
            self.target,
            model_dir,
            out,
            dataset=dataset,
            quantization=quantization,
            max_length=self.config.max_length,
            force=True,
            evals=self.task.evals,
            task=self.kind.name,
            timing_only=timing_only,
        )

    def bench(self, bundle_dir: Path, out: Path, dataset: Path | None) -> dict[str, Any]:
        from edgebert.bench.runner import bench_bundle

        if out.is_file():
            return json.loads(out.read_text())
        seq = min(128, int(bundle.read_manifest(bundle_dir)["tokenizer"]["max_length"]))
        return bench_bundle(
            bundle_dir,
            batch_sizes=(1,),
            seq_lens=(seq,),
            real=True,
            warmup=5,
            iterations=self.config.bench_iterations,
            dataset=dataset,
            out=out,
            trust_torchscript=True,
        )  # bundles this run exported itself

    def bench_together(
        self, named: dict[str, str], paths: dict[str, Path], dataset: Path | None, runoff: bool = False
    ) -> None:
        """Bench `named` bundles interleaved round by round (edgebert.bench.interleave), so their ratios are measured
        side by side; skipped when every results file already holds its bundle (a resumed run). `runoff`: only the
        real-length workload, `RUNOFF_CALLS` texts of `dataset` (a random sample, the same for every bundle; a smaller
        split is visited more than once) instead of --bench-iterations calls, and no scoring (the trials' metric was
        measured on the same texts already)."""
        from edgebert.bench.interleave import bench_interleaved

        if all(
            paths[n].is_file() and json.loads(paths[n].read_text())["bundle"]["path"] == str(Path(b).absolute())
            for n, b in named.items()
        ):
            return
        seq = min(128, int(bundle.read_manifest(Path(next(iter(named.values()))))["tokenizer"]["max_length"]))
        bench_interleaved(
            list(named.values()),
            batch_sizes=(1,),
            seq_lens=() if runoff else (seq,),
            real=True,
            warmup=5,
            iterations=RUNOFF_CALLS if runoff else self.config.bench_iterations,
            dataset=dataset,
            out_files=[paths[n] for n in named],
            log=self.log,
            trust_torchscript=True,
            score=not runoff,
        )

    def baselines(self) -> dict[str, dict[str, Any]]:
        """The fp32 export and the plain int8 export of the unmodified model: what the search must beat."""
        from edgebert.targets import QuantizationSettings

        named, paths = {}, {}
        for name, q in (("fp32", QuantizationSettings(mode="none")), ("int8", None)):
            d = self.out / "baselines" / name
            d.mkdir(parents=True, exist_ok=True)
            self.log(f"baseline {name}: export")
            named[name], paths[name] = str(self._export(self.model_dir, d / "bundle", q)), d / "dev-results.json"
        self.log("baselines: bench on dev, interleaved")
        self.bench_together(named, paths, self.dev_file)
        out = {name: {"bundle": named[name], "dev": json.loads(paths[name].read_text())} for name in named}
        self.base = out
        # fp32's per-item statistics on dev (per-text correctness, per-sentence entity counts, Lee embeddings)
        self.fp32_dev_stats = self.task.stats(
            Path(out["fp32"]["bundle"]), "dev", self.out / "baselines" / "fp32" / "dev-items.json"
        )
        return out
