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
    assert order[:3] == ["a", "b", "c"]  # warm-up, then one cycle of rounds (A B C, B C A, C A B from a drawn start)
    rounds = ["".join(order[3 + 3 * j : 6 + 3 * j]) for j in range(3)]  # one cycle: the 3 rotations, in turn
    assert sorted(rounds) == ["abc", "bca", "cab"] and rounds[1] == rounds[0][1:] + rounds[0][0]
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
