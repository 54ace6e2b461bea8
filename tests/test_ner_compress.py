"""`edgebert compress` on a token classifier (NER): structured pruning measured per word, per-word distillation from
the unpruned tagger, the stage records (entity F1 before/after), the CLI path and its one-line errors. A tiny random
BertForTokenClassification built from a config here, trained a few steps, and a CoNLL-style file written here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import build_tokenizer
from edgebert.cli import cli
from test_ner import LABELS, tagged_rows

PRUNE = {"layers_ratio": 0.5, "heads_ratio": 0.5, "ffn_ratio": 0.5, "samples": 64, "batch_size": 16}
# kd_weight 1: the loss is the per-word KL alone, the quantity the distillation test measures on held-out sentences.
DISTILL = {"steps": 60, "batch_size": 16, "learning_rate": 3e-3, "kd_weight": 1.0}


def write_conll(path: Path, rows: list[dict]) -> Path:
    """CoNLL-style: `word POS TAG` lines, a blank line between sentences, a -DOCSTART- line at the top."""
    lines = ["-DOCSTART- -X- O", ""]
    for r in rows:
        lines += [f"{w} NN {t}" for w, t in zip(r["tokens"], r["tags"])] + [""]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def conll(tmp_path_factory) -> Path:
    return write_conll(tmp_path_factory.mktemp("ner-c-data") / "tags.conll", tagged_rows(400, seed=3))


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    """A tiny tagger, weights drawn 10x wider than BERT's default (at 0.02 a random layer barely moves the residual
    stream, so pruning would leave nothing for distillation to win back), then trained a few steps."""
    import torch
    import transformers

    from edgebert import models, ner, ner_data
    from edgebert.tasks import TrainConfig

    out = tmp_path_factory.mktemp("ner-c") / "teacher"
    out.mkdir()
    torch.manual_seed(0)
    _, vocab = build_tokenizer(out)
    cfg = transformers.BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.2,
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


def compress(teacher, dataset, out, **stages):
    from edgebert.compress.recipe import compress_model

    return compress_model(teacher, {"name": "ner", "max_length": 32, **stages}, out, dataset=dataset)


@pytest.fixture(scope="module")
def pruned(tmp_path_factory, teacher, conll) -> Path:
    return compress(teacher, conll, tmp_path_factory.mktemp("ner-c") / "p", prune_structured=PRUNE)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, teacher, conll) -> Path:
    out = tmp_path_factory.mktemp("ner-c") / "pd"
    return compress(teacher, conll, out, prune_structured=PRUNE, distill=DISTILL, quantize={"mode": "dynamic"})


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def word_kl(teacher_dir: Path, student_dir: Path, sentences) -> float:
    """Mean KL(teacher ‖ student) of the word label distributions (first sub-token), measured independently of the
    training code: both taggers through ner.predict, the path export's parity uses."""
    from edgebert import ner

    t_model, t_tok = ner.load_tagger(teacher_dir)
    s_model, s_tok = ner.load_tagger(student_dir)
    t = np.concatenate(ner.predict(t_model, t_tok, sentences, 32).logits).astype(np.float64)
    s = np.concatenate(ner.predict(s_model, s_tok, sentences, 32).logits).astype(np.float64)

    def log_softmax(x):
        x = x - x.max(1, keepdims=True)
        return x - np.log(np.exp(x).sum(1, keepdims=True))

    lt, ls = log_softmax(t), log_softmax(s)
    return float((np.exp(lt) * (lt - ls)).sum(1).mean())


def test_pruning_really_shrinks_the_matrices_and_reloads(pruned):
    from edgebert import ner

    model, _ = ner.load_tagger(pruned)
    layers = model.bert.encoder.layer
    assert len(layers) == 1  # 2 layers → 1
    assert layers[0].attention.self.query.weight.shape == (16, 32)  # 4 heads of 8 → 2
    assert layers[0].attention.output.dense.weight.shape == (32, 16)
    assert layers[0].intermediate.dense.weight.shape == (32, 32)  # FFN 64 → 32
    assert layers[0].output.dense.weight.shape == (32, 32)
    assert model.classifier.weight.shape == (len(LABELS), 32)  # the token head is kept whole
    m = manifest(pruned)
    assert m["task_type"] == "token-classification" and m["dev_metric"] == "dev_entity_f1"
    assert m["shape"] == {"layers": 1, "heads": [2], "ffn": [32]}
    record = m["stages"][0]
    assert record["stage"] == "prune_structured"
    assert record["params_after"] < record["params_before"]
    assert record["macs_per_token_after"] < record["macs_per_token_before"]
    # gradient importance on per-token labels: a score per head and the layer losses were measured on the data
    assert record["result"]["layer_selection"][0]["dropped"] in (0, 1)
    assert set(record["result"]["pruned_heads"]) == {"0"} and len(record["result"]["pruned_heads"]["0"]) == 2
    assert 0 <= record["dev_entity_f1_after"] <= 1 and 0 < m["source"]["dev_entity_f1"] <= 1


def test_distillation_lowers_the_per_word_kl_to_the_teacher(teacher, pruned, distilled, conll):
    """On held-out sentences, measured outside the training code: the same pruning (same seed, same data), then
    distillation, brings the student's word distributions closer to the teacher's."""
    from edgebert import ner_data

    held_out = ner_data.TaggedSentences(
        tuple(tuple(r["tokens"]) for r in tagged_rows(60, seed=11)),
        tuple(tuple(r["tags"]) for r in tagged_rows(60, seed=11)),
    )
    assert manifest(pruned)["shape"] == manifest(distilled)["shape"]
    before, after = word_kl(teacher, pruned, held_out), word_kl(teacher, distilled, held_out)
    assert before > 0.01  # pruning moved the student away from the teacher: there is something to win back
    assert after < 0.7 * before
    record = manifest(distilled)["stages"][1]
    assert record["stage"] == "distill" and record["result"]["teacher_word_logits_computed"] > 0
    assert record["result"]["loss_last"] < record["result"]["loss_first"]
    assert record["dev_entity_f1_after"] is not None and record["dev_entity_f1_before"] is not None


def test_the_compressed_tagger_exports_with_the_recipes_int8(distilled, conll, tmp_path):
    from edgebert.export.exporter import export_bundle

    m = manifest(distilled)
    assert m["quantization"]["mode"] == "dynamic" and m["stages"][-1]["stage"] == "quantize"
    assert m["accuracy"]["dev"] == m["stages"][1]["dev_entity_f1_after"]  # the quantize stage leaves weights alone
    out = export_bundle("x86-avx2", distilled, tmp_path / "b", dataset=conll, task="token-classification")
    b = manifest(out)
    assert b["task_type"] == "token-classification" and b["precision"] == "int8"


def test_token_labels_sit_on_first_subtokens_only(teacher):
    """The labels importance is measured with: a word's tag on its first sub-token, -100 on the rest."""
    from edgebert import ner
    from edgebert.compress import tagging

    model, tok = ner.load_tagger(teacher)
    obj = tagging.objective({t: i for i, t in enumerate(LABELS)})
    enc, word_ids = obj.encode(model, tok, [("good", "film"), ("bad",)], 16)
    assert enc["input_ids"].shape == word_ids.shape
    labels = ner.token_labels(word_ids, [[1, 0], [3]])
    assert labels[0].tolist()[:4] == [-100, 1, 0, -100] and labels[1].tolist()[:3] == [-100, 3, -100]


def run_cli(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_compresses_a_tagger(teacher, conll, tmp_path):
    out = tmp_path / "cli"
    result = run_cli(
        "compress",
        "--model",
        str(teacher),
        "--task",
        "token-classification",
        "--dataset",
        str(conll),
        "--max-length",
        "32",
        "--prune-ffn-ratio",
        "0.5",
        "--prune-importance",
        "activation",
        "--prune-samples",
        "32",
        "--distill-steps",
        "4",
        "--distill-batch-size",
        "8",
        "--distill-hidden-weight",
        "0.1",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "dev entity f1" in result.output
    m = manifest(out)
    assert m["shape"]["ffn"] == [32, 32]
    assert m["stages"][1]["result"]["steps_run"] == 4 and m["stages"][1]["result"]["hidden_pairs"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--text-column", "sentence"], "--text-column/--label-column do not apply to token-classification data"),
        (["--distill-teacher", "SEQ"], "a token-classification model distils from a token-classification teacher"),
        (["--task", "sequence-classification"], "--task sequence-classification contradicts"),
        (["NO-DATASET"], "distillation needs training data; pass --dataset FILE"),  # a tagger without a task record
    ],
)
def test_options_that_make_no_sense_for_ner_fail_in_one_line(
    teacher, conll, tmp_path, tiny_model_factory, extra, message
):
    data = [] if extra == ["NO-DATASET"] else ["--dataset", str(conll)]
    extra = [str(tiny_model_factory()) if a == "SEQ" else a for a in extra if a != "NO-DATASET"]
    task = [] if "--task" in extra else ["--task", "token-classification"]
    out = tmp_path / "bad"
    result = CliRunner().invoke(
        cli, ["compress", "--model", str(teacher), *task, *data, "--distill-steps", "2", "--out", str(out)] + extra
    )
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists()


@pytest.mark.slow
def test_default_ner_model_compresses_with_no_model_argument(tmp_path):
    """The real default NER model (cached under ~/.cache/edgebert/default-ner), found with --task alone, as export
    finds it. Pruning and quantization only: distillation is covered on the tiny tagger, and each dev entity F1 on
    CoNLL-2003 dev (3,250 sentences) costs the real model a pass."""
    out = tmp_path / "real"
    result = run_cli(
        "compress",
        "--task",
        "token-classification",
        "--prune-layers-ratio",
        "0.34",
        "--prune-importance",
        "activation",
        "--prune-samples",
        "32",
        "--quantize-mode",
        "dynamic",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    m = manifest(out)
    assert m["task"]["name"] == "conll2003" and m["shape"]["layers"] == 4  # export then finds its CoNLL-2003 test
    assert m["source"]["dev_entity_f1"] > 0.5  # measured on CoNLL-2003 dev
    prune = m["stages"][-2]
    assert prune["stage"] == "prune_structured" and prune["dev_entity_f1_before"] == m["source"]["dev_entity_f1"]
    assert m["quantization"]["mode"] == "dynamic"
