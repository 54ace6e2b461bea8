"""edgebert: make BERT-family transformers smaller and faster for edge devices, and prove it with numbers.

Importing this package is light on purpose: it pulls in no torch, transformers or optimum, so that a
Raspberry Pi with the base install can bench a bundle. Heavy imports happen inside the functions that need them.
"""
from __future__ import annotations

from edgebert._version import __version__
from edgebert.errors import EdgebertError

__all__ = ["__version__", "EdgebertError", "export", "bench", "compress", "load_target"]


def export(*args, **kwargs):
    """Export a model to a validated bundle; see :func:`edgebert.export.exporter.export_bundle`."""
    from edgebert.export.exporter import export_bundle

    return export_bundle(*args, **kwargs)


def bench(*args, **kwargs):
    """Benchmark a bundle on this machine; see :func:`edgebert.bench.runner.bench_bundle`."""
    from edgebert.bench.runner import bench_bundle

    return bench_bundle(*args, **kwargs)


def compress(*args, **kwargs):
    """Compress a model directory with a recipe; see :func:`edgebert.compress.recipe.compress_model`."""
    from edgebert.compress.recipe import compress_model

    return compress_model(*args, **kwargs)


def load_target(name_or_path: str):
    """Load a hardware target by name, alias or TOML path."""
    from edgebert.targets import load_target as _load

    return _load(name_or_path)
