"""Property tests of every parser and loader: any bytes, or any mutation of a valid document, give either a valid
object or an EdgebertError with a one-line message, never another exception (a traceback is a bug).

Seeded (derandomize) and bounded, so the run is the same every time and takes seconds; raise HYPOTHESIS_EXAMPLES to
search harder locally (e.g. HYPOTHESIS_EXAMPLES=5000 pytest tests/test_parsers_property.py).
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from edgebert.bundle import MANIFEST, read_manifest
from edgebert.compress.recipe import Recipe, load_recipe, recipe_from_dict
from edgebert.config import dumps_toml, from_dict, to_dict
from edgebert.data import load_dataset
from edgebert.errors import EdgebertError
from edgebert.manifest import parse_bundle_manifest
from edgebert.models import read_config
from edgebert.report.results import BenchResults, load_results
from edgebert.search import RunConfig
from edgebert.targets import Target, load_target, load_target_file, parse_target
from report_fixtures import make_results

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RECIPES = sorted((Path(__file__).parent.parent / "benchmarks" / "recipes").glob("*.toml"))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def outcome(parse, *args):
    """Run a parser: the object it returns, or None after checking its error is an EdgebertError on one line."""
    try:
        result = parse(*args)
    except EdgebertError as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        event(f"{getattr(parse, '__name__', parse)}: {type(exc).__name__}")
        return None
    event(f"{getattr(parse, '__name__', parse)}: parsed")
    return result


# --- strategies ------------------------------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.integers(-3, 3)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def same_kind(value) -> st.SearchStrategy:
    """Values of the same JSON type as `value`, edge cases included: where range checks, not type checks, decide."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-2, 3) | st.integers(-(2**40), 2**40)
    if isinstance(value, float):
        return st.floats(-2.0, 2.0) | st.sampled_from([0.0, -0.0, 1e-300, 1e300, math.nan, math.inf])
    if isinstance(value, str):
        return st.text(max_size=12) | st.sampled_from(["", "..", "../x", "a/b", "x" * 300])
    return json_values


def mutate(data: st.DataObject, doc: dict) -> dict:
    """A copy of `doc` with 1-3 random edits: a value replaced (often by one of the same type), a key deleted, or
    an unknown key added, anywhere in the document."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        node = doc
        while True:  # walk down to a random container
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            containers = [(k, v) for k, v in children if isinstance(v, (dict, list)) and v]
            if not containers or data.draw(st.booleans()):
                break
            node = data.draw(st.sampled_from(containers))[1]
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        action = data.draw(st.sampled_from(["tweak", "tweak", "replace", "delete", "add"]))
        if action == "add" and isinstance(node, dict):
            node[data.draw(st.text(max_size=8))] = data.draw(json_values)
        elif keys and action == "delete":
            del node[data.draw(st.sampled_from(keys))]
        elif keys:
            key = data.draw(st.sampled_from(keys))
            node[key] = data.draw(same_kind(node[key]) if action == "tweak" else json_values)
    return doc


def mutate_bytes(data: st.DataObject, raw: bytes) -> bytes:
    """`raw` with 1-4 byte-level edits (insert, delete or overwrite a short run of arbitrary bytes)."""
    raw = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        chunk = data.draw(
            st.binary(max_size=4) | st.sampled_from([b"\n", b",", b"\t", b'"', b"[", b"=", b"\xef\xbb\xbf"])
        )
        how = data.draw(st.sampled_from(["insert", "delete", "overwrite"]))
        if how == "insert":
            raw[at:at] = chunk
        elif how == "delete":
            del raw[at : at + data.draw(st.integers(1, 8))]
        else:
            raw[at : at + len(chunk)] = chunk
    return bytes(raw)


def any_bytes_or_mutated(data: st.DataObject, valid: bytes) -> bytes:
    """Half arbitrary bytes, half a valid file with byte-level edits (which reach far deeper into the parser)."""
    if data.draw(st.booleans()):
        return data.draw(st.binary(max_size=200))
    return mutate_bytes(data, valid)


# --- targets ---------------------------------------------------------------------------------------------------------

TARGET = load_target("x86-avx512-vnni")
TARGET_TOML = dumps_toml(TARGET.to_dict()).encode()


@FUZZ
@given(st.data())
def test_target_dicts(data):
    target = outcome(parse_target, mutate(data, TARGET.to_dict()), "t.toml")
    if target is not None:  # what parses round-trips, and holds only values in range
        assert isinstance(target, Target) and parse_target(target.to_dict(), "t.toml") == target
        assert 0 <= target.runtime.intra_op_threads <= 1024
        assert all(math.isfinite(t.max_abs_logit_diff) and t.max_abs_logit_diff >= 0 for t in target.parity.values())


@FUZZ
@given(st.data())
def test_target_files(work, data):
    raw = any_bytes_or_mutated(data, TARGET_TOML)
    path = work / "target.toml"
    path.write_bytes(raw)
    outcome(load_target_file, path)


# --- recipes ---------------------------------------------------------------------------------------------------------

RECIPE_DICTS = [to_dict(load_recipe(p)) for p in RECIPES]


@FUZZ
@given(st.data())
def test_recipe_dicts(data):
    recipe = outcome(recipe_from_dict, mutate(data, data.draw(st.sampled_from(RECIPE_DICTS))))
    if recipe is not None:
        assert isinstance(recipe, Recipe) and recipe_from_dict(to_dict(recipe)) == recipe


@FUZZ
@given(st.data())
def test_recipe_files(work, data):
    valid = data.draw(st.sampled_from(RECIPES)).read_bytes()
    raw = any_bytes_or_mutated(data, valid)
    path = work / "recipe.toml"
    path.write_bytes(raw)
    outcome(load_recipe, path)


# --- run configs ------------------------------------------------------------------------------------------------------

RUN_FIELDS = [
    "target",
    "model",
    "dataset",
    "text_column",
    "label_column",
    "max_accuracy_drop",
    "budget_minutes",
    "trials",
    "storage",
    "out",
    "max_length",
    "bench_iterations",
    "study_name",
]


@FUZZ
@given(st.data())
def test_run_configs(data):
    base = {"target": "x86", "trials": 4, "budget_minutes": 12.0, "max_accuracy_drop": 1.0}
    config = outcome(
        from_dict,
        RunConfig,
        mutate(data, base) | data.draw(st.dictionaries(st.sampled_from(RUN_FIELDS), json_values, max_size=3)),
    )
    if config is not None:
        assert config.trials >= 1 and math.isfinite(config.budget_minutes) and config.budget_minutes > 0


# --- results documents ------------------------------------------------------------------------------------------------


def _small_results() -> dict:
    doc = make_results("int8")
    for row in doc["latency"]:
        row["samples_ms"] = row["samples_ms"][:4]  # the shape matters here, not the thousand samples
        row["iterations"] = 4
    return doc


RESULTS = _small_results()


@FUZZ
@given(st.data())
def test_results_documents(work, data):
    doc = mutate(data, RESULTS)
    path = work / "results.json"
    path.write_text(json.dumps(doc))  # NaN and Infinity are written as JSON's non-standard literals, as Python reads
    run = outcome(load_results, path)
    if run is not None:  # whatever passes is safe to gate on
        assert isinstance(run.results, BenchResults)
        assert all(r.p50_ms > 0 and math.isfinite(r.p50_ms) for r in run.results.latency)
        assert run.results.accuracy is None or 0 <= run.results.accuracy.accuracy <= 1
        assert 1 <= run.results.settings.threads <= 1024


@FUZZ
@given(st.data())
def test_results_files(work, data):
    valid = json.dumps(RESULTS).encode()
    raw = any_bytes_or_mutated(data, valid)
    path = work / "results.json"
    path.write_bytes(raw)
    outcome(load_results, path)


# --- datasets ---------------------------------------------------------------------------------------------------------

CSV = 'text,label\nA quiet, lovely film.,fresh\n"He said ""no""",rotten\nplain,fresh\n'.encode()
DATASETS = {
    "d.csv": CSV,
    "d.tsv": CSV.replace(b",", b"\t"),
    "d.jsonl": b'{"text": "A quiet film.", "label": "fresh"}\n{"text": "dull", "label": 0}\n\n{"text": "ok", "label": "x"}\n',
}


@FUZZ
@given(st.sampled_from(sorted(DATASETS)), st.data())
def test_datasets(work, name, data):
    raw = any_bytes_or_mutated(data, DATASETS[name])
    path = work / name
    path.write_bytes(raw)
    dataset = outcome(load_dataset, path)
    if dataset is not None:
        assert len(dataset) >= 1 and len(dataset.texts) == len(dataset.labels)
        assert all(
            isinstance(t, str) and t.strip() and isinstance(y, str) for t, y in zip(dataset.texts, dataset.labels)
        )
        for text in dataset.texts + dataset.labels:
            text.encode("utf-8")  # what loads can be tokenized and hashed (no lone surrogates)
        assert not dataset.texts[0].startswith("\ufeff") or name == "d.jsonl"


@FUZZ
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["text", "label", "other"]),
            st.text(max_size=6) | st.integers(-3, 3) | json_values,
            max_size=3,
        ),
        max_size=4,
    )
)
def test_jsonl_rows_of_any_json(work, rows):
    path = work / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dataset = outcome(load_dataset, path)
    if dataset is not None:
        assert all(isinstance(t, str) and t.encode("utf-8") for t in dataset.texts + dataset.labels)


# --- Hugging Face config.json ---------------------------------------------------------------------------------------

HF_CONFIG = {
    "model_type": "bert",
    "vocab_size": 120,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "id2label": {"0": "neg", "1": "pos"},
}


@FUZZ
@given(st.data())
def test_model_configs(work, data):
    raw = (
        any_bytes_or_mutated(data, json.dumps(HF_CONFIG).encode())
        if data.draw(st.booleans())
        else json.dumps(mutate(data, HF_CONFIG)).encode()
    )
    root = work / "model"
    root.mkdir(exist_ok=True)
    (root / "config.json").write_bytes(raw)
    cfg = outcome(read_config, root)
    if cfg is not None:
        assert cfg["model_type"] in ("bert", "distilbert", "roberta", "mpnet")
        assert all(
            isinstance(cfg.get(k), (int, type(None))) and not isinstance(cfg.get(k), bool)
            for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
        )


# --- bundle manifests -------------------------------------------------------------------------------------------------

MANIFEST_DOC = {
    "schema_version": 1,
    "edgebert_version": "0.1.0",
    "kind": "bundle",
    "format": "onnx",
    "precision": "int8",
    "model_file": "model.onnx",
    "inputs": ["input_ids", "attention_mask"],
    "outputs": ["logits"],
    "tokenizer": {"file": "tokenizer.json", "max_length": 64, "pad_token": "[PAD]", "pad_id": 0},
    "source": {"model_type": "bert", "num_labels": 2, "id2label": {"0": "neg", "1": "pos"}},
    "target": {"name": "x86-avx2", "runtime": {"intra_op_threads": 2}},
    "files": {"model.onnx": "0" * 64, "tokenizer.json": "1" * 64},
}


@FUZZ
@given(st.data())
def test_manifests(work, data):
    valid = json.dumps(MANIFEST_DOC).encode()
    raw = (
        any_bytes_or_mutated(data, valid)
        if data.draw(st.booleans())
        else json.dumps(mutate(data, MANIFEST_DOC)).encode()
    )
    root = work / "bundle"
    root.mkdir(exist_ok=True)
    (root / MANIFEST).write_bytes(raw)
    manifest = outcome(read_manifest, root)
    if manifest is not None:
        assert isinstance(manifest, dict)
        typed = outcome(parse_bundle_manifest, manifest, root)
        assert typed is None or 0 <= typed.target.runtime.intra_op_threads <= 1024


def test_the_fuzzed_documents_start_valid(tmp_path):
    # Otherwise every mutation would be refused and the properties above would test one error path only.
    for doc, name in ((RESULTS, "r.json"), (MANIFEST_DOC, "manifest")):
        path = tmp_path / name
        path.write_text(json.dumps(doc))
        assert (load_results(path) if name == "r.json" else parse_bundle_manifest(doc, tmp_path)) is not None
    assert parse_target(TARGET.to_dict(), "t") == TARGET and all(recipe_from_dict(d) for d in RECIPE_DICTS)
    for name, raw in DATASETS.items():
        (tmp_path / name).write_bytes(raw)
        assert len(load_dataset(tmp_path / name)) == 3


# --- task types: detection, results quality sections, sentence-transformers layouts, embedding bundles ----------------

EMBEDDING_RESULTS = copy.deepcopy(RESULTS)
EMBEDDING_RESULTS["accuracy"] = {
    "task_type": "sentence-embedding",
    "metric": "spearman",
    "metric_value": 0.5,
    "dataset": "rotten-tomatoes:test",
    "dataset_sha256": "0" * 64,
    "size": 100,
    "accuracy": None,
    "spearman": 0.5,
    "spearman_ci95": [0.4, 0.6],
    "probe_accuracy": 0.75,
    "agreement_with_reference": 0.8,
}


@FUZZ
@given(st.data())
def test_embedding_results_documents(work, data):
    from edgebert import task_types

    doc = mutate(data, EMBEDDING_RESULTS)
    path = work / "results.json"
    path.write_text(json.dumps(doc))
    run = outcome(load_results, path)
    if run is not None and run.accuracy is not None:  # what passes names a known task and a primary metric in range
        value = task_types.primary_value(run.accuracy)
        assert isinstance(value, (int, float)) and -1 <= value <= 1


TASK_FILES = {
    "manifest.json": {"kind": "bundle", "task_type": "sentence-embedding"},
    "config.json": {"architectures": ["BertForTokenClassification"]},
    "modules.json": [],
}


@FUZZ
@given(
    st.sampled_from(sorted(TASK_FILES)),
    st.sampled_from([None, "sentence-embedding", "token-classification"]),
    st.data(),
)
def test_task_detection(work, name, requested, data):
    from edgebert import task_types

    root = work / "task"
    root.mkdir(exist_ok=True)
    for f in root.iterdir():
        f.unlink()
    valid = json.dumps(TASK_FILES[name]).encode()
    (root / name).write_bytes(any_bytes_or_mutated(data, valid))
    tt = outcome(task_types.resolve, root, requested)
    if tt is not None:
        assert tt.name in task_types.TASK_TYPES and (requested is None or tt.name == requested)


MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
]
POOLING = {"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}


@FUZZ
@given(st.booleans(), st.data())
def test_sentence_transformers_layouts(work, edit_modules, data):
    from edgebert.sentence_models import POOLING_KEYS, read_layout

    root = work / "st"
    (root / "1_Pooling").mkdir(parents=True, exist_ok=True)
    modules, pooling = json.dumps(MODULES).encode(), json.dumps(POOLING).encode()
    if edit_modules:
        modules = (
            any_bytes_or_mutated(data, modules)
            if data.draw(st.booleans())
            else json.dumps(mutate(data, {"m": MODULES}).get("m")).encode()
        )
    else:
        pooling = (
            any_bytes_or_mutated(data, pooling)
            if data.draw(st.booleans())
            else json.dumps(mutate(data, POOLING)).encode()
        )
    (root / "modules.json").write_bytes(modules)
    (root / "1_Pooling" / "config.json").write_bytes(pooling)
    layout = outcome(read_layout, root)
    if layout is not None:
        assert layout.pooling in POOLING_KEYS.values() and isinstance(layout.normalize, bool)
        assert root.resolve() in (layout.transformer_dir, *layout.transformer_dir.parents)


@FUZZ
@given(st.sampled_from(["lee.json", "lee.jsonl", "neighbours"]), st.data())
def test_embedding_bundle_evaluation(work, what, data):
    from edgebert.bench.scoring import SentenceEmbeddingScorer

    root = work / "ebundle"
    root.mkdir(exist_ok=True)
    texts = [{"text": f"text {i}", "label": "a" if i % 2 else "b"} for i in range(4)]
    (root / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in texts))
    (root / "probe.jsonl").write_text("".join(json.dumps(r) + "\n" for r in texts))
    lee_docs = b'{"text": "one"}\n{"text": "two"}\n'
    lee = json.dumps({"ratings": [[1, 0.5], [0.5, 1]]}).encode()
    neighbours = [[1], [0], [3], [2]]
    if what == "lee.json":
        lee = any_bytes_or_mutated(data, lee)
    elif what == "lee.jsonl":
        lee_docs = any_bytes_or_mutated(data, lee_docs)
    else:
        neighbours = mutate(data, {"n": neighbours}).get("n")
    (root / "lee.jsonl").write_bytes(lee_docs)
    (root / "lee.json").write_bytes(lee)
    files = {name: "0" * 64 for name in ("eval.jsonl", "probe.jsonl", "lee.jsonl", "lee.json")}
    manifest = {
        "files": files,
        "reference": {
            "file": "eval.jsonl",
            "probe_train_file": "probe.jsonl",
            "lee_file": "lee.jsonl",
            "lee_ratings_file": "lee.json",
            "neighbours": neighbours,
        },
    }
    ev = outcome(SentenceEmbeddingScorer().load, root, manifest, None, "text", "label")
    if ev is not None:
        assert ev.lee_ratings.shape == (len(ev.lee_documents),) * 2 and np.isfinite(ev.lee_ratings).all()
        assert ev.reference_neighbours is None or len(ev.reference_neighbours) == len(ev.texts)
