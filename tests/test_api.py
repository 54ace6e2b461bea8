"""The public API: each verb stays callable after every subpackage is imported (the import system sets a
subpackage as an attribute of its parent), reads like the CLI, and has a real signature; `edgebert.load` predicts."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import edgebert
from edgebert.errors import UserError

VERBS = ["export", "bench", "compress", "run", "report", "compare", "load"]


@pytest.fixture(scope="module")
def every_subpackage_imported():
    """Import every module below edgebert, as a program that uses the internals would."""
    for info in pkgutil.walk_packages(edgebert.__path__, "edgebert."):
        if not info.name.endswith("__main__"):  # running it would start the CLI
            importlib.import_module(info.name)
    return True


@pytest.mark.parametrize("name", VERBS)
def test_verbs_are_callable_with_real_signatures_after_every_import(every_subpackage_imported, name):
    verb = getattr(edgebert, name)
    assert callable(verb) and not inspect.ismodule(verb)
    params = inspect.signature(verb).parameters
    assert "args" not in params and "kwargs" not in params
    assert all(p.annotation is not inspect.Parameter.empty for p in params.values())
    assert verb.__doc__ and len(verb.__doc__) > 80
    assert verb.__name__ == name


@pytest.mark.parametrize("name", ["export", "bench", "compress", "report"])
def test_a_verb_is_also_its_subpackage_namespace(every_subpackage_imported, name):
    """`edgebert.bench.runner`, `import edgebert.bench.runner as r` and string paths (monkeypatch) keep working."""
    sub = importlib.import_module(f"edgebert.{name}")
    verb = getattr(edgebert, name)
    public = [a for a in vars(sub) if not a.startswith("_") and inspect.ismodule(getattr(sub, a))]
    assert public, f"edgebert.{name} has no imported submodule to forward"
    for attr in public:
        assert getattr(verb, attr) is getattr(sub, attr)


def test_import_as_and_monkeypatch_paths_reach_the_module(monkeypatch):
    import edgebert.bench.runner as runner

    assert runner is sys.modules["edgebert.bench.runner"]
    monkeypatch.setattr("edgebert.bench.runner.SHUFFLE_SEED", 7)
    assert sys.modules["edgebert.bench.runner"].SHUFFLE_SEED == 7
    assert callable(edgebert.bench)


def test_the_issue_command_works_in_a_fresh_interpreter(tiny_fp32_bundle):
    """The issue's done-when line: import the subpackages first, then call edgebert.bench twice."""
    code = (
        "import edgebert, edgebert.bench.runner, edgebert.compress.recipe, sys;"
        f"a = edgebert.bench({str(tiny_fp32_bundle)!r}, batch_sizes=[1], seq_lens=[8], warmup=1, iterations=3);"
        f"b = edgebert.bench({str(tiny_fp32_bundle)!r}, batch_sizes=[1], seq_lens=[8], warmup=1, iterations=3);"
        "print(a['kind'], b['kind'], type(edgebert.bench).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["bench-results", "bench-results", "Verb"]


def test_each_verb_twice(every_subpackage_imported, tmp_path, tiny_trained_model, tiny_dataset, tiny_fp32_bundle):
    """Every verb called twice, in one process, after every subpackage was imported."""
    for i in range(2):
        bundle = edgebert.export(
            "x86-avx512-vnni",
            tiny_trained_model,
            tmp_path / f"b{i}",
            precision="fp32",
            dataset=tiny_dataset,
            max_length=32,
        )
        assert (bundle / "model.onnx").is_file()
    docs = [
        edgebert.bench(
            tmp_path / f"b{i}", batch_sizes=[1], seq_lens=[8], warmup=1, iterations=3, out=tmp_path / f"r{i}.json"
        )
        for i in range(2)
    ]
    assert all(d["kind"] == "bench-results" for d in docs)
    for i in range(2):
        text = edgebert.report(
            [tmp_path / "r0.json", tmp_path / "r1.json"], format="json", out=tmp_path / f"rep{i}.json"
        )
        assert json.loads(text) == json.loads((tmp_path / f"rep{i}.json").read_text())
        comparison = edgebert.compare(
            tmp_path / "r0.json", tmp_path / "r1.json", max_latency_regression=1e6, allow_busy=True
        )
        assert comparison.passed in (True, False) and comparison.checks
    recipe = {"name": "sparse", "prune_unstructured": {"sparsity": 0.5}}
    for i in range(2):
        out = edgebert.compress(tiny_trained_model, recipe, tmp_path / f"c{i}", dataset=tiny_dataset)
        assert json.loads((out / "manifest.json").read_text())["stages"][-1]["stage"] == "prune_unstructured"
    for _ in range(2):  # a real search takes minutes (tests/test_run.py); here: the call reaches the library
        with pytest.raises(UserError, match="unknown target"):
            edgebert.run("no-such-target", model=tiny_trained_model, dataset=tiny_dataset, out=tmp_path / "run")
    for _ in range(2):
        labels = [p.label for p in edgebert.load(tiny_fp32_bundle).predict(["great superb film", "dull awful plot"])]
        assert labels == ["pos", "neg"]


def test_report_refuses_an_extension_of_another_format(tmp_path):
    with pytest.raises(UserError, match=r"ends in \.pdf"):
        edgebert.report([tmp_path / "r.json"], out=tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()


def test_predict_gives_a_label_and_probabilities_per_text(tiny_fp32_bundle):
    predictor = edgebert.load(tiny_fp32_bundle)
    results = predictor.predict(["great superb moving film", "dull awful boring plot", "the film"])
    assert [r.text for r in results] == ["great superb moving film", "dull awful boring plot", "the film"]
    for r in results:
        assert set(r.scores) == {"neg", "pos"} and abs(sum(r.scores.values()) - 1) < 1e-6
        assert r.score == max(r.scores.values()) and r.scores[r.label] == r.score
    assert predictor.predict("great fun")[0].text == "great fun"  # one string is one text, not characters
    assert predictor.predict([]) == []
    with pytest.raises(UserError, match="strings"):
        predictor.predict([1, 2])


def test_predict_matches_the_bundles_own_validated_predictions(tiny_fp32_bundle):
    """The fp32 bundle's labels on its evaluation split are what export recorded when it passed parity."""
    manifest = json.loads((tiny_fp32_bundle / "manifest.json").read_text())
    rows = [json.loads(line) for line in (tiny_fp32_bundle / "eval.jsonl").read_text().splitlines()]
    got = [p.label for p in edgebert.load(tiny_fp32_bundle).predict([r["text"] for r in rows])]
    id2label = manifest["source"]["id2label"]
    assert got == [id2label[str(i)] for i in manifest["reference"]["predictions"]]


def test_load_verifies_the_bundle_first(tmp_path, tiny_fp32_bundle):
    import shutil

    from edgebert.errors import IntegrityError

    copy = tmp_path / "b"
    shutil.copytree(tiny_fp32_bundle, copy)
    with open(copy / "config.json", "a") as f:
        f.write(" ")
    with pytest.raises(IntegrityError, match="config.json"):
        edgebert.load(copy)


def test_py_typed_ships_with_the_package():
    assert (Path(edgebert.__file__).parent / "py.typed").is_file()
    text = (Path(edgebert.__file__).parent.parent / "pyproject.toml").read_text()
    assert '"benchmarks/recipes" = "edgebert/_recipes"' in text and 'packages = ["edgebert"]' in text
