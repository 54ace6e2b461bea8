"""Build every classification variant's artifact from one local model directory, the way each tool's users build it
(the embedding and NER sections build theirs in embedding.py and ner.py, with the `Variant` defined here).

PyTorch: the model as loaded; `torch.ao.quantization.quantize_dynamic`; `torch.jit.trace` + `torch.jit.freeze`.
Optimum: `main_export` from the local directory (never the hub), `ORTOptimizer` with O2, and `ORTQuantizer` with
the CPU's dynamic per-channel preset and the `arm64` preset, both on the plain export (ORTQuantizer fails on
O2/O3-optimized graphs: "Unable to find data type for weight_name"). edgebert: `export_bundle` for the `x86` and
`arm64` targets, plus a compressed bundle when one is given or a recipe builds it.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from edgebert import cpu
from edgebert.errors import UserError, require

from benchmarks.peers.runners import RunnerSpec, quantize_torch_dynamic

Log = Callable[[str], None]


@dataclass
class Variant:
    name: str  # stable id, e.g. "optimum-avx512_vnni-int8"
    label: str  # what the table shows
    family: str  # pytorch | optimum | edgebert
    precision: str  # fp32 | int8
    runtime: str  # torch | torchscript | onnxruntime
    spec: RunnerSpec
    model_dir: Path  # Hugging Face dir with the layer shapes this variant computes (for multiply-accumulates)
    size_bytes: int
    size_what: str
    build_s: float
    notes: list[str] = field(default_factory=list)


def cpu_preset() -> str:
    """Optimum's x86 quantization preset for this CPU: VNNI if the CPU has it, else AVX2."""
    return "avx512_vnni" if "avx512_vnni" in cpu.cpu_features() else "avx2"


def onnx_bytes(path: Path) -> int:
    """The model file plus any external-data files it references."""
    onnx = require("onnx")
    model = onnx.load(str(path), load_external_data=False)
    extra = {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}
    return path.stat().st_size + sum((path.parent / f).stat().st_size for f in extra)


def onnx_inputs(path: Path) -> tuple[str, ...]:
    onnx = require("onnx")
    return tuple(i.name for i in onnx.load(str(path), load_external_data=False).graph.input)


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    """ORT's quantizer writes temp files into the working directory (and leaves them behind when it fails)."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def build_pytorch(model_dir: Path, work: Path, log: Log) -> list[Variant]:
    torch = require("torch")
    from edgebert.models import MODEL_INPUTS, load_classifier

    model, _ = load_classifier(model_dir)
    names = MODEL_INPUTS[model.config.model_type]
    weights = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
    out = [
        Variant(
            "pytorch-eager-fp32",
            "PyTorch eager fp32",
            "pytorch",
            "fp32",
            "torch",
            RunnerSpec("torch-eager", str(model_dir), names),
            model_dir,
            weights,
            "model.safetensors",
            0.0,
        )
    ]

    log("PyTorch dynamic int8 (torch.ao.quantization.quantize_dynamic)")
    qmodel, seconds = _timed(lambda: quantize_torch_dynamic(load_classifier(model_dir)[0]))
    qdir = work / "pytorch-int8"
    qdir.mkdir()
    torch.save(qmodel.state_dict(), qdir / "state_dict.pt")  # written only to measure its size; never loaded
    out.append(
        Variant(
            "pytorch-dynamic-int8",
            "PyTorch dynamic int8",
            "pytorch",
            "int8",
            "torch",
            RunnerSpec("torch-int8", str(model_dir), names),
            model_dir,
            (qdir / "state_dict.pt").stat().st_size,
            "torch.save(state_dict)",
            seconds,
            [
                "torch.ao.quantization.quantize_dynamic (nn.Linear, qint8), deprecated in torch 2.13 in favour of "
                "torchao but still shipped; quantized at load from the fp32 weights"
            ],
        )
    )

    log("TorchScript fp32 (torch.jit.trace + freeze)")
    ts_path = work / "torchscript" / "model.pt"
    ts_path.parent.mkdir()

    def trace() -> None:
        traced_model = load_classifier(model_dir)[0]
        traced_model.config.return_dict = False  # tuple outputs, as torch.jit.trace needs
        example = tuple(torch.ones((1, 128), dtype=torch.long) for _ in names)
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
            traced = torch.jit.freeze(torch.jit.trace(traced_model.eval(), example, strict=False))
        traced.save(str(ts_path))

    _, seconds = _timed(trace)
    out.append(
        Variant(
            "torchscript-fp32",
            "TorchScript fp32 (traced, frozen)",
            "pytorch",
            "fp32",
            "torchscript",
            RunnerSpec("torchscript", str(ts_path), names),
            model_dir,
            ts_path.stat().st_size,
            "model.pt",
            seconds,
        )
    )
    return out


def build_optimum(model_dir: Path, work: Path, log: Log, presets: tuple[str, ...]) -> list[Variant]:
    require("optimum.onnxruntime")
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import ORTOptimizer, ORTQuantizer
    from optimum.onnxruntime.configuration import AutoOptimizationConfig, AutoQuantizationConfig

    log("Optimum: main_export (local directory)")
    export_dir = work / "optimum-export"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, export_s = _timed(
            lambda: main_export(
                str(model_dir), export_dir, task="text-classification", local_files_only=True, do_validation=False
            )
        )
    plain = export_dir / "model.onnx"
    names = onnx_inputs(plain)

    log("Optimum: ORTOptimizer O2")
    o2_dir = work / "optimum-o2"
    _, o2_s = _timed(lambda: ORTOptimizer.from_pretrained(export_dir).optimize(AutoOptimizationConfig.O2(), o2_dir))
    o2 = o2_dir / "model_optimized.onnx"
    out = [
        Variant(
            "optimum-o2-fp32",
            "Optimum ONNX + ORTOptimizer O2 fp32",
            "optimum",
            "fp32",
            "onnxruntime",
            RunnerSpec("onnx", str(o2), names),
            model_dir,
            onnx_bytes(o2),
            o2.name,
            export_s + o2_s,
        )
    ]
    for preset in presets:
        log(f"Optimum: ORTQuantizer, {preset} preset (dynamic, per-channel)")
        qdir = work / f"optimum-{preset}"
        qdir.mkdir()
        config = getattr(AutoQuantizationConfig, preset)(is_static=False, per_channel=True)
        with _cwd(qdir):
            _, q_s = _timed(lambda: ORTQuantizer.from_pretrained(export_dir).quantize(config, qdir))
        qfile = qdir / "model_quantized.onnx"
        notes = [
            f"AutoQuantizationConfig.{preset}(is_static=False, per_channel=True) + ORTQuantizer on the plain export"
        ]
        if preset == "arm64" and cpu.machine() != "aarch64":
            notes.append(
                f"the arm64 preset's graph run on this {cpu.machine()} CPU (x86 int8 kernels), not on an ARM board"
            )
        out.append(
            Variant(
                f"optimum-{preset}-int8",
                f"Optimum {preset} int8",
                "optimum",
                "int8",
                "onnxruntime",
                RunnerSpec("onnx", str(qfile), names),
                model_dir,
                onnx_bytes(qfile),
                qfile.name,
                export_s + q_s,
                notes,
            )
        )
    return out


def edgebert_variant(
    bundle_dir: Path, name: str, label: str, build_s: float, notes: list[str] | None = None
) -> Variant:
    """A variant from an exported bundle; its shapes are read from the model directory it was exported from."""
    from edgebert.bench.plan import check_bundle

    manifest = check_bundle(bundle_dir)  # kind, fields and every file's sha256
    source = Path(manifest["source"]["path"])
    if not (source / "config.json").is_file():
        raise UserError(
            f"bundle {bundle_dir} was exported from {source}, which is gone; its layer shapes are needed "
            "to count multiply-accumulates: re-export it on this machine"
        )
    model_file = bundle_dir / manifest["model_file"]
    size = onnx_bytes(model_file) if manifest["format"] == "onnx" else model_file.stat().st_size
    stages = [s.get("stage") for s in manifest.get("stages", []) if s.get("stage") != "train"]
    notes = list(notes or [])
    if stages:
        from edgebert.export.exporter import model_manifest

        recipe = model_manifest(source).get("recipe", {}).get("name")
        notes.append(f"compressed with: {', '.join(stages)}" + (f" (recipe {recipe})" if recipe else ""))
    else:
        recipe = None
    # A compressed model may stay fp32; several compressed bundles are told apart by their recipe's name.
    tag = re.sub(r"[^a-z0-9]+", "-", (recipe or bundle_dir.name).lower()).strip("-") or "compressed"
    name = name.format(precision=manifest["precision"], recipe=tag)
    label = label.format(recipe=recipe or bundle_dir.name)
    return Variant(
        name,
        label,
        "edgebert",
        manifest["precision"],
        "onnxruntime" if manifest["format"] == "onnx" else "torchscript",
        RunnerSpec("edgebert", str(bundle_dir), tuple(manifest["inputs"])),
        source,
        size,
        manifest["model_file"],
        build_s,
        notes,
    )


def build_edgebert(model_dir: Path, work: Path, dataset: Path, log: Log) -> list[Variant]:
    from edgebert.export.exporter import export_bundle
    from edgebert.targets import load_target

    out = []
    for alias in ("x86", "arm64"):
        target = load_target(alias)
        log(f"edgebert export --target {alias} ({target.name})")
        path, seconds = _timed(lambda: export_bundle(target, model_dir, work / f"edgebert-{alias}", dataset=dataset))
        notes = [f"edgebert export --target {alias} → {target.name}"]
        if target.missing_cpu_features():
            notes.append(
                f"{target.name}'s int8 graph run on this {cpu.machine()} CPU with its x86 kernels, not on the board"
            )
        out.append(
            edgebert_variant(
                path,
                f"edgebert-{alias}-{target.precision}",
                f"edgebert {target.name} {target.precision}",
                seconds,
                notes,
            )
        )
    return out


def compress_and_export(
    model_dir: Path,
    recipe: Path,
    work: Path,
    dataset: Path,
    log: Log,
    distill_steps: int | None = None,
    teacher: tuple[str, Callable[[], Path]] | None = None,
) -> Variant:
    """`edgebert compress` with `recipe`, then `edgebert export --target x86`: edgebert's compressed bundle.
    `distill_steps` caps the recipe's distillation, and QUICK_PRUNE_SAMPLES its pruning's importance texts (the
    quick smoke run: the code path, not the accuracy; layer selection on 256 texts took 20 of its ~240 s).
    `teacher`: (its short name, a function returning its directory) to distil from instead of the recipe's; the
    variant's name gains the short name. Distillation runs in bf16 where `edgebert run` would (cpu.trains_in_bf16)."""
    from edgebert.compress.recipe import compress_model, load_recipe
    from edgebert.config import to_dict
    from edgebert.export.exporter import export_bundle

    stem = Path(recipe).stem
    settings = to_dict(load_recipe(recipe))
    if distill_steps is not None and settings.get("distill"):
        settings["distill"]["steps"] = min(settings["distill"]["steps"], distill_steps)
        log(f"distillation capped at {distill_steps} steps (quick run)")
    notes = [f"edgebert compress --recipe {recipe}, then export --target x86"]
    if teacher is not None and settings.get("distill"):
        short, resolve = teacher
        # Said before, not after: on first use resolving the teacher fine-tunes it (MPNet: ~40 minutes, silently).
        log(f"teacher {short} for {stem}: fine-tuned on first use (MPNet ~40 min on 2 cores), then read from the cache")
        settings["distill"]["teacher"] = str(resolve())
        settings["name"] = f"{settings.get('name') or stem}+{short}"
        notes.append(f"distilled from {short}: {settings['distill']['teacher']}")
    if settings.get("distill") and cpu.trains_in_bf16():
        settings["distill"]["precision"] = "bf16"
        notes.append("distilled in bf16 (this CPU has AMX, as `edgebert run` would)")
        log("distillation in bf16 (AMX)")
    if distill_steps is not None and settings.get("prune_structured"):
        settings["prune_structured"]["samples"] = min(settings["prune_structured"]["samples"], QUICK_PRUNE_SAMPLES)
        log(f"pruning importance on {QUICK_PRUNE_SAMPLES} texts (quick run)")
    log(f"edgebert compress --recipe {recipe}")
    compressed, compress_s = _timed(
        lambda: compress_model(model_dir, settings, work / f"compressed-model-{stem}", log=log)
    )
    log(f"edgebert export --target x86 (compressed model, {stem})")
    path, export_s = _timed(
        lambda: export_bundle("x86", compressed, work / f"edgebert-compressed-{stem}", dataset=dataset)
    )
    return edgebert_variant(path, COMPRESSED_NAME, COMPRESSED_LABEL, compress_s + export_s, notes)


QUICK_PRUNE_SAMPLES = 64
COMPRESSED_NAME = "edgebert-{recipe}-{precision}"
COMPRESSED_LABEL = "edgebert compressed ({recipe})"


def build_classification(
    model_dir: Path,
    work: Path,
    eval_file: Path,
    compressed: list[Path],
    recipes: list[Path],
    wanted: set[str] | None,
    log: Log,
    distill_steps: int | None = None,
    teachers: dict[str, tuple[str, Callable[[], Path]]] | None = None,
) -> list[Variant]:
    """Build the classification variants; with `wanted`, only the families named (eager fp32, the baseline, always).
    `teachers`: recipe file stem → the teacher to distil it from (compress_and_export)."""

    def needed(*prefixes: str) -> bool:
        return wanted is None or any(n.startswith(prefixes) for n in wanted)

    variants = build_pytorch(model_dir, work, log)
    if needed("optimum"):
        variants += build_optimum(model_dir, work, log, (cpu_preset(), "arm64"))
    if needed("edgebert-x86", "edgebert-arm64"):
        variants += build_edgebert(model_dir, work, eval_file, log)
    for recipe in recipes:
        teacher = (teachers or {}).get(Path(recipe).stem)
        variants.append(compress_and_export(model_dir, recipe, work, eval_file, log, distill_steps, teacher))
    for bundle_dir in compressed:
        variants.append(
            edgebert_variant(
                bundle_dir,
                COMPRESSED_NAME,
                COMPRESSED_LABEL,
                0.0,
                [f"prebuilt bundle {bundle_dir} (--compressed-bundle)"],
            )
        )
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise UserError(
            f"two variants are both named {max(names, key=names.count)}: give each compressed model its own recipe name"
        )
    if wanted:
        unknown = wanted - {v.name for v in variants}
        if unknown:
            raise UserError(
                f"unknown variant(s) {', '.join(sorted(unknown))}; choose from {', '.join(v.name for v in variants)}"
            )
        variants = [v for v in variants if v.name in wanted or v.name == "pytorch-eager-fp32"]
    return variants
