"""Typed errors. Each kind maps to an exit code; the CLI prints one line and exits with it."""

from __future__ import annotations


class EdgebertError(Exception):
    """Base of every error edgebert raises on purpose. The message is one line: what is wrong and how to fix it."""

    exit_code = 1


class UserError(EdgebertError):
    """Bad input: a missing file, an unknown target, a wrong flag value."""

    exit_code = 2


class ConfigError(UserError):
    """A target, recipe or config file with a missing, unknown or wrong-typed field."""


class DatasetError(UserError):
    """A dataset with missing columns, no rows, or labels the model does not know."""


class ModelError(UserError):
    """A model directory that does not exist, has no weights, or has corrupt weights."""


class BundleError(UserError):
    """A directory that is not a bundle, or a manifest edgebert cannot read."""


class IntegrityError(EdgebertError):
    """A bundle file whose sha256 does not match its manifest (tampered or truncated)."""

    exit_code = 3


class ParityError(EdgebertError):
    """An export whose outputs differ from the source model beyond the target's tolerance."""

    exit_code = 4


class MissingDependencyError(UserError):
    """A feature that needs an optional package (torch, transformers, optuna...) that is not installed."""


class RegressionError(EdgebertError):
    """`compare` found a figure past its threshold."""

    exit_code = 1


def require(module: str, extra: str = "compress"):
    """Import an optional heavy module, or raise a one-line error saying what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        top = module.split(".")[0]
        raise MissingDependencyError(
            f"{top} is not installed; install the workstation extra: pip install 'edgebert[{extra}]'"
        ) from exc
