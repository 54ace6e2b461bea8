"""Loading and running Hugging Face sequence classifiers (torch side). Weights come only from safetensors."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgebert.architectures import ARCHITECTURES, SUPPORTED_MODEL_TYPES, Layout
from edgebert.config import show
from edgebert.errors import ModelError, require
from edgebert.model_config import parse_model_config

# Input names each architecture's forward() takes, in ONNX input order (facts in architectures.py).
MODEL_INPUTS = {mt: arch.input_names for mt, arch in ARCHITECTURES.items()}
# config.json key naming the groups of layers compress/share.py tied; the two helpers at the bottom persist them.
SHARED_LAYERS_KEY = "edgebert_shared_layers"


def read_config(model_dir: Path) -> dict[str, Any]:
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise ModelError(
            f"model directory {model_dir} does not exist; pass a local Hugging Face model directory with --model"
        )
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir} is not a directory; pass a local Hugging Face model directory with --model")
    cfg_path = model_dir / "config.json"
    if not cfg_path.is_file():
        raise ModelError(f"{model_dir} has no config.json; it is not a Hugging Face model directory")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelError(f"{cfg_path} is not valid JSON: {' '.join(str(exc).split())[:160]}") from None
    if not isinstance(cfg, dict):
        raise ModelError(
            f"{cfg_path} holds a JSON {type(cfg).__name__}, not an object; it is not a Hugging Face config"
        )
    if cfg.get("model_type") not in SUPPORTED_MODEL_TYPES:
        raise ModelError(
            f"{model_dir} holds a {show(cfg.get('model_type'))} model; edgebert supports {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    parse_model_config(cfg, cfg_path)  # sizes and labels typed and in range: transformers trusts them blindly
    return cfg


def weights_file(model_dir: Path) -> Path:
    """The safetensors weights; a pickle-only model (pytorch_model.bin) is refused, not loaded."""
    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        if any(Path(model_dir).glob("*.bin")):
            raise ModelError(
                f"{model_dir} has only pickle weights (*.bin); edgebert loads safetensors only: convert with "
                "`model.save_pretrained(dir, safe_serialization=True)`"
            )
        raise ModelError(f"{model_dir} has no weights (*.safetensors)")
    return files[0]


def check_weights(model_dir: Path) -> None:
    """Open the safetensors header and every tensor, so corrupt or truncated weights fail with one line."""
    safetensors = require("safetensors")
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        try:
            with safetensors.safe_open(str(f), framework="numpy") as st:
                for key in st.keys():
                    st.get_slice(key)
        except Exception as exc:  # safetensors raises several kinds for a bad file
            raise ModelError(
                f"weights file {f} is corrupt or truncated ({type(exc).__name__}: {str(exc)[:120]})"
            ) from None


HEAD_INIT_SEED = 0  # the seed of a new task head's initial weights (load_classifier with num_labels)


def load_classifier(
    model_dir: Path | str, num_labels: int | None = None, auto_class: str = "AutoModelForSequenceClassification"
):
    """(model, tokenizer) from a local directory, model in eval mode. Safetensors only, never a hub download.

    Every weight the classifier needs must be in the checkpoint: a missing one (the classifier head of an encoder-only
    checkpoint) would be silently random-initialised, so it is an error that names it, as is an unexpected one. Only
    `num_labels` (a new head on an encoder, as the default task's training does) allows a missing head.
    `auto_class`: the transformers Auto class of the head (AutoModelForTokenClassification for NER, ner.py)."""
    model_dir = Path(model_dir)
    config = read_config(model_dir)
    weights_file(model_dir)
    check_weights(model_dir)
    transformers = require("transformers")
    kwargs: dict[str, Any] = {"use_safetensors": True, "local_files_only": True}
    if num_labels is not None:
        kwargs["num_labels"] = num_labels
    torch = require("torch")
    try:
        # A new head is drawn from torch's global generator: seeded here (and the caller's generator left as it was),
        # or every process would start the default task's fine-tune from another head and train another model.
        with _quiet_loading(config, new_head=num_labels is not None), torch.random.fork_rng(devices=[]):
            torch.manual_seed(HEAD_INIT_SEED)
            model, info = getattr(transformers, auto_class).from_pretrained(
                str(model_dir), output_loading_info=True, **kwargs
            )
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot load the model in {model_dir}: {str(exc).splitlines()[0][:200]}") from None
    if num_labels is None:
        check_loading_info(model, info, model_dir)
    else:  # a new head on purpose: transformers' warning about it is silenced, so anything else missing is an error
        body = [k for k in info.get("missing_keys") or () if not k.startswith(("classifier.", "pre_classifier."))]
        if body:
            raise ModelError(
                f"{model_dir} lacks encoder weights ({', '.join(sorted(body)[:4])}): only the task head may be new"
            )
    tie_shared_layers(model)  # layers `compress` shared are stored once; point the others at them (compress/share.py)
    model.eval()
    return model, tokenizer


def check_loading_info(model, info: dict[str, Any], model_dir: Path) -> None:
    """One-line ModelError for weights the checkpoint lacks (they would be random) or holds for nothing."""
    stored = unique_state_dict(model)  # shared layers' followers are stored once, on purpose: not missing
    followers = set(model.state_dict()) - set(stored) if stored is not None else set()
    missing = sorted(set(info.get("missing_keys") or ()) - followers)
    unexpected = sorted(info.get("unexpected_keys") or ())
    mismatched = sorted(
        str(m[0]) if isinstance(m, (tuple, list)) else str(m) for m in info.get("mismatched_keys") or ()
    )

    def names(keys: list[str]) -> str:
        return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")

    problems = [
        f"{what} {names(keys)}"
        for what, keys in (("lacks", missing), ("holds unexpected", unexpected), ("has wrongly shaped", mismatched))
        if keys
    ]
    if problems:
        head = (
            " (the classifier head: is it an encoder-only checkpoint?)"
            if any("classifier" in k or "score" in k for k in missing)
            else ""
        )
        raise ModelError(
            f"the checkpoint in {model_dir} {'; '.join(problems)}{head}; those weights would be random or "
            "ignored: pass a complete sequence-classification model directory"
        )


def label2id(model) -> dict[str, int]:
    return {str(v): int(k) for k, v in model.config.id2label.items()}


def encode(model, tokenizer, texts, max_length: int = 128, padding: Any = True) -> dict:
    """Tokenize to torch tensors, keeping only the inputs this architecture's forward() takes."""
    enc = tokenizer(list(texts), return_tensors="pt", padding=padding, truncation=True, max_length=max_length)
    return {k: enc[k] for k in MODEL_INPUTS[model.config.model_type] if k in enc}


def predict_logits(model, tokenizer, texts, batch_size: int = 64, max_length: int = 128) -> np.ndarray:
    """Logits for `texts`, batched by length so padding stays small."""
    torch = require("torch")
    texts = list(texts)
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            enc = encode(model, tokenizer, [texts[j] for j in idx], max_length)
            out[idx] = model(**enc).logits.float().numpy()
    return out


def logits_module(model, input_names: Sequence[str]):
    """`model` taking its inputs positionally and returning logits only: the form torch.onnx and torch.jit.trace want."""
    torch = require("torch")
    names = list(input_names)

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args)), return_dict=False)[0]

    return LogitsOnly(model).eval()


def count_parameters(model) -> int:
    """Unique parameters (a tied or shared tensor counts once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def save_model(model, tokenizer, out: Path) -> None:
    """Hugging Face layout, safetensors weights; layers shared by `compress` are stored once (compress/share.py)."""
    model.save_pretrained(str(out), safe_serialization=True, state_dict=unique_state_dict(model))
    tokenizer.save_pretrained(str(out))


# --- layers shared by compress/share.py, across a save and a reload ----------------------------------------------
# config.json gains SHARED_LAYERS_KEY (e.g. [[0, 1], [2, 3]]); the safetensors file holds each group's first layer
# only (transformers refuses to save runtime-shared tensors); on load the followers, which transformers initialised
# at random because their keys are absent, are replaced by their group's first layer.
def tie_shared_layers(model) -> None:
    """After loading: point each group's followers at the group's first layer (no-op for unshared models)."""
    groups = getattr(model.config, SHARED_LAYERS_KEY, None)
    if not groups:
        return
    layout = Layout(model)
    layers = list(layout.layers)
    for g in groups:
        for i in g[1:]:
            layers[i] = layers[g[0]]
    layout.set_layers(layers)


def unique_state_dict(model) -> dict | None:
    """The state dict without the followers' keys (each shared tensor once), or None for an unshared model."""
    groups = getattr(model.config, SHARED_LAYERS_KEY, None)
    if not groups:
        return None
    layout = Layout(model)
    root = f"{model.base_model_prefix}.{layout.paths['layers']}."
    followers = tuple(f"{root}{i}." for g in groups for i in g[1:])
    return {k: v for k, v in model.state_dict().items() if not k.startswith(followers)}


@contextlib.contextmanager
def _quiet_loading(config: dict, new_head: bool = False):
    """Silence transformers' 'weights newly initialized' warning for the followers tie_shared_layers replaces, and
    for a head created on purpose (`num_labels`: training the default models); load_classifier checks the rest."""
    if not config.get(SHARED_LAYERS_KEY) and not new_head:
        yield
        return
    logging = require("transformers").logging
    before = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(before)
