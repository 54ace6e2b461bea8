"""Sentence-transformers models without sentence-transformers (torch side).

A sentence-transformers directory is a Hugging Face encoder plus `modules.json`, which lists the modules applied in
order: Transformer, then Pooling (`1_Pooling/config.json` says mean, CLS or max over the tokens) and optionally
Normalize (L2). edgebert reads that layout itself and rebuilds the pipeline as one torch module, so the pooling and
the normalisation are inside the exported graph: a device runs one ONNX output, `sentence_embedding`, with
onnxruntime and tokenizers alone. Any module or pooling mode edgebert does not reproduce exactly is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgebert.errors import ModelError, require
from edgebert.models import check_weights, encode, read_config, weights_file

MODULE_PACKAGE = "sentence_transformers."  # 2.x-4.x write sentence_transformers.models.Pooling; 5.x the class's
KNOWN_MODULES = (
    "Transformer",
    "Pooling",
    "Normalize",
)  # own module path (…sentence_transformer.modules.pooling.Pooling)
POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
}
# Keys of 1_Pooling/config.json that, when true, ask for something edgebert does not compute.
UNSUPPORTED_POOLING = ("pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
# sentence-transformers 5.x writes one key instead: "pooling_mode": "mean" (or a list of modes, concatenated).
POOLING_MODES = {"cls": "cls", "mean": "mean", "max": "max", "mean_sqrt_len_tokens": "mean_sqrt_len"}


@dataclass(frozen=True)
class SentenceLayout:
    transformer_dir: Path
    pooling: str  # cls | mean | max | mean_sqrt_len
    normalize: bool
    max_seq_length: int | None
    dimension: int | None


def _json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path} is missing; {what}") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelError(f"{path} is not valid JSON ({' '.join(str(exc).split())[:120]}); {what}") from None


def read_layout(model_dir: Path | str) -> SentenceLayout:
    """The checked sentence-transformers layout of `model_dir`, or a one-line ModelError naming what is wrong."""
    model_dir = Path(model_dir)
    fix = "edgebert reads sentence-transformers directories with Transformer, Pooling and optional Normalize modules"
    modules = _json(model_dir / "modules.json", fix)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise ModelError(f"{model_dir / 'modules.json'} is not a list of modules; {fix}")
    kinds = []
    for m in sorted(modules, key=lambda m: m.get("idx", 0) if isinstance(m.get("idx"), int) else 0):
        t = str(m.get("type", ""))
        kind = t.rsplit(".", 1)[-1] if t.startswith(MODULE_PACKAGE) else t
        if kind not in KNOWN_MODULES:
            raise ModelError(f"{model_dir} uses the sentence-transformers module {t[:80]!r}; {fix}")
        kinds.append((kind, str(m.get("path", ""))))
    names = [k for k, _ in kinds]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ModelError(f"{model_dir}/modules.json lists {' → '.join(names) or 'no modules'}; {fix}, in that order")
    transformer_dir = (model_dir / kinds[0][1]).resolve()
    if model_dir.resolve() not in (transformer_dir, *transformer_dir.parents):
        raise ModelError(f"{model_dir}/modules.json points the Transformer outside the model directory")
    pooling_cfg = _json(model_dir / kinds[1][1] / "config.json", fix)
    if not isinstance(pooling_cfg, dict):
        raise ModelError(f"{model_dir / kinds[1][1] / 'config.json'} is not a JSON object; {fix}")
    asked = [mode for key, mode in POOLING_KEYS.items() if pooling_cfg.get(key) is True]
    odd = [key for key in UNSUPPORTED_POOLING if pooling_cfg.get(key) not in (None, False)]
    if "pooling_mode" in pooling_cfg:  # the 5.x form
        modes = pooling_cfg["pooling_mode"]
        modes = [modes] if isinstance(modes, str) else modes if isinstance(modes, list) else [repr(modes)]
        asked += [POOLING_MODES[m] for m in modes if m in POOLING_MODES]
        odd += [f"pooling_mode {m!r}" for m in modes if m not in POOLING_MODES]
    if odd or len(asked) != 1:
        what = ", ".join(odd) if odd else (" + ".join(asked) if asked else "no pooling mode")
        raise ModelError(
            f"{model_dir / kinds[1][1] / 'config.json'} asks for {what}; edgebert pools with exactly one of "
            f"{', '.join(POOLING_KEYS.values())} (one pooling_mode_* key true)"
        )
    st_cfg = model_dir / "sentence_bert_config.json"
    max_seq = _json(st_cfg, fix).get("max_seq_length") if st_cfg.is_file() else None
    dim = pooling_cfg.get("word_embedding_dimension", pooling_cfg.get("embedding_dimension"))
    return SentenceLayout(
        transformer_dir,
        asked[0],
        len(names) == 3,
        max_seq if isinstance(max_seq, int) and max_seq > 0 else None,
        dim if isinstance(dim, int) else None,
    )


def pool(token_embeddings, attention_mask, mode: str):
    """Sentence vectors from token vectors [batch, seq, hidden], padding excluded (sentence-transformers' formulas)."""
    torch = require("torch")
    if mode == "cls":
        return token_embeddings[:, 0]
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    if mode == "max":
        masked = token_embeddings.masked_fill(mask == 0, -1e9)
        return masked.max(dim=1).values
    summed = (token_embeddings * mask).sum(dim=1)
    counts = torch.clamp(mask.sum(dim=1), min=1e-9)
    return summed / (counts if mode == "mean" else torch.sqrt(counts))


def sentence_embedder(encoder, layout: SentenceLayout):
    """One torch module: encoder → pooling → (L2 normalisation); forward(**inputs, return_dict=False)[0] is the
    embedding, the calling convention of a Hugging Face model, so export and parity treat it like a classifier."""
    torch = require("torch")

    class SentenceEmbedder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.config = encoder.config
            self.pooling = layout.pooling
            self.normalize = layout.normalize

        def forward(self, input_ids, attention_mask, token_type_ids=None, return_dict=False):
            kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                kwargs["token_type_ids"] = token_type_ids
            tokens = self.encoder(**kwargs, return_dict=False)[0]
            emb = pool(tokens, attention_mask, self.pooling)
            if self.normalize:
                emb = torch.nn.functional.normalize(emb, p=2.0, dim=1)
            return (emb,)

    return SentenceEmbedder().eval()


def load_sentence_model(model_dir: Path | str):
    """(embedder, tokenizer) from a sentence-transformers directory; safetensors only, every encoder weight present."""
    layout = read_layout(model_dir)
    src = layout.transformer_dir
    read_config(src)
    weights_file(src)
    check_weights(src)
    transformers = require("transformers")
    try:
        encoder, info = transformers.AutoModel.from_pretrained(
            str(src), output_loading_info=True, use_safetensors=True, local_files_only=True
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(src), local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot load the encoder in {src}: {str(exc).splitlines()[0][:200]}") from None
    # BERT's pooler (a dense layer on [CLS]) is not part of a sentence-transformers pipeline: its output is unused
    missing = [k for k in info.get("missing_keys") or () if not k.startswith("pooler.")]
    if missing:
        raise ModelError(
            f"the checkpoint in {src} lacks {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}; "
            "those weights would be random: pass a complete sentence-transformers directory"
        )
    if layout.dimension is not None and layout.dimension != encoder.config.hidden_size:
        raise ModelError(
            f"{model_dir}: 1_Pooling says word_embedding_dimension {layout.dimension}, the encoder's hidden size is "
            f"{encoder.config.hidden_size}; fix the pooling config"
        )
    return sentence_embedder(encoder.eval(), layout), tokenizer


def embed(model, tokenizer, texts: Sequence[str], max_length: int, batch_size: int = 64) -> np.ndarray:
    """Embeddings of `texts` [n, dim] (float32), batched by length so padding stays small."""
    torch = require("torch")
    texts = list(texts)
    order = np.argsort([len(t) for t in texts], kind="stable")
    out: np.ndarray | None = None
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            enc = encode(model, tokenizer, [texts[j] for j in idx], max_length)
            vec = model(**enc)[0].float().numpy()
            if out is None:
                out = np.zeros((len(texts), vec.shape[1]), dtype=np.float32)
            out[idx] = vec
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)
