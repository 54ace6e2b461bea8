"""Hardware targets are data: one TOML file each in `targets/` (shipped in the wheel as `edgebert/_targets`).

A target says how to export (format, opset, precision, offline graph optimisation), how to quantize, how the
runtime runs it (providers, threads, graph optimisation level) and how close the export must stay to the source.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebert import cpu
from edgebert.config import MAX_THREADS, bounded, choices, from_dict, to_dict
from edgebert.errors import ConfigError, UserError

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# A target's name becomes a directory name (bundles/<name>): no separators, no `..`, nothing hidden.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
SENSITIVE_OPS = (
    "LayerNormalization",
    "SkipLayerNormalization",
    "Gelu",
    "BiasGelu",
    "Erf",
    "Softmax",
    "Add",
    "Mul",
    "Div",
    "Sub",
    "Pow",
    "Sqrt",
    "ReduceMean",
    "Tanh",
)


@dataclass(frozen=True)
class ExportSettings:
    format: str = choices("onnx", "torchscript")
    opset: int = 17
    precision: str = choices("fp32", "fp16", "bf16", default="fp32")  # float precision before quantization
    # Run onnxruntime's transformer optimizer offline (fuses Attention/LayerNorm/Gelu; saves load time and RSS).
    optimize: bool = True

    def __post_init__(self) -> None:
        if not 11 <= self.opset <= 21:
            raise ValueError(f"export.opset must be between 11 and 21, got {self.opset}")


@dataclass(frozen=True)
class RuntimeSettings:
    execution_providers: tuple[str, ...] = ("CPUExecutionProvider",)
    intra_op_threads: int = bounded(0, ge=0, le=MAX_THREADS)  # 0 = onnxruntime's default (one per physical core)
    graph_optimization: str = choices("disable", "basic", "extended", "all", default="all")
    torch_quantized_engine: str = choices("x86", "fbgemm", "qnnpack", "none", default="x86")

    def __post_init__(self) -> None:
        if not self.execution_providers:
            raise ValueError("runtime.execution_providers must name at least one provider")


@dataclass(frozen=True)
class QuantizationSettings:
    mode: str = choices("none", "dynamic", "static", default="none")
    format: str = choices("QOperator", "QDQ", default="QOperator")
    weight_type: str = choices("int8", "uint8", default="int8")
    activation_type: str = choices("uint8", "int8", default="uint8")
    per_channel: bool = True
    reduce_range: bool = False
    calibration_samples: int = bounded(128, ge=1)
    # Static only: op types kept in float. Quantizing these costs much fidelity for little speed (measured here:
    # int8 everywhere dropped MiniLM's embedding cosine to 0.40; MatMul-only kept it at 0.94).
    keep_float_ops: tuple[str, ...] = SENSITIVE_OPS

    def __post_init__(self) -> None:
        if self.mode == "dynamic" and self.activation_type != "uint8":
            raise ValueError(
                "quantization.activation_type must be uint8 in dynamic mode (onnxruntime quantizes activations to uint8)"
            )


@dataclass(frozen=True)
class ParityTolerance:
    max_abs_logit_diff: float = bounded(ge=0)  # finite: from_dict refuses NaN and infinity
    min_label_agreement: float = bounded(ge=0, le=1)
    # token classification: the share of words whose tag matches the source's (unset: min_label_agreement), and the
    # largest |Δlogit| over every word's logits (unset: max_abs_logit_diff). The maximum of ~400k word logits on
    # CoNLL-2003 test reaches further than that of ~2.5k sentence logits, while agreement stays above 99.5 %.
    min_token_agreement: float | None = bounded(None, ge=0, le=1)
    max_abs_token_logit_diff: float | None = bounded(None, ge=0)

    @property
    def token_agreement(self) -> float:
        return self.min_label_agreement if self.min_token_agreement is None else self.min_token_agreement

    @property
    def token_logit_diff(self) -> float:
        return self.max_abs_logit_diff if self.max_abs_token_logit_diff is None else self.max_abs_token_logit_diff

    # sentence embeddings: cosine similarity of each text's embedding to the source's (worst text, and the mean)
    min_cosine: float | None = bounded(None, ge=-1, le=1)
    min_mean_cosine: float | None = bounded(None, ge=-1, le=1)


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    arch: str = choices("x86_64", "aarch64", "any")
    export: ExportSettings
    runtime: RuntimeSettings
    quantization: QuantizationSettings
    parity: dict[str, ParityTolerance]
    # CPU flags the target's kernels rely on; bench warns when the host lacks one.
    requires_cpu_features: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name) or ".." in self.name:
            raise ValueError(
                f"target name {self.name[:40]!r} may use only letters, digits, '.', '_', '+' and '-', "
                "starting with a letter or digit (it names the output directory)"
            )
        unknown = sorted(set(self.parity) - set(PRECISIONS))
        if unknown:
            raise ValueError(f"parity tables must be named {', '.join(PRECISIONS)}; got {', '.join(unknown)}")
        if self.precision not in self.parity:
            raise ValueError(f"field parity.{self.precision} is missing (tolerances for this target's precision)")

    @property
    def precision(self) -> str:
        return "int8" if self.quantization.mode != "none" else self.export.precision

    def tolerance(self, precision: str | None = None) -> ParityTolerance:
        key = precision or self.precision
        if key not in self.parity:
            raise ConfigError(f"target {self.name} has no [parity.{key}] table; add one to the target file")
        return self.parity[key]

    def with_quantization(self, quantization: QuantizationSettings) -> "Target":
        return dataclasses.replace(self, quantization=quantization)

    def to_dict(self) -> dict[str, Any]:
        d = to_dict(self)
        d.pop("source", None)
        return d

    def missing_cpu_features(self) -> list[str]:
        """Flags this target needs that the host lacks (plus an arch mismatch, if any)."""
        out = []
        if self.arch not in ("any", cpu.machine()):
            out.append(f"arch {self.arch} (host is {cpu.machine()})")
        have = cpu.cpu_features()
        out.extend(f for f in self.requires_cpu_features if f not in have)
        return out


def targets_dir() -> Path:
    """The shipped targets: inside the wheel, or the repo's `targets/` in an editable install."""
    packaged = Path(__file__).parent / "_targets"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "targets"


def parse_target(data: dict[str, Any], source: str) -> Target:
    if not isinstance(data, dict):
        raise ConfigError(f"a target is a table of settings, got {type(data).__name__}")
    target = from_dict(Target, data)
    return dataclasses.replace(target, source=source)


def load_target_file(path: Path) -> Target:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"target file {path} is not valid TOML: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"target file {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8"
        ) from None
    except RecursionError:
        raise ConfigError(
            f"target file {path} nests too deeply to be a target; see targets/*.toml for the format"
        ) from None
    except OSError as exc:
        raise UserError(f"cannot read target file {path}: {exc.strerror or exc}") from None
    try:
        return parse_target(data, str(path))
    except ConfigError as exc:
        raise ConfigError(f"target file {path}: {exc}") from None


def builtin_targets() -> list[Target]:
    return [load_target_file(p) for p in sorted(targets_dir().glob("*.toml"))]


def _pick_for_host(candidates: list[Target]) -> Target:
    """For an alias such as `x86`: the most capable target this host can run; else the most portable one."""
    fits = [t for t in candidates if not t.missing_cpu_features()]
    if fits:
        return max(fits, key=lambda t: len(t.requires_cpu_features))
    return min(candidates, key=lambda t: len(t.requires_cpu_features))


def load_target(name_or_path: str | Path) -> Target:
    """A target by name, by alias (resolved against this CPU), or from a user's TOML file."""
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise UserError(f"target file {path} does not exist")
        return load_target_file(path)
    targets = builtin_targets()
    for t in targets:
        if t.name == text:
            return t
    aliased = [t for t in targets if text in t.aliases]
    if aliased:
        return _pick_for_host(aliased)
    names = sorted({t.name for t in targets} | {a for t in targets for a in t.aliases})
    raise UserError(f"unknown target {text!r}; valid targets: {', '.join(names)} (or a path to a .toml file)")
