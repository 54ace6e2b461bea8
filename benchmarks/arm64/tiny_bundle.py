"""Export a tiny model of one task as an arm64 bundle, for a quick emulated run (arm64_emulated.sh --tiny).

The models, tokenizer and data come from the test suite's builders (tests/conftest.py, tests/test_embedding.py,
tests/test_ner.py), so the emulated check needs neither a default model nor a model hub:
- sequence-classification: a tiny BERT trained just enough to be right about 89% of the time: an untrained model
  is a coin toss whose int8 labels flip on rounding noise, and a perfect one has no texts near its decision
  boundary, where a numeric difference between x86 and ARM kernels would show up as a changed label;
- sentence-embedding: a tiny random BERT in the sentence-transformers layout (mean pooling, Normalize), with Lee's
  words in its vocabulary (see build_sentence_model); export packs the Lee documents (from the gensim wheel) and
  the probe texts, so bench scores Spearman, probe and neighbour agreement offline;
- token-classification: a tiny BertForTokenClassification trained, like the classifier, only part of the way
  (entity F1 ~90%) on tagged sentences.

usage: python tiny_bundle.py OUT_DIR [--task TASK] [--target arm64]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAIN_STEPS = 60  # 89.0% on the 200 evaluation texts; int8 agrees with fp32 on all of them (measured at export)
# Entity F1 89.7% on the 80 sentences (60 steps: 100%, nothing near a boundary); int8 agrees with fp32 on every word
TAGGER_STEPS = 21
TASKS = ("sequence-classification", "sentence-embedding", "token-classification")


def load_tests(name: str):
    """A module of the test suite (conftest, test_embedding, test_ner), loaded from its file for its builders."""
    sys.path.insert(0, str(REPO / "tests"))  # the test modules import `conftest` by name
    spec = importlib.util.spec_from_file_location(f"edgebert_tests_{name}", REPO / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_classifier(work: Path, eval_rows: int) -> tuple[Path, Path]:
    b = load_tests("conftest")
    model = b.train_tiny(b.build_model(work / "model", "bert"), b.make_rows(400, seed=0), steps=TRAIN_STEPS)
    return model, b.write_csv(work / "eval.csv", b.make_rows(eval_rows, seed=1))


def build_sentence_model(work: Path, eval_rows: int) -> tuple[Path, Path]:
    import torch
    import transformers
    from tokenizers import models as token_models

    from edgebert import data

    b = load_tests("conftest")
    model = load_tests("test_embedding").build_sentence_model(work / "st")  # the sentence-transformers layout
    # The test vocabulary has none of Lee's words, and a BERT initialised at std 0.02 maps every text near one point:
    # Lee's 1,225 cosines would lie within 1e-2 of one another, their ranks decided by float rounding. With Lee's
    # words and weights at std 0.2 they spread over ~0.4-0.97 (median gap between neighbours ~2e-4): a rank swap of
    # two near-tied pairs moves Spearman by ~1e-5, and the check can be exact to 1e-4. Spearman stays near 0 (a
    # random model); what counts is that ARM and x86 agree.
    tok = transformers.PreTrainedTokenizerFast.from_pretrained(str(model))
    backend = tok.backend_tokenizer
    vocab = backend.get_vocab()
    for doc in data.load_lee().documents:
        for word, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(doc)):
            vocab.setdefault(word, len(vocab))
    backend.model = token_models.WordPiece(vocab, unk_token="[UNK]")
    tok.save_pretrained(str(model))
    config = transformers.BertConfig.from_pretrained(str(model), vocab_size=len(vocab), initializer_range=0.2)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(str(model), safe_serialization=True)
    # export splits labelled texts 80/10/10: the 80% train part is the probe's, the test part is scored
    return model, b.write_csv(work / "texts.csv", b.make_rows(10 * eval_rows, seed=3))


def build_tagger(work: Path, eval_rows: int) -> tuple[Path, Path]:
    import torch
    import transformers

    from edgebert import models, ner, ner_data
    from edgebert.tasks import TrainConfig

    b, t = load_tests("conftest"), load_tests("test_ner")
    out = work / "tagger"
    out.mkdir()
    torch.manual_seed(0)
    _, vocab = b.build_tokenizer(out)
    cfg = transformers.BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=len(t.LABELS),
        id2label=dict(enumerate(t.LABELS)),
        label2id={tag: i for i, tag in enumerate(t.LABELS)},
        pad_token_id=0,
    )
    transformers.BertForTokenClassification(cfg).save_pretrained(str(out), safe_serialization=True)
    model, tok = ner.load_tagger(out)
    rows = t.tagged_rows(300, seed=0)
    train = ner_data.TaggedSentences(tuple(tuple(r["tokens"]) for r in rows), tuple(tuple(r["tags"]) for r in rows))
    ner.train_tagger(
        model,
        tok,
        train,
        TrainConfig(steps=TAGGER_STEPS, batch_size=16, learning_rate=5e-3, warmup_steps=10, max_length=32),
    )
    models.save_model(model, tok, out)
    return out, t.write_rows(work / "eval.jsonl", t.tagged_rows(eval_rows, seed=1))


BUILDERS = {TASKS[0]: build_classifier, TASKS[1]: build_sentence_model, TASKS[2]: build_tagger}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="bundle directory to write (must not exist)")
    parser.add_argument("--task", choices=TASKS, default=TASKS[0])
    parser.add_argument("--target", default="arm64", help="an aarch64 target: arm64 (Pi 4) or pi5")
    parser.add_argument(
        "--eval-rows", type=int, default=None, help="evaluation rows (default 200 texts, 80 embedding texts/sentences)"
    )
    args = parser.parse_args()

    from edgebert.cli import cli

    eval_rows = args.eval_rows or (200 if args.task == TASKS[0] else 80)
    with tempfile.TemporaryDirectory(prefix="edgebert-tiny-") as tmp:
        model, dataset = BUILDERS[args.task](Path(tmp), eval_rows)
        # Through the CLI, as a user would export: the bundle is exactly what `edgebert export` writes.
        # cli.main exits (SystemExit unwinds the temp dir) with edgebert's own exit code and one-line errors.
        cli.main(
            ["export", "--target", args.target, "--task", args.task, "--model", str(model), "--dataset", str(dataset)]
            + ["--max-length", "32", "--out", str(args.out)],
            prog_name="edgebert",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
