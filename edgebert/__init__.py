"""edgebert: make BERT-family transformers smaller and faster for edge devices, and prove it with numbers.

The library calls read like the CLI verbs::

    import edgebert
    bundle = edgebert.export("x86", "my-bert", "bundles/x86", dataset="reviews.csv")
    results = edgebert.bench(bundle, real=True, out="results/x86.json")
    edgebert.load(bundle).predict(["a warm, funny film"])

Importing this package is light on purpose: it pulls in no torch, transformers or optimum, so that a
Raspberry Pi with the base install can bench a bundle. Heavy imports happen inside the functions that need them.

Four verbs share their name with a subpackage (`edgebert.export`, `edgebert.bench`, `edgebert.compress`,
`edgebert.report`). Python's import system sets a submodule as an attribute of its parent package when it is
first imported, which would replace the function `edgebert.bench` with the module `edgebert.bench` after
`import edgebert.bench.runner`. So this module's class refuses that assignment (the import system allows it to),
and each of those verbs is a :class:`Verb`: callable like the function it wraps, and forwarding attribute access to
its subpackage, so `edgebert.bench(...)` and `edgebert.bench.runner.bench_bundle` both keep working in any order.
(Renaming the subpackages instead would break every existing `import edgebert.bench.runner` in users' code.)
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
import types
from typing import TYPE_CHECKING, Any, Callable, Generic, Literal, ParamSpec, Sequence, TypeVar

from edgebert._version import __version__
from edgebert.errors import EdgebertError

if TYPE_CHECKING:
    from pathlib import Path

    from edgebert.predictor import Predictor
    from edgebert.report.compare import Comparison
    from edgebert.targets import Target

__all__ = [
    "__version__",
    "EdgebertError",
    "export",
    "bench",
    "compress",
    "run",
    "report",
    "compare",
    "load",
    "load_target",
]

PathLike = str | os.PathLike[str]
Log = Callable[[str], None]
_P = ParamSpec("_P")
_R = TypeVar("_R")


class Verb(Generic[_P, _R]):
    """A public function that is also the namespace of the subpackage of the same name.

    Calling it calls the function; any other attribute comes from the subpackage (imported on first use), so
    `edgebert.bench.runner` and `monkeypatch.setattr("edgebert.bench.runner.x", ...)` work as they would on the
    module. `inspect.signature`, `help()` and `__doc__` show the wrapped function's.
    """

    def __init__(self, func: Callable[_P, _R], package: str):
        object.__setattr__(self, "_package", package)
        object.__setattr__(self, "_func", func)
        functools.update_wrapper(self, func)

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return self._func(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if (name.startswith("__") and name.endswith("__")) or name in ("_func", "_package"):
            raise AttributeError(name)  # copy, pickle and pydoc probe dunders: never import for them
        return getattr(importlib.import_module(self._package), name)

    def __get__(self, obj: Any, objtype: Any = None) -> "Verb[_P, _R]":
        return self  # a plain function stored on a class would bind; a verb is a free function, it does not

    def __repr__(self) -> str:
        return f"<edgebert verb {self.__name__!r} (and package {self._package})>"


def _verb(package: str) -> Callable[[Callable[_P, _R]], Verb[_P, _R]]:
    """Make the decorated function a :class:`Verb` over `package`."""
    return lambda func: Verb(func, package)


class _Package(types.ModuleType):
    """The class of the `edgebert` module: a subpackage import must not overwrite the verb of the same name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and isinstance(self.__dict__.get(name), Verb):
            return  # the verb already forwards attribute access to this very module
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


@_verb("edgebert.export")
def export(
    target: "str | Target",
    model: PathLike | None = None,
    out: PathLike | None = None,
    *,
    format: Literal["onnx", "torchscript"] | None = None,
    precision: Literal["fp32", "fp16", "int8"] | None = None,
    dataset: PathLike | None = None,
    text_column: str = "text",
    label_column: str = "label",
    max_length: int | None = None,
    force: bool = False,
    log: Log | None = None,
    task: str | None = None,
) -> "Path":
    """Export a model directory to a validated bundle for one hardware target; return the bundle's path.

    The same as `edgebert export`. `target`: a name or alias (`edgebert targets list`) or a .toml file. `model`: a
    local Hugging Face model directory (None: the default task model). `out`: the bundle directory (None:
    bundles/<target>-<format>-<precision>). `precision` overrides the target's (fp32, fp16 or int8). `dataset`: a
    CSV or JSONL file of labelled texts the export is validated on (needed unless the model is an edgebert task
    model). `task` (sequence-classification, sentence-embedding, ...; None: detected from the model directory) must
    agree with the model; `max_length` None: 128, or a sentence-transformers model's max_seq_length. Nothing is
    written unless the export passes parity with the PyTorch source.
    """
    from edgebert.export.exporter import export_bundle

    return export_bundle(
        target,
        model,
        out,
        format=format,
        precision=precision,
        dataset=dataset,
        text_column=text_column,
        label_column=label_column,
        max_length=max_length,
        force=force,
        log=log,
        task=task,
    )


@_verb("edgebert.bench")
def bench(
    bundle: PathLike,
    *,
    batch_sizes: Sequence[int] = (1, 8),
    seq_lens: Sequence[int] | None = None,
    real: bool = False,
    sort_by_length: bool = True,
    warmup: int = 10,
    iterations: int | None = None,
    min_time_s: float | None = None,
    threads: int | None = None,
    dataset: PathLike | None = None,
    text_column: str = "text",
    label_column: str = "label",
    out: PathLike | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """Benchmark a bundle on this machine; return (and with `out`, write) the results document.

    The same as `edgebert bench`: verifies every file's sha256, then records cold start (session creation,
    tokenizer load, first call), latency percentiles per batch size × sequence length (and, with `real`, the
    evaluation split at its true lengths), memory, sizes and accuracy. Base install only.
    """
    from edgebert.bench.runner import bench_bundle

    return bench_bundle(
        bundle,
        batch_sizes=batch_sizes,
        seq_lens=seq_lens,
        real=real,
        sort_by_length=sort_by_length,
        warmup=warmup,
        iterations=iterations,
        min_time_s=min_time_s,
        threads=threads,
        dataset=dataset,
        text_column=text_column,
        label_column=label_column,
        out=out,
        log=log,
    )


@_verb("edgebert.compress")
def compress(
    model: PathLike | None,
    recipe: Any,
    out: PathLike | None = None,
    *,
    dataset: PathLike | None = None,
    text_column: str = "text",
    label_column: str = "label",
    force: bool = False,
    log: Log | None = None,
    task: str | None = None,
) -> "Path":
    """Compress a model directory with a recipe; return the compressed model directory.

    The same as `edgebert compress`. `model`: a local Hugging Face model directory (None: the default task model).
    `recipe`: a shipped recipe's name (`edgebert recipes list`), a .toml file, a dict shaped like one, or an
    `edgebert.compress.recipe.Recipe`. `out` (None: compressed/<recipe name>) gets the model and a manifest with a
    record per stage; export it with :func:`export`.
    """
    from edgebert.compress.recipe import compress_model

    return compress_model(
        model,
        recipe,
        out,
        dataset=dataset,
        text_column=text_column,
        label_column=label_column,
        force=force,
        log=log,
        task=task,
    )


@_verb("edgebert.report")
def report(
    results: Sequence[PathLike],
    *,
    format: Literal["md", "html", "json"] = "md",
    baseline: PathLike | None = None,
    use_baseline: bool = True,
    out: PathLike | None = None,
) -> str:
    """Set bench results documents side by side; return the report text (and with `out`, write it atomically).

    The same as `edgebert report`. Deltas are against `baseline` (default: the first of `results`).
    """
    from edgebert.report import check_output_format, render_report, write_text_atomic
    from edgebert.report.results import check_output_file

    if out is not None:
        check_output_format(out, format)
        check_output_file(out)
    text = render_report(list(results), format, baseline=baseline, use_baseline=use_baseline)
    if out is not None:
        write_text_atomic(out, text)
    return text


def compare(
    baseline: PathLike,
    candidate: PathLike,
    *,
    max_latency_regression: float = 5.0,
    max_accuracy_drop: float = 0.5,
    allow_different_env: bool = False,
    allow_busy: bool = False,
) -> "Comparison":
    """Gate `candidate` against `baseline` (two results documents); `.passed` says whether it is within both limits.

    The same as `edgebert compare`: each workload's p50 ratio gets a verdict from its 95% bootstrap interval
    (regressed only when the whole interval lies above `max_latency_regression` percent; improved, no change or
    undecidable otherwise), accuracy may drop at most `max_accuracy_drop` points. Runs from different machines are
    refused unless `allow_different_env`, runs measured under foreign CPU load unless `allow_busy`.
    """
    from edgebert.report import compare_runs, load_results

    return compare_runs(
        load_results(baseline),
        load_results(candidate),
        max_latency_regression,
        max_accuracy_drop,
        allow_different_env,
        allow_busy,
    )


def run(
    target: str,
    *,
    model: PathLike | None = None,
    dataset: PathLike | None = None,
    text_column: str = "text",
    label_column: str = "label",
    max_accuracy_drop: float = 1.0,
    min_speedup: float = 1.0,
    budget_minutes: float = 14.0,
    trials: int = 12,
    storage: str | None = None,
    study_name: str | None = None,
    out: PathLike | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """Search compression recipes for the fastest bundle within an accuracy budget; return the run's summary.

    The same as `edgebert run` (out: runs/<target>; running it again resumes). Raises
    `edgebert.search.BudgetNotMet` when no trial stays within `max_accuracy_drop` points of fp32 on dev, or none
    that does is `min_speedup` times faster than the plain int8 export (0: any speed).
    """
    from edgebert.config import from_dict
    from edgebert.search import RunConfig, run_search

    config = from_dict(
        RunConfig,
        {
            "target": target,
            "model": None if model is None else os.fspath(model),
            "dataset": None if dataset is None else os.fspath(dataset),
            "text_column": text_column,
            "label_column": label_column,
            "max_accuracy_drop": max_accuracy_drop,
            "min_speedup": min_speedup,
            "budget_minutes": budget_minutes,
            "trials": trials,
            "storage": storage,
            "study_name": study_name,
            "out": os.fspath(out) if out is not None else f"runs/{target}",
        },
    )
    return run_search(config, log=log)


def load(bundle: PathLike, *, threads: int | None = None) -> "Predictor":
    """Verify and load a bundle for prediction: `edgebert.load(path).predict(["text", ...])` gives a label and
    scores per text. Needs only the base install (onnxruntime, tokenizers, numpy)."""
    from edgebert.predictor import load as _load

    return _load(bundle, threads=threads)


def load_target(name_or_path: str) -> "Target":
    """Load a hardware target by name, alias or TOML path."""
    from edgebert.targets import load_target as _load

    return _load(name_or_path)


def __getattr__(name: str) -> Any:
    """Submodules on first use (`edgebert.search.run_search` without importing edgebert.search first)."""
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
