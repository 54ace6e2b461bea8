"""What `edgebert run` measures for each task: the items its budget is a statement about, each bundle's per-item
statistics, and the primary metric that aggregates them (search_stats.Metric).

| task                    | dev (the choice)                  | test (the report)                | per item            |
|-------------------------|-----------------------------------|----------------------------------|---------------------|
| sequence-classification | the task's dev texts              | its test texts                   | correct (1/0)       |
| token-classification    | CoNLL-2003 dev sentences (or 10 % | CoNLL-2003 test (or 10 % of the  | (TP, predicted,     |
|                         | of the user's --dataset)          | user's --dataset)                | true) entities      |
| sentence-embedding      | 25 of the 50 Lee documents        | the other 25                     | the embedding       |

Lee has no dev/test split and only 50 documents: the search splits them in two fixed halves (seeded, the same on
every machine) so that the choice never sees the documents its final figure is measured on. Each half holds 300
rated pairs: the bounds are wide (a paired bootstrap over 25 documents), which the report states; the run's data
for distillation and calibration is unlabelled text (Rotten Tomatoes, or the user's --dataset), never Lee.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgebert import bundle, data, task_types
from edgebert.errors import UserError
from edgebert.search_stats import ACCURACY, ENTITY_F1, Metric, spearman_metric

LEE_DEV_DOCUMENTS = 25


def _cached(cache: Path, compute) -> np.ndarray:
    """Per-item statistics of a bundle, cached beside its results (a resumed run does not recompute them)."""
    from edgebert.search_baselines import write_json_atomic

    if cache.is_file():
        return np.asarray(json.loads(cache.read_text()))
    value = np.asarray(compute())
    write_json_atomic(cache, value.tolist())
    return value


def _lower_first(label: str) -> str:
    """'Accuracy' -> 'accuracy'; 'Entity F1' -> 'entity F1'; 'Spearman (Lee)' stays (a name)."""
    return label if label.startswith("Spearman") else label[:1].lower() + label[1:]


class SearchTask:
    """Sequence classification (and the interface): texts, per-text correctness, accuracy."""

    items = "texts"
    curve_metrics: tuple[str, ...] = ("dev_accuracy",)  # compress dev metrics that are this task's primary metric

    def __init__(self, kind: task_types.TaskType):
        self.kind = kind
        self.export_dataset: Path | None = None

    @property
    def unit(self) -> str:
        label = _lower_first(self.kind.metric_label)
        return f"points of {label}" if self.kind.percent else f"points of {label} x100"

    def load(self, model_dir: Path, config, out: Path) -> None:
        """Resolve the run's data once: `self.data` (what compress trains on), `self.splits` (dev/test items of the
        budget), `self.evals` (what every export validates on)."""
        from edgebert.compress.recipe import ResolvedData, resolve_data
        from edgebert.export.task_exports import EvalData

        self.data = ResolvedData(*resolve_data(model_dir, config.dataset, config.text_column, config.label_column))
        if self.data.splits is None:
            raise UserError(f"{model_dir} is not an edgebert task model; pass --dataset FILE with labelled texts")
        self.splits = self.data.splits
        # Validated on the test split, calibrated on dev (a user's dataset: its test split is the whole evaluation).
        self.evals = EvalData(self.splits["test"], self.splits["dev"], split="test", task=self.data.task)
        if config.dataset is not None:
            self.export_dataset = out / "test.jsonl"  # an input export must never overwrite
            self.evals = EvalData(self.splits["test"], self.splits["test"], split="all")

    def digest(self) -> str:
        return "+".join(data.dataset_digest(self.splits[k])[:16] for k in ("train", "dev", "test"))

    def size(self, split: str) -> int:
        return len(self.splits[split])

    def write_dev_file(self, out: Path) -> Path | None:
        """The file bench scores a trial on (None: the evaluation export packed into the bundle)."""
        path = out / "dev.jsonl"
        if not path.is_file():
            self.splits["dev"].to_jsonl(path)
        return path

    def metric(self, split: str) -> Metric:
        return ACCURACY

    def noise_points(self) -> float:
        """One standard error of the dev metric: how far one checkpoint's figure can move by chance."""
        return 100 * float(np.sqrt(0.25 / max(self.size("dev"), 1)))

    def stats(self, bundle_dir: Path, split: str, cache: Path) -> np.ndarray:
        from edgebert.search_baselines import correct_on

        return correct_on(bundle_dir, self.splits[split], cache)


class TokenClassificationTask(SearchTask):
    """Sentences; per sentence its true positives, predicted and true entities (exact span and type); entity F1."""

    items = "sentences"
    curve_metrics = ("dev_entity_f1",)

    def load(self, model_dir: Path, config, out: Path) -> None:
        from edgebert import ner_data
        from edgebert.compress.recipe import ResolvedData
        from edgebert.export.task_exports import EvalData, model_manifest

        if config.dataset is not None:
            splits = data.split(ner_data.load_token_dataset(config.dataset))  # type: ignore[arg-type]
            self.data = ResolvedData(splits, None)
            self.evals = EvalData(splits["test"], splits["test"], split="all")  # type: ignore[arg-type]
        else:
            task = model_manifest(model_dir).get("task")
            if not task or task.get("name") != "conll2003":
                raise UserError(
                    f"{model_dir} is not the default NER model; pass --dataset FILE with tagged sentences "
                    "(CoNLL-style `word ... TAG` lines, or JSONL with tokens/tags lists)"
                )
            splits = {k: ner_data.load_conll2003(k) for k in ("train", "dev", "test")}
            self.data = ResolvedData(splits, task)  # type: ignore[arg-type]
            self.evals = EvalData(splits["test"], splits["dev"].head(512), split="test", task=task)  # type: ignore[arg-type]
        self.splits = splits

    def digest(self) -> str:
        from edgebert import ner_data

        return "+".join(ner_data.digest(self.splits[k])[:16] for k in ("train", "dev", "test"))

    def metric(self, split: str) -> Metric:
        return ENTITY_F1

    def stats(self, bundle_dir: Path, split: str, cache: Path) -> np.ndarray:
        return _cached(cache, lambda: entity_counts(bundle_dir, self.splits[split]))


def entity_counts(bundle_dir: Path, sentences) -> np.ndarray:
    """Per sentence (TP, predicted, true) entities of a bundle's tags, through the word path bench scores with:
    words cut by the max length are left out of both sides (ner_runtime.TRUNCATION_POLICY)."""
    from edgebert import ner_metric
    from edgebert.ner_runtime import WordEncoder, predict_words
    from edgebert.runtime import Encoder, make_runner

    manifest = bundle.read_manifest(bundle_dir)
    id2label = {int(i): str(v) for i, v in manifest["source"]["id2label"].items()}
    encoder = Encoder(Path(bundle_dir), manifest)
    o_id = {v: k for k, v in id2label.items()}.get("O", 0)
    got = predict_words(
        make_runner(Path(bundle_dir), manifest),
        WordEncoder(encoder.tokenizer, encoder.input_names),
        sentences.tokens,
        o_id,
    )
    rows = []
    for tags, k, pred in zip(sentences.tags, got.visible, got.labels):
        true = set(ner_metric.entities(tags[:k]))
        found = set(ner_metric.entities([id2label[int(i)] for i in pred]))
        rows.append((len(true & found), len(found), len(true)))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


class SentenceEmbeddingTask(SearchTask):
    """Lee documents, split in fixed halves; per document its embedding; Spearman over the pairs (module docstring)."""

    items = "Lee documents"
    curve_metrics = ()  # compress's dev metric is the cosine to the teacher, not Spearman: no learning-curve pruning

    def load(self, model_dir: Path, config, out: Path) -> None:
        from edgebert.compress.recipe import ResolvedData, resolve_data
        from edgebert.export.task_exports import export_task

        # Distillation and calibration: unlabelled texts (the user's dataset, else Rotten Tomatoes').
        self.data = ResolvedData(
            *resolve_data(model_dir, config.dataset, config.text_column, config.label_column, unlabelled=True)
        )
        self.evals = export_task(self.kind).eval_data(
            model_dir, config.dataset, config.text_column, config.label_column, "test"
        )
        self.lee = self.evals.extra["lee"]  # type: ignore[index]
        order = np.random.default_rng(data.SPLIT_SEED).permutation(len(self.lee.documents))
        self.documents = {"dev": np.sort(order[:LEE_DEV_DOCUMENTS]), "test": np.sort(order[LEE_DEV_DOCUMENTS:])}
        self.splits = self.data.splits  # type: ignore[assignment]

    def digest(self) -> str:
        lee = json.dumps([self.lee.documents, self.lee.ratings.round(8).tolist()]).encode()
        import hashlib

        texts = "+".join(data.dataset_digest(self.splits[k])[:16] for k in ("train", "dev", "test"))
        return f"{texts}+lee:{hashlib.sha256(lee).hexdigest()[:16]}"

    def size(self, split: str) -> int:
        return len(self.documents[split])

    def write_dev_file(self, out: Path) -> Path | None:
        return None  # bench scores an embedding bundle on what export packed (the Lee documents among it)

    def metric(self, split: str) -> Metric:
        docs = self.documents[split]
        return spearman_metric(self.lee.ratings[np.ix_(docs, docs)])

    def noise_points(self) -> float:
        return 0.0  # not used: no learning-curve pruning for this task

    def stats(self, bundle_dir: Path, split: str, cache: Path) -> np.ndarray:
        from edgebert.runtime import Encoder, make_runner, predict_logits

        def compute() -> np.ndarray:
            manifest = bundle.read_manifest(bundle_dir)
            docs = [self.lee.documents[i] for i in self.documents[split]]
            return predict_logits(make_runner(Path(bundle_dir), manifest), Encoder(Path(bundle_dir), manifest), docs)

        return _cached(cache, compute)


def search_task(kind: task_types.TaskType) -> SearchTask:
    return {
        task_types.TOKEN_CLASSIFICATION: TokenClassificationTask,
        task_types.SENTENCE_EMBEDDING: SentenceEmbeddingTask,
    }.get(kind.name, SearchTask)(kind)


def describe(kind: task_types.TaskType, task: SearchTask) -> dict[str, Any]:
    """The summary's record of what the budget measures (run_report renders it)."""
    return {
        "task_type": kind.name,
        "key": kind.metric,
        "label": kind.metric_label,
        "unit": task.unit,
        "items": task.items,
    }
