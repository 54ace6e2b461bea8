"""Token classification end to end on a tiny tagger built from a config: word predictions, truncation, export with
word-level parity, bench's entity F1, and the CLI's one-line errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import NEGATIVE, NEUTRAL, POSITIVE, build_tokenizer
from edgebert import ner_data
from edgebert.cli import cli
from edgebert.ner_runtime import TRUNCATION_POLICY, WordEncoder, configure, predict_words

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


def tagged_rows(n: int, seed: int) -> list[dict]:
    """Sentences of neutral words with PER spans (POSITIVE words) and LOC spans (NEGATIVE words): learnable in a
    few steps, since a word's tag follows from the word itself."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(2, 5)):
            kind = rng.choice(["O", "O", "PER", "LOC"])
            if kind == "O":
                tokens.append(rng.choice(NEUTRAL))
                tags.append("O")
            else:
                words = POSITIVE if kind == "PER" else NEGATIVE  # first halves begin spans, second halves go on
                span = [rng.choice(words[:5])] + ([rng.choice(words[5:])] if rng.random() < 0.5 else [])
                tokens += span
                tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(span) - 1)
                tokens.append(rng.choice(NEUTRAL))  # a neutral word after each span keeps spans apart
                tags.append("O")
        rows.append({"tokens": tokens, "tags": tags})
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def tagger(tmp_path_factory) -> Path:
    """A tiny BertForTokenClassification trained for a few steps (int8 parity on a random model is a coin toss)."""
    import torch
    import transformers

    from edgebert import models, ner
    from edgebert.tasks import TrainConfig

    out = tmp_path_factory.mktemp("tiny-tagger")
    torch.manual_seed(0)
    _, vocab = build_tokenizer(out)
    cfg = transformers.BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={t: i for i, t in enumerate(LABELS)},
        pad_token_id=0,
    )
    transformers.BertForTokenClassification(cfg).save_pretrained(str(out), safe_serialization=True)
    model, tok = ner.load_tagger(out)
    rows = tagged_rows(300, seed=0)
    train = ner_data.TaggedSentences(tuple(tuple(r["tokens"]) for r in rows), tuple(tuple(r["tags"]) for r in rows))
    ner.train_tagger(
        model, tok, train, TrainConfig(steps=60, batch_size=16, learning_rate=5e-3, warmup_steps=10, max_length=32)
    )
    models.save_model(model, tok, out)
    return out


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> Path:
    return write_rows(tmp_path_factory.mktemp("ner-data") / "eval.jsonl", tagged_rows(80, seed=1))


def _word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "ab", "##cd", "x", "y"])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return tok


@pytest.mark.parametrize(
    "sentence, max_length, visible, cut",
    [
        (["x", "y"], 16, 2, 0),
        (["abcd", "x", "y"], 16, 3, 0),  # abcd = ab ##cd: one word, two sub-tokens
        (["abcd", "x", "y"], 5, 2, 1),  # [CLS] ab ##cd x [SEP]: y is cut
        (["abcd", "x", "y"], 3, 1, 2),  # [CLS] ab [SEP]: abcd keeps its first sub-token, so it is still predicted
        (["x", "abcd", "y"], 4, 2, 1),  # [CLS] x ab [SEP]
    ],
)
def test_word_predictions_come_from_first_subtokens_and_cut_words_are_counted(sentence, max_length, visible, cut):
    enc = WordEncoder(configure(_word_tokenizer(), max_length, 0, "[PAD]"), ["input_ids", "attention_mask"])

    def run(inputs):  # label = the token id mod 3: a word's label shows which sub-token it came from
        ids = inputs["input_ids"]
        return np.eye(3, dtype=np.float32)[ids % 3]

    got = predict_words(run, enc, [sentence])
    assert got.visible == [visible]
    assert got.truncation()["words_cut"] == cut and got.truncation()["sentences"] == (1 if cut else 0)
    ids = {"ab": 4, "x": 6, "y": 7}
    expected = [ids[w[:2]] % 3 for w in sentence[:visible]]  # abcd → ab (4), never ##cd (5)
    assert got.labels[0].tolist() == expected


def test_truncated_words_are_not_scored_as_misses():
    """A perfect tagger keeps entity F1 1.0 when the sentence is cut: the cut words leave scoring, and are counted."""
    from edgebert import ner

    sentences = ner_data.TaggedSentences((("x", "y", "x", "y"),), (("B-PER", "O", "B-LOC", "I-LOC"),))
    enc = WordEncoder(configure(_word_tokenizer(), 4, 0, "[PAD]"), ["input_ids"])  # [CLS] x y [SEP]
    gold = {6: 1, 7: 0}  # x → B-PER, y → O, for the visible words

    def run(inputs):
        return np.eye(5, dtype=np.float32)[np.vectorize(lambda i: gold.get(int(i), 0))(inputs["input_ids"])]

    preds = predict_words(run, enc, sentences.tokens)
    s = ner.score(sentences, preds, dict(enumerate(LABELS)))
    assert s["entity_f1"] == 1.0 and s["entities"] == 1  # LOC (words 3-4) was cut: not a miss
    assert s["truncation"] == {"sentences": 1, "words_cut": 2, "empty_words": 0, "policy": TRUNCATION_POLICY}


@pytest.fixture(scope="module")
def ner_bundles(tmp_path_factory, tagger, tagged) -> dict[str, Path]:
    """An fp32 and an int8 bundle of the tiny tagger (the task is read from its config.json)."""
    from edgebert.export.exporter import export_bundle

    out = tmp_path_factory.mktemp("ner-bundles")
    return {
        p: export_bundle("x86", tagger, out / p, precision=p, dataset=tagged, max_length=32) for p in ("fp32", "int8")
    }


@pytest.mark.parametrize("precision, agreement", [("fp32", 1.0), ("int8", 0.98)])
def test_export_validates_word_by_word_and_bench_reports_entity_f1(tmp_path, ner_bundles, tagged, precision, agreement):
    from edgebert.bench.runner import bench_bundle
    from edgebert.bundle import read_manifest

    out = ner_bundles[precision]
    m = read_manifest(out)
    assert m["task_type"] == "token-classification" and m["outputs"] == ["logits"]
    assert m["parity"]["passed"] and m["parity"]["token_agreement"] >= agreement
    assert m["parity"]["words"] == sum(len(r["tokens"]) for r in map(json.loads, tagged.read_text().splitlines()))
    ref = m["reference"]
    assert ref["entity_f1"] > 0.9, ref["entity_f1"]  # the tiny tagger learned the spans
    if precision == "fp32":
        assert ref["bundle_entity_f1"] == ref["entity_f1"]
    doc = bench_bundle(out, batch_sizes=[2], seq_lens=[8], iterations=2, warmup=1, out=tmp_path / "r.json")
    acc = doc["accuracy"]
    assert acc["task_type"] == "token-classification" and acc["metric"] == "entity_f1"
    assert acc["metric_value"] == acc["entity_f1"] == pytest.approx(ref["bundle_entity_f1"])
    assert acc["agreement_with_reference"] == pytest.approx(m["parity"]["token_agreement"])
    assert acc["truncation"]["words_cut"] == 0 and acc["size"] == 80


def test_report_and_compare_show_entity_f1(tmp_path, ner_bundles):
    paths = []
    for p, bundle in ner_bundles.items():
        r = CliRunner().invoke(
            cli, ["bench", str(bundle), "--batch-sizes", "1", "--iterations", "2", "--out", str(tmp_path / f"{p}.json")]
        )
        assert r.exit_code == 0, r.output
        paths.append(str(tmp_path / f"{p}.json"))
    r = CliRunner().invoke(cli, ["report", *paths])
    assert r.exit_code == 0, r.output
    assert "Entity F1" in r.output and "| Accuracy |" not in r.output
    r = CliRunner().invoke(
        cli, ["compare", *paths, "--max-accuracy-drop", "100", "--max-latency-regression", "1000%", "--allow-busy"]
    )
    assert "Entity F1 (x100)" in r.output, r.output
    assert r.exit_code in (0, 1) and "Traceback" not in r.output


def test_cli_export_and_bench_on_a_token_dataset(tmp_path, tagger, tagged):
    r = CliRunner().invoke(
        cli,
        ["export", "--target", "x86", "--model", str(tagger), "--dataset", str(tagged), "--out", str(tmp_path / "b")],
    )
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "agreement" in r.output
    r = CliRunner().invoke(cli, ["bench", str(tmp_path / "b"), "--batch-sizes", "1", "--iterations", "2"])
    assert r.exit_code == 0, r.output
    assert "entity F1" in r.output and "truncation cut 0 words" in r.output


def _bad_tags(tmp_path: Path) -> list[str]:
    rows = tagged_rows(70, seed=2)
    rows[3]["tags"][0] = "B-ORG"
    return ["--dataset", str(write_rows(tmp_path / "bad.jsonl", rows))]


def _seq_classifier(tmp_path: Path) -> Path:
    from conftest import build_model

    return build_model(tmp_path / "seq")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            lambda tmp, tagger, data: ["--model", str(tagger), *_bad_tags(tmp)],
            "bad.jsonl line 4 word 1: tag 'B-ORG' is not in",
        ),
        (
            lambda tmp, tagger, data: ["--model", str(_seq_classifier(tmp)), "--task", "token-classification"],
            "--task token-classification contradicts",
        ),
        (
            lambda tmp, tagger, data: ["--model", str(tagger), "--task", "sequence-classification"],
            "architecture is BertForTokenClassification",
        ),
        (lambda tmp, tagger, data: ["--model", str(tagger)], "pass --dataset FILE with tagged evaluation sentences"),
    ],
)
def test_bad_input_is_one_line(tmp_path, tagger, tagged, args, message):
    r = CliRunner().invoke(
        cli, ["export", "--target", "x86", *args(tmp_path, tagger, tagged), "--out", str(tmp_path / "o")]
    )
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_bench_with_a_dataset_whose_tags_the_model_lacks(tmp_path, tagger, tagged):
    from edgebert.export.exporter import export_bundle

    out = export_bundle("x86", tagger, tmp_path / "b", precision="fp32", dataset=tagged, max_length=32)
    bad = tmp_path / "bad.txt"
    bad.write_text("great NN B-PER\nfilm NN O\nParis NN B-GPE\n")
    r = CliRunner().invoke(cli, ["bench", str(out), "--dataset", str(bad), "--iterations", "1"])
    assert r.exit_code == 2, r.output
    assert "bad.txt line 3: tag 'B-GPE' is not in the model's label set" in r.output


@pytest.mark.slow
def test_default_ner_model_exports_to_arm64_int8_with_no_other_argument(tmp_path, monkeypatch):
    """The README's command on the real default NER model (trained on first use, then cached): int8 entity F1 within
    1 point of the PyTorch source on CoNLL-2003 test, measured in the same export."""
    from edgebert import ner
    from edgebert.bundle import read_manifest

    model = read_manifest(ner.default_model_dir())
    assert model["task_type"] == "token-classification" and set(model["entity_f1"]) == {"dev", "test"}
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["export", "--target", "arm64", "--task", "token-classification"])
    assert r.exit_code == 0, r.output
    m = read_manifest(tmp_path / "bundles" / "arm64-pi4-onnx-int8-token-classification")
    ref = m["reference"]
    assert ref["size"] == 3453 and m["parity"]["passed"] and m["precision"] == "int8"
    assert ref["entity_f1"] == pytest.approx(model["entity_f1"]["test"])  # the source, re-measured
    assert abs(ref["bundle_entity_f1"] - ref["entity_f1"]) <= 0.01


def test_parity_failure_names_words_and_leaves_no_bundle(tmp_path, tagger, tagged):
    from edgebert.config import dumps_toml
    from edgebert.targets import load_target

    d = load_target("x86-avx512-vnni").to_dict()
    d["name"] = "strict"
    d["parity"]["int8"] = {"max_abs_logit_diff": 0.0, "min_label_agreement": 1.0, "min_token_agreement": 1.0}
    (tmp_path / "strict.toml").write_text(dumps_toml(d))
    args = ["export", "--target", str(tmp_path / "strict.toml"), "--model", str(tagger), "--dataset", str(tagged)]
    r = CliRunner().invoke(cli, [*args, "--precision", "int8", "--out", str(tmp_path / "o")])
    assert r.exit_code == 4, r.output
    assert "failed parity on" in r.output and "words of 80 sentences" in r.output and "token agreement" in r.output
    assert not (tmp_path / "o").exists()


def test_load_tags_words_as_the_source_model_does(ner_bundles, tagger):
    """`edgebert.load(bundle).tag(sentences)`: one (word, tag) per word, the source's tags (fp32 bundle), a string
    split on whitespace; a word past the max length gets None, never a silent "O"."""
    import edgebert
    from edgebert import models, ner
    from edgebert.errors import UserError

    rows = tagged_rows(20, seed=5)
    p = edgebert.load(ner_bundles["fp32"])
    got = p.tag([r["tokens"] for r in rows])
    model, tok = ner.load_tagger(tagger)
    sentences = ner_data.TaggedSentences(tuple(tuple(r["tokens"]) for r in rows), tuple(tuple(r["tags"]) for r in rows))
    ref = ner.predict(model, tok, sentences, max_length=32)
    id2label = {i: t for t, i in models.label2id(model).items()}
    assert [[w for w, _ in s] for s in got] == [r["tokens"] for r in rows]
    assert [[t for _, t in s] for s in got] == [[id2label[int(k)] for k in ref.labels[i]] for i in range(len(rows))]
    assert p.tag(" ".join(rows[0]["tokens"])) == [got[0]]
    long = [rows[0]["tokens"][0]] * 60  # more sub-tokens than the bundle's 32
    tags = [t for _, t in p.tag([long])[0]]
    assert tags[0] is not None and tags[-1] is None and None not in tags[: tags.index(None)]
    with pytest.raises(UserError, match=r"token-classification bundle: use \.tag\(sentences\)"):
        p.embed(["x"])
    with pytest.raises(UserError, match="lists of non-empty words"):
        p.tag([["ok", ""]])
