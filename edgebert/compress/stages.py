"""The compression stages as a registry: each one a config type and two functions with one signature.

    apply(model, config, ctx) -> dict   changes `model` in place (torchao's `verb_`), returns the stage's result record
    check(model, config, ctx) -> None   every one-line error the stage can raise, before any work is done

The registry's order is the order a recipe runs them in (recipe.py says why); `Recipe` has one field per stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from edgebert.compress import distill, prune_structured, prune_unstructured, quantize, share
from edgebert.compress.common import CompressContext

Apply = Callable[[Any, Any, CompressContext], dict[str, Any]]
Check = Callable[[Any, Any, CompressContext], None]


@dataclass(frozen=True)
class Stage:
    name: str  # the recipe's table name ([prune_structured], ...) and the stage record's "stage"
    config_type: type
    apply: Apply
    check: Check
    changes_weights: bool = True  # False: settings applied later (quantize: at export), the model is left as it is


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "prune_structured",
            prune_structured.PruneStructuredConfig,
            prune_structured.prune_structured_,
            prune_structured.check,
        ),
        Stage("share", share.ShareConfig, share.share_layers_, share.check),
        Stage(
            "prune_unstructured",
            prune_unstructured.PruneUnstructuredConfig,
            prune_unstructured.prune_unstructured_,
            prune_unstructured.check,
        ),
        Stage("distill", distill.DistillConfig, distill.distill_, distill.check),
        Stage("quantize", quantize.QuantizeConfig, quantize.plan_quantization, quantize.check, changes_weights=False),
    )
}
