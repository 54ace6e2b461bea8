"""Frozen dataclasses built from TOML/JSON dicts, with errors that name the field.

One mechanism for every document edgebert reads (targets, recipes, compression configs, run configs, bench
results): `from_dict` checks unknown keys, missing keys, types, choices and ranges; `to_dict` gives back plain
data that round-trips through TOML and JSON. Floats must be finite everywhere: a NaN compares false with every
bound, so a NaN tolerance or latency would slip through any range check written after it.

Documents that carry fields edgebert does not model (results files: see CONTRIBUTING.md) declare one
`extra_fields()` field; unknown keys go there instead of being refused, and `to_dict` puts them back.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from edgebert.errors import ConfigError

T = TypeVar("T")
MAX_THREADS = 1024  # a sane upper bound for any thread count: a typo such as 40000 fails here, not in onnxruntime


def choices(*values: str, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field restricted to `values`."""
    return dataclasses.field(default=default, metadata={"choices": values})


def bounded(
    default: Any = dataclasses.MISSING, *, ge: float | None = None, gt: float | None = None, le: float | None = None
) -> Any:
    """A numeric field (or tuple of numbers, checked one by one) within a range; None always passes."""
    return dataclasses.field(default=default, metadata={"range": (ge, gt, le)})


def extra_fields() -> Any:
    """The field that keeps a document's unmodelled keys (passed through, never validated)."""
    return dataclasses.field(default_factory=dict, compare=False, metadata={"extra": True})


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def show(value: Any, limit: int = 40) -> str:
    """A value for a one-line error: JSON-ish, escaped (no newline gets through), cut to `limit` characters."""
    try:
        text = json.dumps(value, ensure_ascii=True, default=repr)
    except (ValueError, TypeError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def key_name(key: Any) -> str:
    """A document key as it appears in an error: plain names as they are, anything odd quoted and escaped."""
    return key if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) else show(key)


def _check_range(value: Any, bounds: tuple, where: str) -> None:
    if value is None:
        return
    if isinstance(value, tuple):
        for i, v in enumerate(value):
            _check_range(v, bounds, f"{where}[{i}]")
        return
    ge, gt, le = bounds
    if ge is not None and not value >= ge:
        raise ConfigError(f"field {where} must be >= {ge}, got {show(value)}")
    if gt is not None and not value > gt:
        raise ConfigError(f"field {where} must be > {gt}, got {show(value)}")
    if le is not None and not value <= le:
        raise ConfigError(f"field {where} must be <= {le}, got {show(value)}")


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"field {where} must be a table, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"field {where} must be a list, got {type(value).__name__}")
        inner = typing.get_args(tp)[0]
        return tuple(_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"field {where} must be a table, got {type(value).__name__}")
        _, vt = typing.get_args(tp)
        return {str(k): _convert(v, vt, f"{where}.{key_name(k)}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"field {where} must be a number, got {show(value)}")
        try:
            value = float(value)
        except OverflowError:  # an integer too large for a float
            value = math.inf
        if not math.isfinite(value):
            raise ConfigError(f"field {where} must be a finite number, got {show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"field {where} must be an integer, got {show(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"field {where} must be true or false, got {show(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"field {where} must be a string, got {show(value)}")
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build the frozen dataclass `cls` from `data`, naming the field in every error."""
    prefix = f"{where}." if where else ""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    extra = next((f.name for f in fields.values() if f.metadata.get("extra")), None)
    unknown = sorted((k for k in data if k not in fields or k == extra), key=str)
    kwargs: dict[str, Any] = {}
    if extra is not None:
        kwargs[extra] = {k: data[k] for k in unknown}
    elif unknown:
        shown = unknown[:5] + (["…"] if len(unknown) > 5 else [])
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(prefix + key_name(k) for k in shown)}; "
            f"valid keys: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    for name, f in fields.items():
        if name == extra:
            continue
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"field {prefix}{name} is missing ({_type_name(hints[name])})")
            continue
        value = _convert(data[name], hints[name], prefix + name)
        allowed = f.metadata.get("choices")
        if allowed and value not in allowed:
            raise ConfigError(f"field {prefix}{name} must be one of {', '.join(allowed)}; got {show(value)}")
        if "range" in f.metadata:
            _check_range(value, f.metadata["range"], prefix + name)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:  # __post_init__ range checks
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None


def to_dict(obj: Any, *, keep_none: bool = False) -> Any:
    """Plain data (dicts, lists, scalars) for JSON/TOML. None values are dropped (TOML has no null) unless
    `keep_none` (JSON documents whose fields are required but nullable, such as a results file's accuracy)."""
    if dataclasses.is_dataclass(obj):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("extra"):
                out.update(to_dict(value, keep_none=keep_none))
            elif value is not None or keep_none:
                out[f.name] = to_dict(value, keep_none=keep_none)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_dict(v, keep_none=keep_none) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v, keep_none=keep_none) for k, v in obj.items()}
    return obj


def dumps_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for config data (scalars, lists of scalars, nested tables)."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        raise TypeError(f"cannot write {type(v).__name__} to TOML")

    lines: list[str] = []

    def table(d: dict[str, Any], path: str) -> None:
        plain = {k: v for k, v in d.items() if not isinstance(v, dict) and v is not None}  # TOML has no null
        nested = {k: v for k, v in d.items() if isinstance(v, dict)}
        if path and (plain or not nested):
            lines.append(f"[{path}]")
        lines.extend(f"{k} = {scalar(v)}" for k, v in plain.items())
        for k, v in nested.items():
            if lines:
                lines.append("")
            table(v, f"{path}.{k}" if path else k)

    table(data, "")
    return "\n".join(lines) + "\n"


def cache_dir() -> Path:
    """edgebert's cache (the default task model, teacher logits, the machine's GEMM peak): $EDGEBERT_CACHE_DIR, else
    $XDG_CACHE_HOME/edgebert, else ~/.cache/edgebert."""
    root = os.environ.get("EDGEBERT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgebert"
    )
    return Path(root)
