"""The model side of each task, one small class per task (as optimum's per-task export configs): where the default
model comes from, how a source directory loads, what the exported graph returns, the source's reference outputs,
parity, and the evaluation files and `reference` section a bundle carries for bench.

`export_bundle` and `compress` call these methods and nothing task-specific of their own; a new task is a new
subclass registered in EXPORT_TASKS (and a scorer in bench/scoring.py for the light side).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgebert import bundle, data, task_types
from edgebert.errors import UserError
from edgebert.export import parity
from edgebert.targets import Target

Log = Callable[[str], None]


@dataclass(frozen=True)
class EvalData:
    """What a bundle is validated and later benched on, plus calibration texts for static quantization; `extra`
    holds a task's further evaluation sets (the embedding task's probe training texts and Lee documents)."""

    evaluation: data.LabelledTexts
    calibration: data.LabelledTexts
    split: str
    task: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


def model_manifest(model_dir: Path) -> dict[str, Any]:
    """The manifest a model dir written by edgebert carries (empty for a plain Hugging Face directory)."""
    path = Path(model_dir) / bundle.MANIFEST
    return bundle.read_manifest(model_dir) if path.is_file() else {}


class ExportTask:
    """The interface; see SequenceClassificationExport for today's behaviour of each step."""

    name: str = ""

    @property
    def task_type(self) -> task_types.TaskType:
        return task_types.get(self.name)

    def default_model_dir(self, log: Log | None = None, progress=None) -> Path:
        raise NotImplementedError

    def default_max_length(self, source_dir: Path) -> int:
        return 128

    def load(self, source_dir: Path):
        """(model, tokenizer): a torch module whose forward(**inputs, return_dict=False)[0] is the bundle's output."""
        raise NotImplementedError

    def eval_data(
        self, source_dir: Path, dataset, text_column: str, label_column: str, eval_split: str, model=None
    ) -> EvalData:
        raise NotImplementedError

    def check(self, model, evals: EvalData) -> None:
        """One-line errors about the evaluation data for this model, before any work (labels it does not know)."""

    def reference(self, model, tokenizer, evals: EvalData, max_length: int) -> np.ndarray:
        """The source model's outputs on the evaluation texts (what parity compares the bundle with)."""
        raise NotImplementedError

    def source_info(self, model) -> dict[str, Any]:
        """The manifest's task-specific `source` fields."""
        raise NotImplementedError

    def parity(self, reference: np.ndarray, got: np.ndarray, tgt: Target, what: str) -> parity.ParityResult:
        """Compare, and raise ParityError (no bundle is written) when the bundle strays beyond the target's limits."""
        raise NotImplementedError

    def bundle_outputs(self, runner, encoder, evals: EvalData):
        """The staged bundle's outputs on the evaluation texts, through the runtime bench uses (what parity checks)."""
        from edgebert.runtime import predict_logits

        return predict_logits(runner, encoder, evals.evaluation.texts)

    def digest(self, evaluation) -> str:
        return data.dataset_digest(evaluation)

    def write_eval_files(self, evals: EvalData, dst: Path) -> None:
        evals.evaluation.to_jsonl(dst / "eval.jsonl")

    def reference_section(self, model, evals: EvalData, reference: np.ndarray, got: np.ndarray) -> dict[str, Any]:
        """The manifest's task-specific `reference` fields: what bench compares the bundle's outputs with."""
        raise NotImplementedError

    def passed_line(self, result: parity.ParityResult) -> str:
        return f"max |Δlogit| {result.max_abs_logit_diff:.3g}, label agreement {result.label_agreement:.2%}"


class SequenceClassificationExport(ExportTask):
    """A Hugging Face *ForSequenceClassification model: logits [batch, labels]; parity on logits and labels."""

    name = task_types.SEQUENCE_CLASSIFICATION

    def default_model_dir(self, log: Log | None = None, progress=None) -> Path:
        from edgebert.tasks import default_model_dir

        if log:
            log("using the default task model (all-MiniLM-L6-v2 fine-tuned on Rotten Tomatoes)")
        return default_model_dir(progress=progress)

    def load(self, source_dir: Path):
        from edgebert.models import load_classifier

        return load_classifier(source_dir)

    def eval_data(
        self, source_dir: Path, dataset, text_column: str, label_column: str, eval_split: str, model=None
    ) -> EvalData:
        """A user's dataset is evaluated whole; a task model on its test split (the search validates on dev instead,
        so that choosing a recipe never looks at the test split)."""
        if dataset is not None:
            ds = data.load_dataset(dataset, text_column, label_column)
            return EvalData(ds, ds, split="all")
        task = model_manifest(source_dir).get("task")
        if task and task.get("name") == "rotten-tomatoes":
            splits = data.split(data.load_default_dataset(), seed=task.get("split_seed", data.SPLIT_SEED))
            calibration = "dev" if eval_split == "test" else "train"
            return EvalData(splits[eval_split], splits[calibration], split=eval_split, task=task)
        raise UserError(
            f"{source_dir} is not an edgebert task model; pass --dataset FILE with labelled evaluation texts"
        )

    def check(self, model, evals: EvalData) -> None:
        from edgebert.models import label2id

        evals.evaluation.label_ids(label2id(model))

    def reference(self, model, tokenizer, evals: EvalData, max_length: int) -> np.ndarray:
        from edgebert.models import predict_logits

        return predict_logits(model, tokenizer, evals.evaluation.texts, max_length=max_length)

    def source_info(self, model) -> dict[str, Any]:
        cfg = model.config
        return {"num_labels": cfg.num_labels, "id2label": {str(k): v for k, v in cfg.id2label.items()}}

    def parity(self, reference: np.ndarray, got: np.ndarray, tgt: Target, what: str) -> parity.ParityResult:
        result = parity.compare_logits(reference, got, tgt.tolerance(tgt.precision), tgt.precision)
        parity.check(result, what)
        return result

    def reference_section(self, model, evals: EvalData, reference: np.ndarray, got: np.ndarray) -> dict[str, Any]:
        from edgebert.models import label2id

        y_eval = evals.evaluation.label_ids(label2id(model))
        ref_pred = reference.argmax(1)
        return {
            "predictions": ref_pred.tolist(),
            "accuracy": float((ref_pred == y_eval).mean()),
            "bundle_accuracy": float((got.argmax(1) == y_eval).mean()),
        }


PROBE_TRAIN_SIZE = 2000  # labelled texts the embedding probe is trained on (embedding them costs bench ~10 s)
EMBEDDING_TASK_NAME = "lee-2005+rotten-tomatoes"
EMBEDDING_FILES = {"probe_train_file": "probe_train.jsonl", "lee_file": "lee.jsonl", "lee_ratings_file": "lee.json"}


class SentenceEmbeddingExport(ExportTask):
    """A sentence-transformers directory: pooling (+ L2 normalisation) inside the graph, one output
    `sentence_embedding` [batch, dim]; parity on the cosine to the source's embeddings. The bundle carries what bench
    scores it on without torch: the evaluation texts, the probe's training texts and the Lee documents and ratings."""

    name = task_types.SENTENCE_EMBEDDING

    def default_model_dir(self, log: Log | None = None, progress=None) -> Path:
        from edgebert.tasks import encoder_dir

        if log:
            log("using the default sentence-embedding model (all-MiniLM-L6-v2)")
        return encoder_dir()

    def default_max_length(self, source_dir: Path) -> int:
        from edgebert.sentence_models import read_layout

        return read_layout(source_dir).max_seq_length or 128

    def load(self, source_dir: Path):
        from edgebert.sentence_models import load_sentence_model

        return load_sentence_model(source_dir)

    def eval_data(
        self, source_dir: Path, dataset, text_column: str, label_column: str, eval_split: str, model=None
    ) -> EvalData:
        """Default: Rotten Tomatoes' test split (parity, neighbours, probe test) and 2,000 texts of its train split
        (probe training). A user's labelled dataset is split 80/10/10 the same way. Lee is always the benchmark."""
        lee = data.load_lee()
        ds = data.load_default_dataset() if dataset is None else data.load_dataset(dataset, text_column, label_column)
        splits = data.split(ds)
        train = splits["train"]
        pick = np.sort(np.random.default_rng(data.SPLIT_SEED).permutation(len(train))[:PROBE_TRAIN_SIZE])
        calibration = "dev" if eval_split == "test" else "train"
        task = {"name": EMBEDDING_TASK_NAME, "split_seed": data.SPLIT_SEED} if dataset is None else None
        return EvalData(
            splits[eval_split],
            splits[calibration],
            split=eval_split,
            task=task,
            extra={"probe_train": train.take(pick, name=f"{ds.name}:train"), "lee": lee},
        )

    def reference(self, model, tokenizer, evals: EvalData, max_length: int) -> np.ndarray:
        from edgebert.bench import embedding as quality
        from edgebert.sentence_models import embed

        assert evals.extra is not None
        got = embed(model, tokenizer, evals.evaluation.texts, max_length)
        probe = evals.extra["probe_train"]
        probe_x = embed(model, tokenizer, probe.texts, max_length)
        lee = evals.extra["lee"]
        lee_x = embed(model, tokenizer, lee.documents, max_length)
        self._source_scores = {
            **quality.lee_spearman(lee_x, lee.ratings),
            **quality.ridge_probe(probe_x, np.array(probe.labels), got, np.array(evals.evaluation.labels)),
        }
        return got

    def source_info(self, model) -> dict[str, Any]:
        return {"embedding_dim": int(model.config.hidden_size), "pooling": model.pooling, "normalize": model.normalize}

    def parity(self, reference: np.ndarray, got: np.ndarray, tgt: Target, what: str):
        result = parity.compare_embeddings(reference, got, tgt.tolerance(tgt.precision), tgt.precision, tgt.name)
        parity.check_embeddings(result, what)
        return result

    def write_eval_files(self, evals: EvalData, dst: Path) -> None:
        import json

        assert evals.extra is not None
        evals.evaluation.to_jsonl(dst / "eval.jsonl")
        evals.extra["probe_train"].to_jsonl(dst / EMBEDDING_FILES["probe_train_file"])
        lee = evals.extra["lee"]
        with open(dst / EMBEDDING_FILES["lee_file"], "w", encoding="utf-8") as f:
            for doc in lee.documents:
                f.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
        (dst / EMBEDDING_FILES["lee_ratings_file"]).write_text(
            json.dumps({"benchmark": lee.name, "ratings": lee.ratings.round(8).tolist()}) + "\n", encoding="utf-8"
        )

    def reference_section(self, model, evals: EvalData, reference: np.ndarray, got: np.ndarray) -> dict[str, Any]:
        from edgebert.bench.embedding import neighbours

        return {**EMBEDDING_FILES, "neighbours": neighbours(reference).tolist(), "source_scores": self._source_scores}

    def passed_line(self, result) -> str:
        return f"cosine to the source min {result.min_cosine:.5f}, mean {result.mean_cosine:.5f}"


EXPORT_TASKS: dict[str, type[ExportTask]] = {
    SequenceClassificationExport.name: SequenceClassificationExport,
    SentenceEmbeddingExport.name: SentenceEmbeddingExport,
}


# Tasks whose class lives in its own module, which registers it in EXPORT_TASKS when imported (on first use).
TASK_MODULES = {task_types.TOKEN_CLASSIFICATION: "edgebert.export.ner"}


def export_task(task: str | task_types.TaskType | None) -> ExportTask:
    """A fresh instance of the model-side class of `task` (None: the default), or a one-line UserError."""
    tt = task if isinstance(task, task_types.TaskType) else task_types.get(task)
    if tt.name not in EXPORT_TASKS and tt.name in TASK_MODULES:
        import importlib

        importlib.import_module(TASK_MODULES[tt.name])
    if tt.name not in EXPORT_TASKS:
        raise UserError(f"edgebert cannot export {tt.name} models yet; it exports {', '.join(EXPORT_TASKS)}")
    return EXPORT_TASKS[tt.name]()
