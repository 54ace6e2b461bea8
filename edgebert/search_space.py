"""What `edgebert run` searches over: the space of recipes, the seeds it starts from, and the recipe a trial stands for.

The space spans the methods that make this CPU faster (fewer layers, heads and FFN neurons), how accuracy is won
back (distillation steps, learning rate, hidden-state loss) and how the result is quantized (dynamic or static
int8, per-channel or per-tensor weights). The shipped recipes (benchmarks/recipes/*.toml) seed the study: each is
read from its file and projected onto the space; a recipe the space cannot express exactly (layer sharing,
unstructured sparsity, a setting the space does not vary, more distillation steps than its longest fidelity) is
not a seed, and the log says why. Seeds run first, cheapest first (fewest distillation steps); the sampler proposes
the rest.

Per task: a sentence-embedding model is distilled against its own embeddings on unlabelled text, and its heads and
FFN neurons are ranked by activation (`importance_for`: the gradient score needs labels), so a shipped recipe seeds
its study with that score; a task compress does not support yet keeps its shape and searches quantization only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebert.errors import EdgebertError

QUANTIZATION = {
    "dynamic-per-channel": {"mode": "dynamic", "per_channel": True},
    "dynamic-per-tensor": {"mode": "dynamic", "per_channel": False},
    "static-per-channel": {"mode": "static", "per_channel": True},
    "static-per-tensor": {"mode": "static", "per_channel": False},
}
MAX_LENGTH = 64  # tokens per text while compressing: Rotten Tomatoes snippets average 27; 64 truncates 0.07 %


@dataclass(frozen=True)
class SearchSpace:
    layers_kept: tuple[int, ...]
    heads_ratio: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    ffn_ratio: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    distill_steps: tuple[int, ...] = (0, 300, 600, 1000, 1500)
    learning_rate: tuple[float, ...] = (1e-4, 2e-4, 4e-4)  # only when distill_steps > 0
    hidden_weight: tuple[float, ...] = (0.0, 1.0)  # only when distill_steps > 0
    quantization: tuple[str, ...] = tuple(QUANTIZATION)

    @classmethod
    def for_model(cls, num_layers: int, seeds: list[dict[str, Any]] = ()) -> SearchSpace:
        """The space for a model of `num_layers` layers, widened to hold every seed's values."""
        kept = {num_layers, num_layers - 1, -(-2 * num_layers // 3), num_layers // 2, num_layers // 3}
        space = cls(layers_kept=tuple(sorted((k for k in kept if k >= 1), reverse=True)))
        for seed in seeds:
            space = dataclasses.replace(space, **{k: _with(getattr(space, k), v) for k, v in seed.items()})
        return space

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()

    def suggest(self, trial) -> dict[str, Any]:
        """A trial's parameters (learning rate and hidden-state loss only when it distils)."""
        params = {
            k: trial.suggest_categorical(k, getattr(self, k))
            for k in ("layers_kept", "heads_ratio", "ffn_ratio", "distill_steps")
        }
        if params["distill_steps"]:
            params["learning_rate"] = trial.suggest_categorical("learning_rate", self.learning_rate)
            params["hidden_weight"] = trial.suggest_categorical("hidden_weight", self.hidden_weight)
        params["quantization"] = trial.suggest_categorical("quantization", self.quantization)
        return params


def _with(choices: tuple, value) -> tuple:
    if value in choices:
        return choices
    if isinstance(value, str):
        return (*choices, value)
    return tuple(sorted((*choices, value), reverse=len(choices) > 1 and choices[0] > choices[-1]))


def importance_for(task: str | None) -> str | None:
    """Structured pruning's importance score for a task (None: the recipe default, "gradient"): a sentence-embedding
    model has no labels, and the Taylor score is zero against its own embeddings (compress/embedding.py)."""
    return "activation" if task == "sentence-embedding" else None


def recipe_for(
    params: dict[str, Any], num_layers: int, seed: int = 0, task: str | None = None, precision: str = "fp32"
) -> dict[str, Any]:
    """The compress recipe a trial's parameters stand for (every stage the space does not vary at its default).
    `precision`: the distillation's (compress/distill.py), a fact of the machine rather than of the candidate."""
    recipe: dict[str, Any] = {"name": "trial", "seed": seed, "max_length": MAX_LENGTH}
    kept = params["layers_kept"]
    layers_ratio = round(1 - kept / num_layers, 6) if kept < num_layers else 0.0
    if layers_ratio or params["heads_ratio"] or params["ffn_ratio"]:
        recipe["prune_structured"] = {
            "heads_ratio": params["heads_ratio"],
            "ffn_ratio": params["ffn_ratio"],
            "layers_ratio": layers_ratio,
        }
        if importance_for(task):
            recipe["prune_structured"]["importance"] = importance_for(task)
    if params["distill_steps"]:
        recipe["distill"] = {"steps": params["distill_steps"], "learning_rate": params.get("learning_rate", 2e-4)}
        if params.get("hidden_weight"):
            recipe["distill"]["hidden_weight"] = params["hidden_weight"]
        if precision != "fp32":
            recipe["distill"]["precision"] = precision
    recipe["quantize"] = dict(QUANTIZATION[params["quantization"]])
    return recipe


def recipes_dir() -> Path | None:
    """The shipped recipes (compress.recipe.recipes_dir: in the wheel, or the checkout's benchmarks/recipes); None when
    neither exists."""
    from edgebert.compress.recipe import recipes_dir as shipped

    found = shipped()
    return found if found.is_dir() else None


def seed_from_recipe(
    recipe_dict: dict[str, Any], num_layers: int, task: str | None = None
) -> tuple[dict[str, Any] | None, str]:
    """(the parameters that reproduce this recipe exactly, "") or (None, why it cannot be a seed). For a task whose
    pruning needs another importance score (importance_for), the recipe's pruning is read with that score: the same
    shape, measured the way this task can."""
    from edgebert.compress.recipe import recipe_from_dict

    try:
        recipe = recipe_from_dict(recipe_dict)
    except EdgebertError as exc:
        return None, str(exc)
    if recipe.prune_structured is not None and importance_for(task):
        recipe = dataclasses.replace(
            recipe, prune_structured=dataclasses.replace(recipe.prune_structured, importance=importance_for(task))
        )
    outside = [s for s in ("share", "prune_unstructured") if getattr(recipe, s) is not None]
    if outside:
        return None, f"it uses {', '.join(outside)}, which the search space does not vary"
    ps, dist, q = recipe.prune_structured, recipe.distill, recipe.quantize
    mode = q.mode if q is not None else "none"
    key = f"{mode}-{'per-channel' if q is None or q.per_channel else 'per-tensor'}"
    if key not in QUANTIZATION:
        return None, f"it quantizes with mode {mode!r}, which the search space does not hold"
    longest = max(SearchSpace.distill_steps)
    if dist is not None and dist.steps > longest:  # a seed runs first: one this long would eat the study's budget
        return None, f"its {dist.steps} distillation steps are more than the study's longest fidelity ({longest})"
    params: dict[str, Any] = {
        "layers_kept": num_layers - int(round((ps.layers_ratio if ps else 0.0) * num_layers)),
        "heads_ratio": ps.heads_ratio if ps else 0.0,
        "ffn_ratio": ps.ffn_ratio if ps else 0.0,
        "distill_steps": dist.steps if dist else 0,
    }
    if dist is not None:
        params.update(learning_rate=dist.learning_rate, hidden_weight=dist.hidden_weight)
    params["quantization"] = key
    # The projection is exact only if the recipe it stands for is the same recipe (seed and lengths aside).
    rebuilt = recipe_from_dict(recipe_for(params, num_layers, task=task))
    if ps is not None and rebuilt.prune_structured is not None:  # 0.34 and 0.333333 both remove 2 of 6 layers
        recipe = dataclasses.replace(
            recipe, prune_structured=dataclasses.replace(ps, layers_ratio=rebuilt.prune_structured.layers_ratio)
        )
    same = {"name": "seed", "description": "", "seed": 0, "max_length": MAX_LENGTH}
    if dataclasses.replace(recipe, **same) != dataclasses.replace(rebuilt, **same):
        return None, "it sets options the search space does not vary (no trial's recipe equals it)"
    if params["layers_kept"] < 1:
        return None, f"it removes every layer of a {num_layers}-layer model"
    return params, ""


def shipped_seeds(
    num_layers: int, directory: Path | None = None, task: str | None = None
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """([(recipe name, parameters)] cheapest first, [notes on recipes that are not seeds]) from the recipe files."""
    from edgebert.compress.recipe import load_recipe_dict

    directory = directory if directory is not None else recipes_dir()
    if directory is None:
        return [], ["no shipped recipes found: the study starts from the sampler alone"]
    seeds, notes = [], []
    for path in sorted(Path(directory).glob("*.toml")):
        try:
            d = load_recipe_dict(path)
        except EdgebertError as exc:
            notes.append(f"recipe {path.name} is not a seed: {exc}")
            continue
        params, why = seed_from_recipe(d, num_layers, task)
        if params is None:
            notes.append(f"recipe {path.stem} is not a seed: {why}")
        else:
            seeds.append((path.stem, params))
    seeds.sort(key=lambda s: s[1]["distill_steps"])  # cheapest (least training) first
    return seeds, notes
