"""What a model computes and how its quality is measured: the task type (light; no torch).

Every stage reads the task type from here: export picks the model-side class that loads, wraps and checks the model
(`export/task_exports.py`), bench the scorer that measures it (`bench/scoring.py`), report and compare the primary
metric they show and gate on. A model directory says its task itself (`detect`): a sentence-transformers layout
(`modules.json`), a Hugging Face head in config.json `architectures`, or the task an edgebert manifest recorded.
`--task` may name it where the directory is silent, never contradict it (`resolve`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebert.errors import UserError

MANIFEST = "manifest.json"  # bundle.MANIFEST; repeated so this leaf needs nothing but errors


@dataclass(frozen=True)
class TaskType:
    """One task: the bundle's output tensor and the primary metric reports show and compare gates on.

    `metric` names the key of the primary metric in a results document's quality section ("accuracy"); its value is
    a fraction (percent=True: shown as 81.6%) or a score in [-1, 1] such as a correlation (shown as 0.812). Either way
    a change is quoted in points (x100), the unit of compare's --max-accuracy-drop.
    """

    name: str
    output: str
    metric: str
    metric_label: str
    percent: bool = True
    description: str = ""

    def show(self, value: float | None) -> str:
        if value is None:
            return "—"
        return f"{value * 100:.1f}%" if self.percent else f"{value:.3f}"


SEQUENCE_CLASSIFICATION = "sequence-classification"
SENTENCE_EMBEDDING = "sentence-embedding"
TOKEN_CLASSIFICATION = "token-classification"

TASK_TYPES: dict[str, TaskType] = {
    t.name: t
    for t in (
        TaskType(SEQUENCE_CLASSIFICATION, "logits", "accuracy", "Accuracy", True, "one label per text"),
        TaskType(
            SENTENCE_EMBEDDING,
            "sentence_embedding",
            "spearman",
            "Spearman (Lee)",
            False,
            "one L2-normalised vector per text; Spearman correlation with human similarity ratings (Lee et al. 2005)",
        ),
        TaskType(
            TOKEN_CLASSIFICATION, "logits", "entity_f1", "Entity F1", True, "one label per token (entity-level F1)"
        ),
    )
}
DEFAULT = SEQUENCE_CLASSIFICATION  # what a directory that says nothing, and every document older than task types, is


def get(name: str | None) -> TaskType:
    """The task type called `name` (None: the default), or a one-line UserError listing the known ones."""
    if name is None:
        return TASK_TYPES[DEFAULT]
    if name not in TASK_TYPES:
        raise UserError(f"unknown task {name!r}; use one of {', '.join(TASK_TYPES)}")
    return TASK_TYPES[name]


def of_manifest(manifest: dict[str, Any] | None) -> TaskType:
    """The task a bundle or model manifest recorded (manifests written before task types are sequence classifiers)."""
    return get((manifest or {}).get("task_type") or DEFAULT)


def of_quality(section: dict[str, Any] | None) -> TaskType:
    """The task of a results document's quality ("accuracy") section; older documents are sequence classification."""
    return get((section or {}).get("task_type") or DEFAULT)


def primary_value(section: dict[str, Any] | None) -> float | None:
    """The primary metric's value in a results document's quality section (None when nothing was measured)."""
    if not section:
        return None
    return section.get(of_quality(section).metric)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None  # the loaders that open these files for real say what is wrong with them


def detect(model_dir: str | Path) -> tuple[str | None, str]:
    """(task name or None when the directory does not say, the evidence in words)."""
    model_dir = Path(model_dir)
    manifest = _read_json(model_dir / MANIFEST) if (model_dir / MANIFEST).is_file() else None
    if isinstance(manifest, dict) and manifest.get("kind") in ("bundle", "model"):
        recorded = manifest.get("task_type") or DEFAULT
        return str(recorded), f"its {MANIFEST} records {recorded}"
    if (model_dir / "modules.json").is_file():
        return SENTENCE_EMBEDDING, "it is a sentence-transformers directory (modules.json)"
    cfg = _read_json(model_dir / "config.json") if (model_dir / "config.json").is_file() else None
    archs = cfg.get("architectures") if isinstance(cfg, dict) else None
    for arch in archs if isinstance(archs, list) else []:
        if isinstance(arch, str) and arch.endswith("ForTokenClassification"):
            return TOKEN_CLASSIFICATION, f"its config.json architecture is {arch}"
        if isinstance(arch, str) and arch.endswith("ForSequenceClassification"):
            return SEQUENCE_CLASSIFICATION, f"its config.json architecture is {arch}"
    return None, "nothing in it names a task"


def resolve(model_dir: str | Path | None, requested: str | None) -> TaskType:
    """The task to run `model_dir` as: the requested one (checked against the directory), else the detected one,
    else the default. A request that contradicts the model's head is a one-line UserError."""
    wanted = get(requested) if requested is not None else None
    if model_dir is None:
        return wanted or get(DEFAULT)
    found, why = detect(model_dir)
    if found is not None and found not in TASK_TYPES:
        raise UserError(f"{model_dir}: {why}, a task this edgebert does not know; upgrade edgebert or re-export it")
    if wanted is not None and found is not None and wanted.name != found:
        raise UserError(
            f"--task {wanted.name} contradicts {model_dir}: {why}; drop --task or pass a {wanted.name} model"
        )
    return wanted or get(found)
