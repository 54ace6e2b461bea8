"""Tiny random models and a tiny dataset, built here from a config: unit tests never touch the real model.

Every test runs against a private edgebert cache (autouse, below): nothing a test does lands in the user's
~/.cache/edgebert.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
from pathlib import Path

import pytest

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

POSITIVE = "great superb moving brilliant charming delightful funny warm smart tender".split()
NEGATIVE = "dull awful boring clumsy tedious bland stupid messy lazy hollow".split()
NEUTRAL = "the film movie story plot cast director script scene ending actor music pace tone".split()


def interruptible() -> None:
    """`preexec_fn` of a child process a test will Ctrl-C (SIGINT). A shell that starts a job in the background
    (`pytest … &`, nohup) sets SIGINT to ignored, children inherit that, and Python then never raises
    KeyboardInterrupt: the test would measure the shell, not edgebert. Default SIGINT handling restores what a
    user's terminal gives."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def make_rows(n: int, seed: int = 0) -> list[dict]:
    """Sentences whose label is the majority sentiment of their adjectives: learnable by a tiny model."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        main, other = (POSITIVE, NEGATIVE) if label == "pos" else (NEGATIVE, POSITIVE)
        words = rng.sample(NEUTRAL, 4) + rng.sample(main, 2) + ([rng.choice(other)] if rng.random() < 0.3 else [])
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def write_csv(path: Path, rows: list[dict], columns=("text", "label")) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns))
        w.writeheader()
        for r in rows:
            w.writerow({c: r[c] for c in columns})
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def build_tokenizer(out: Path, model_type: str = "bert"):
    """A WordPiece tokenizer over the test vocabulary, saved as a fast tokenizer (tokenizer.json)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {w: i for i, w in enumerate(specials + sorted(set(POSITIVE + NEGATIVE + NEUTRAL)))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    fast.save_pretrained(str(out))
    return fast, len(vocab)


def build_model(
    out: Path,
    model_type: str = "bert",
    seed: int = 0,
    layers: int = 2,
    heads: int = 4,
    hidden: int = 32,
    intermediate: int = 64,
) -> Path:
    import torch
    import transformers

    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    fast, vocab_size = build_tokenizer(out, model_type)
    common = dict(
        vocab_size=vocab_size,
        num_labels=2,
        id2label={0: "neg", 1: "pos"},
        label2id={"neg": 0, "pos": 1},
        pad_token_id=0,
    )
    if model_type == "bert":
        cfg = transformers.BertConfig(
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=intermediate,
            max_position_embeddings=64,
            **common,
        )
    elif model_type == "distilbert":
        cfg = transformers.DistilBertConfig(
            dim=hidden, n_layers=layers, n_heads=heads, hidden_dim=intermediate, max_position_embeddings=64, **common
        )
    elif model_type == "roberta":
        cfg = transformers.RobertaConfig(
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=intermediate,
            max_position_embeddings=70,
            **common,
        )
    elif model_type == "mpnet":
        cfg = transformers.MPNetConfig(
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=intermediate,
            max_position_embeddings=70,
            **common,
        )
    else:
        raise ValueError(model_type)
    model = transformers.AutoModelForSequenceClassification.from_config(cfg)
    model.save_pretrained(str(out), safe_serialization=True)
    return out


def train_tiny(model_dir: Path, rows: list[dict], steps: int = 150, seed: int = 0) -> Path:
    """A few steps of training so logits have real margins (int8 parity on a random model is a coin toss)."""
    from edgebert.data import LabelledTexts
    from edgebert.models import label2id, load_classifier, save_model
    from edgebert.tasks import TrainConfig, train_classifier

    model, tok = load_classifier(model_dir)
    data = LabelledTexts(tuple(r["text"] for r in rows), tuple(r["label"] for r in rows))
    train_classifier(
        model,
        tok,
        data,
        TrainConfig(steps=steps, batch_size=16, learning_rate=3e-3, warmup_steps=10, max_length=32, seed=seed),
        label2id(model),
    )
    save_model(model, tok, model_dir)
    return model_dir


def link_finished_models(user_cache: Path, private_cache: Path) -> list[Path]:
    """Each finished default-task model of `user_cache` (one with a manifest: complete, never half-written) appears in
    `private_cache` as a symlink; returns the links. default_model_dir() writes only when an entry lacks its manifest,
    so it reads through these links and never writes there: a missing model trains into the private cache instead."""
    links = []
    for manifest in sorted(
        [
            *Path(user_cache, "default-task").glob("*/manifest.json"),
            *Path(user_cache, "default-ner").glob("*/manifest.json"),
        ]
    ):
        link = private_cache / manifest.parent.parent.name / manifest.parent.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(manifest.parent.resolve(), target_is_directory=True)
        links.append(link)
    return links


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory) -> Path:
    """EDGEBERT_CACHE_DIR points at a temporary directory for the whole session (subprocesses inherit it), so tests
    write teacher logits, trained models and anything else cached there. The slow tests that need the real default
    model (tests/test_default_task.py, ...) still find the user's cached copy, read-only, through symlinks."""
    from edgebert.tasks import cache_dir

    user_cache = cache_dir()  # where the user's models are: EDGEBERT_CACHE_DIR, XDG_CACHE_HOME or ~/.cache
    private = tmp_path_factory.mktemp("edgebert-cache")
    link_finished_models(user_cache, private)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEBERT_CACHE_DIR", str(private))
        yield private


@pytest.fixture(scope="session")
def tiny_rows() -> list[dict]:
    return make_rows(400, seed=0)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, tiny_rows) -> Path:
    """CSV of 160 labelled evaluation sentences (text,label)."""
    return write_csv(tmp_path_factory.mktemp("data") / "eval.csv", make_rows(160, seed=1))


@pytest.fixture(scope="session")
def tiny_model_factory(tmp_path_factory):
    """build(model_type="bert", **config) → a random tiny model directory."""

    def build(model_type: str = "bert", **kw) -> Path:
        return build_model(tmp_path_factory.mktemp(f"tiny-{model_type}"), model_type, **kw)

    return build


@pytest.fixture(scope="session")
def tiny_trained_model(tmp_path_factory, tiny_rows) -> Path:
    """A tiny BERT trained on the synthetic sentiment rows (2 layers, 4 heads, hidden 32, FFN 64)."""
    return train_tiny(build_model(tmp_path_factory.mktemp("tiny-trained"), "bert"), tiny_rows)


@pytest.fixture(scope="session")
def tiny_fp32_bundle(tmp_path_factory, tiny_trained_model, tiny_dataset) -> Path:
    from edgebert.export.exporter import export_bundle
    from edgebert.targets import QuantizationSettings

    out = tmp_path_factory.mktemp("bundles") / "fp32"
    return export_bundle(
        "x86-avx512-vnni",
        tiny_trained_model,
        out,
        dataset=tiny_dataset,
        quantization=QuantizationSettings(mode="none"),
        max_length=32,
    )


@pytest.fixture(scope="session")
def tiny_int8_bundle(tmp_path_factory, tiny_trained_model, tiny_dataset) -> Path:
    from edgebert.export.exporter import export_bundle

    out = tmp_path_factory.mktemp("bundles") / "int8"
    return export_bundle("x86-avx512-vnni", tiny_trained_model, out, dataset=tiny_dataset, max_length=32)
