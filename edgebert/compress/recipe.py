"""A recipe: which compression methods to apply, with what settings. `compress_model` applies it and writes a model dir.

Order is fixed, each stage preparing the next: structured pruning (heads, FFN neurons, then layers) → layer sharing
→ unstructured pruning → distillation (recovers what the earlier stages cost; keeps the unstructured zeros) →
quantization settings (applied at export). Every stage gets a record in the manifest: its config, seconds,
parameters, MACs per token (common.py states the formula), sparsity, and dev accuracy before and after.
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgebert import bundle, data, task_types
from edgebert.compress import common, embedding, prune_structured, prune_unstructured, share, tagging
from edgebert.compress.distill import DistillConfig
from edgebert.compress.prune_structured import PruneStructuredConfig
from edgebert.compress.prune_unstructured import PruneUnstructuredConfig
from edgebert.compress.quantize import QuantizeConfig
from edgebert.compress.share import ShareConfig
from edgebert.compress.stages import STAGES as STAGE_REGISTRY
from edgebert.config import bounded, from_dict, to_dict
from edgebert.errors import ConfigError, UserError
from edgebert.export.exporter import model_manifest, resolve_model_dir
from edgebert.export.task_exports import export_task
from edgebert.models import label2id, save_model, weights_file

# The tasks whose models the stages know how to compress: classifiers (labels), sentence-embedding models
# (the teacher's embeddings replace the labels: compress/embedding.py) and token classifiers (labels and losses
# per word: compress/tagging.py).
COMPRESSIBLE_TASKS = (
    task_types.SEQUENCE_CLASSIFICATION,
    task_types.SENTENCE_EMBEDDING,
    task_types.TOKEN_CLASSIFICATION,
)
# The dev metric each task's stage records name (dev_accuracy_before/_after, ...): a fraction shown as a percentage,
# except the embedding's cosine.
DEV_METRICS = {
    task_types.SEQUENCE_CLASSIFICATION: "dev_accuracy",
    task_types.SENTENCE_EMBEDDING: embedding.DEV_METRIC,
    task_types.TOKEN_CLASSIFICATION: tagging.DEV_METRIC,
}
PERCENT_METRICS = ("dev_accuracy", tagging.DEV_METRIC)

STAGES = tuple(STAGE_REGISTRY)


@dataclass(frozen=True)
class Recipe:
    name: str = "custom"
    description: str = ""
    seed: int = bounded(0, ge=0, le=2**32 - 1)  # numpy and torch seeds are 32-bit
    max_length: int = 128  # tokens per text for importance, distillation and dev accuracy (snippets average ~27)
    # Field names are the stage (module) names; annotations name the classes: the class body shadows the modules.
    prune_structured: PruneStructuredConfig | None = None
    share: ShareConfig | None = None
    prune_unstructured: PruneUnstructuredConfig | None = None
    distill: DistillConfig | None = None
    quantize: QuantizeConfig | None = None

    def __post_init__(self) -> None:
        # The name becomes the default output directory (compressed/<name>): it must not leave it or hide.
        if not self.name.strip() or self.name.startswith(".") or any(c in self.name for c in "/\\\0\n\r"):
            raise ValueError(f"name {self.name[:40]!r} cannot be a directory name; use letters, digits, '-' or '_'")
        if not 8 <= self.max_length <= 512:
            raise ValueError(f"max_length must be between 8 and 512, got {self.max_length}")

    def stages(self) -> list[str]:
        return [s for s in STAGES if getattr(self, s) is not None]


def recipe_from_dict(d: dict[str, Any], where: str = "recipe") -> Recipe:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: a recipe is a table of settings, got {type(d).__name__}")
    try:
        return from_dict(Recipe, d)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def recipes_dir() -> Path:
    """The shipped recipes: inside the wheel (edgebert/_recipes), or the repo's benchmarks/recipes in a checkout."""
    packaged = Path(__file__).resolve().parent.parent / "_recipes"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "benchmarks" / "recipes"


def shipped_recipes() -> dict[str, Path]:
    return {p.stem: p for p in sorted(recipes_dir().glob("*.toml"))}


def resolve_recipe_path(recipe: str | Path) -> Path:
    """A recipe file path, or the name of a shipped recipe (`fast-x86`); a file of that name wins over a shipped one."""
    path = Path(recipe)
    if path.is_file():
        return path
    shipped = shipped_recipes()
    if str(recipe) in shipped:
        return shipped[str(recipe)]
    if str(recipe).endswith(".toml") or path.parent != Path("."):
        raise UserError(
            f"recipe file {path} does not exist (shipped recipes: {', '.join(shipped)}; see `edgebert recipes list`)"
        )
    raise UserError(
        f"unknown recipe {str(recipe)!r}; shipped recipes: {', '.join(shipped)} (or a path to a .toml file)"
    )


def load_recipe_dict(path: str | Path) -> dict[str, Any]:
    """The raw TOML of a recipe file or shipped recipe (name defaults to the file's stem); the CLI lays flags over it."""
    path = resolve_recipe_path(path)
    try:
        d = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"recipe {path} is not valid TOML: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"recipe {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None
    except RecursionError:
        raise ConfigError(f"recipe {path} nests too deeply to be a recipe; see benchmarks/recipes/*.toml") from None
    except OSError as exc:
        raise UserError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
    d.setdefault("name", path.stem)
    return d


def load_recipe(path: str | Path) -> Recipe:
    return recipe_from_dict(load_recipe_dict(path), f"recipe {path}")


def _as_recipe(recipe: Recipe | dict | str | Path) -> Recipe:
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, dict):
        return recipe_from_dict(recipe)
    return load_recipe(recipe)


@dataclass(frozen=True)
class ResolvedData:
    """A command's data, resolved once (`resolve_data`) and passed down: `edgebert run` hands it to every trial's
    compress_model, so the dataset is not re-read, re-hashed and re-split per stage."""

    splits: dict[str, data.LabelledTexts] | None  # train/dev/test; None: no labelled data (no dev accuracy)
    task: dict | None  # the task record the output keeps (None: the user's --dataset replaced the model's task)


def resolve_data(
    model_dir: Path, dataset, text_column: str, label_column: str, unlabelled: bool = False, tagged: bool = False
) -> tuple[dict[str, data.LabelledTexts] | None, dict | None]:
    """(train/dev/test splits, the task record to keep): the user's dataset split 80/10/10, else the model's task.
    `unlabelled` (a sentence-embedding model, which only needs texts): without a dataset, Rotten Tomatoes' texts;
    a dataset needs only its text column.
    `tagged` (a token classifier): tagged sentences instead of texts (compress/tagging.py)."""
    if tagged:
        tagging.check_columns(text_column, label_column)
        return tagging.resolve_data(model_dir, dataset)  # type: ignore[return-value]
    if dataset is None and unlabelled:
        return data.split(data.load_default_dataset()), None
    if dataset is not None:  # the user's data replaces the model's task (export then needs --dataset too)
        return data.split(data.load_dataset(dataset, text_column, label_column, labelled=not unlabelled)), None
    task = model_manifest(model_dir).get("task")
    if task and task.get("name") == "rotten-tomatoes":
        return data.split(data.load_default_dataset(), seed=task.get("split_seed", data.SPLIT_SEED)), task
    return None, task


def compress_model(
    model_dir: str | Path | None,
    recipe: Recipe | dict | str | Path,
    out: str | Path | None = None,
    *,
    dataset: str | Path | None = None,
    text_column: str = "text",
    label_column: str = "label",
    force: bool = False,
    log: Callable[[str], None] | None = None,
    progress: common.Progress | None = None,
    checkpoint: Callable[[int, float | None], None] | None = None,
    checkpoint_every: int = 0,
    resolved: ResolvedData | None = None,
    task: str | None = None,
) -> Path:
    """Apply `recipe` to the model in `model_dir` (None: the default task model); write and return the output dir.

    `task` (default: what the model directory says) must agree with the model. A sentence-embedding model (a
    sentence-transformers dir) is compressed as its encoder, against its own embeddings on unlabelled training texts
    (the user's dataset, else Rotten Tomatoes' train split), and written back in that layout.

    `log` gets one line per stage; `progress(description, total) -> advance(n)` each training step (None: silent);
    `checkpoint(steps_run, dev_accuracy)` every `checkpoint_every` distillation steps (see CompressContext).
    `resolved`: the data the caller already resolved for this model and `dataset` (None: resolved here).
    """
    started = time.time()
    log = log or (lambda msg: None)
    recipe = _as_recipe(recipe)
    if not recipe.stages():
        raise ConfigError("the recipe has no compression stage; add one of " + ", ".join(f"[{s}]" for s in STAGES))
    kind = task_types.resolve(model_dir, task)
    if kind.name not in COMPRESSIBLE_TASKS:
        raise UserError(
            f"compress works on {', '.join(COMPRESSIBLE_TASKS)} models, not {kind.name} yet; "
            "quantize it with `edgebert export --precision int8` instead"
        )
    source_dir = resolve_model_dir(model_dir, log, progress, task=kind.name)
    out_path = Path(out) if out is not None else Path("compressed") / recipe.name
    inputs = [source_dir, dataset, recipe.distill.teacher if recipe.distill is not None else None]
    bundle.check_output_dir(out_path.absolute(), force, inputs)
    model, tokenizer = export_task(kind).load(source_dir)
    is_embedding = kind.name == task_types.SENTENCE_EMBEDDING
    is_tagging = kind.name == task_types.TOKEN_CLASSIFICATION
    if is_embedding:
        model = model.encoder  # the stages work on the encoder; pooling and normalisation are in ctx.embedding
    if resolved is None:
        resolved = ResolvedData(
            *resolve_data(source_dir, dataset, text_column, label_column, unlabelled=is_embedding, tagged=is_tagging)
        )
    splits, task_record = resolved.splits, resolved.task
    ctx = common.CompressContext(
        tokenizer=tokenizer,
        label2id={} if is_embedding else label2id(model),
        train=splits and splits["train"],
        dev=splits and splits["dev"],
        teacher_dir=Path(source_dir),
        max_length=recipe.max_length,
        seed=recipe.seed,
        log=log,
        progress=progress,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        embedding=embedding.objective(source_dir) if is_embedding else None,
        tagging=tagging.objective(label2id(model)) if is_tagging else None,
    )
    metric = DEV_METRICS[kind.name]
    if is_embedding and ctx.dev is not None:  # the intact model's dev embeddings: what dev quality compares with
        ctx.embedding.dev_reference = ctx.embedding.embed(model, tokenizer, ctx.dev.texts, recipe.max_length)
    _preflight(model, recipe, ctx)
    source = {
        "path": str(Path(source_dir).absolute()),
        "model_type": model.config.model_type,
        "sha256": bundle.sha256_file(
            embedding.source_weights(source_dir) if is_embedding else weights_file(source_dir)
        ),
        "parameters": common.count_parameters(model),
        "macs_per_token": common.macs_per_token(model),
        "shape": common.shape_summary(model),
    }
    acc = common.source_dev_accuracy(model, ctx, source["sha256"])
    source[metric] = acc
    log(
        f"source: {source['parameters']:,} parameters, {source['macs_per_token']:,} MACs/token"
        + (f", {_metric_text(metric, acc)}" if acc is not None else " (no dev split: accuracy not measured)")
    )
    records, extra = [], {}
    for name in recipe.stages():
        record, acc = _run_stage(name, model, recipe, ctx, acc, log, metric)
        records.append(record)
        if name == "quantize":
            extra = {"quantization": record["result"]["quantization"], "precision": record["result"]["precision"]}
    if recipe.prune_unstructured is not None:
        prune_unstructured.make_permanent(model)
    with bundle.staging_dir(out_path, force=force, inputs=inputs) as tmp:
        if is_embedding:
            embedding.save_sentence_model(model, tokenizer, source_dir, tmp)
        else:
            save_model(model, tokenizer, tmp)
            # what a later compress of this output (edgebert run distils each shape it wrote) reads as its source's
            common.remember_dev_accuracy(ctx, bundle.sha256_file(weights_file(tmp)), acc)
        manifest: dict[str, Any] = {
            "kind": "model",
            "task": task_record,
            "task_type": kind.name,
            "source": source,
            "recipe": to_dict(recipe),
            "stages": model_manifest(source_dir).get("stages", []) + records,
            "parameters": common.count_parameters(model),
            "macs_per_token": common.macs_per_token(model),
            "macs_seq_len": common.MACS_SEQ_LEN,
            "shape": common.shape_summary(model),
            "accuracy": {"dev": acc, "dev_source": source[metric], "max_length": recipe.max_length},
            "seconds": round(time.time() - started, 1),
            **extra,
        }
        if is_embedding:  # "accuracy" above then holds the mean dev cosine to the teacher, as dev_metric says
            manifest["dev_metric"] = metric
            manifest["embedding"] = embedding.describe(ctx.embedding)
        if is_tagging:  # "accuracy" above then holds the dev entity F1, as dev_metric says
            manifest["dev_metric"] = metric
            manifest["tagging"] = tagging.describe(ctx.tagging)
        if getattr(model.config, share.CONFIG_KEY, None):
            manifest["shared_weights"] = True  # export skips the fusion that would copy shared weights
        if splits is not None and dataset is not None:
            manifest["dataset"] = {
                "path": str(Path(dataset).absolute()),
                "sha256": bundle.sha256_file(Path(dataset)),
                "split_seed": data.SPLIT_SEED,
                "sizes": {k: len(v) for k, v in splits.items()},
            }
        bundle.write_manifest(tmp, manifest)
    return out_path


def _preflight(model, recipe: Recipe, ctx: common.CompressContext) -> None:
    """Every one-line error a recipe can cause, before minutes of work: nothing half-done, nothing written."""
    if recipe.prune_structured is not None:
        ctx.planned_layers = prune_structured.planned_layers(model, recipe.prune_structured)
    try:
        for name in recipe.stages():
            STAGE_REGISTRY[name].check(model, getattr(recipe, name), ctx)
    finally:
        ctx.planned_layers = None


def _metric_text(metric: str, value: float, named: bool = True) -> str:
    """'dev accuracy 83.10%' (a classifier), 'dev entity f1 88.20%' (a token classifier) or 'dev cosine to teacher
    0.9871' (a sentence-embedding model)."""
    text = f"{value:.2%}" if metric in PERCENT_METRICS else f"{value:.4f}"
    return f"{metric.replace('_', ' ')} {text}" if named else text


def _run_stage(
    name: str, model, recipe: Recipe, ctx: common.CompressContext, acc_before, log, metric: str = "dev_accuracy"
) -> tuple[dict, Any]:
    config = getattr(recipe, name)
    before = {
        "params": common.count_parameters(model),
        "macs": common.macs_per_token(model),
        "sparsity": common.linear_sparsity(model),
    }
    log(f"{name}: {to_dict(config)}")
    started_at, t0 = bundle.now_iso(), time.time()
    stage = STAGE_REGISTRY[name]
    stages = recipe.stages()
    ctx.later_stages = tuple(stages[stages.index(name) + 1 :])  # prune_unstructured keeps its masks if distill follows
    result = stage.apply(model, config, ctx)
    seconds = time.time() - t0
    # Quantization happens at export: the PyTorch model (and its accuracy) is unchanged here.
    acc_after = common.dev_accuracy(model, ctx) if stage.changes_weights else acc_before
    record = {
        "stage": name,
        "config": to_dict(config),
        "started_at": started_at,
        "seconds": round(seconds, 1),
        "params_before": before["params"],
        "params_after": common.count_parameters(model),
        "macs_per_token_before": before["macs"],
        "macs_per_token_after": common.macs_per_token(model),
        "sparsity_before": round(before["sparsity"], 6),
        "sparsity_after": round(common.linear_sparsity(model), 6),
        f"{metric}_before": acc_before,
        f"{metric}_after": acc_after,
        "shape_after": common.shape_summary(model),
        "result": result,
    }
    log(
        f"{name}: {record['params_before']:,} → {record['params_after']:,} parameters, "
        f"{record['macs_per_token_before']:,} → {record['macs_per_token_after']:,} MACs/token"
        + (
            f", {_metric_text(metric, acc_before)} → {_metric_text(metric, acc_after, named=False)}"
            if acc_after is not None and acc_before is not None
            else ""
        )
        + f" ({seconds:.0f} s)"
    )
    return record, acc_after
