"""`edgebert bench` on tiny bundles: the results document, the screen output, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import make_rows, write_csv, write_jsonl
from edgebert.bench import runner as bench_runner
from edgebert.bench.runner import bench_bundle, synthetic_inputs
from edgebert.bundle import bundle_digest, read_manifest
from edgebert.cli import cli
from edgebert.errors import BundleError, DatasetError, IntegrityError, UserError
from edgebert.runtime import Encoder

FAST = dict(warmup=1, iterations=3)

# The results document's fields from CONTRIBUTING.md ("Bench results document"): report and compare rely on them.
SCHEMA = {
    "": [
        "schema_version",
        "kind",
        "edgebert_version",
        "created_at",
        "bundle",
        "environment",
        "settings",
        "size",
        "memory",
        "latency",
        "harness",
        "accuracy",
    ],
    "bundle": [
        "path",
        "sha256",
        "label",
        "target",
        "format",
        "precision",
        "model_type",
        "parameters",
        "num_layers",
        "stages",
        "task",
    ],
    "environment": [
        "machine_id",
        "hostname",
        "cpu_model",
        "arch",
        "cpu_features",
        "cores",
        "threads",
        "os",
        "python",
        "onnxruntime",
        "execution_provider",
        "edgebert_version",
        "cpu_load_before",
        "cpu_load_during",
        "emulated",
        "warnings",
    ],
    "settings": ["warmup", "iterations", "min_time_s", "batch_sizes", "seq_lens", "real", "sort_by_length", "threads"],
    "size": ["model_bytes", "model_gzip_bytes", "bundle_bytes"],
    "memory": [
        "rss_before_load_bytes",
        "rss_after_load_bytes",
        "model_load_bytes",
        "peak_rss_sampled_bytes",
        "max_rss_os_bytes",
        "arena",
        "device_bytes",
    ],
    "harness": ["overhead_ms_per_call", "overhead_fraction_of_fastest"],
    "accuracy": ["dataset", "dataset_sha256", "size", "accuracy", "macro_f1", "agreement_with_reference"],
}
LATENCY_FIELDS = [
    "mode",
    "batch_size",
    "seq_len",
    "iterations",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "std_ms",
    "min_ms",
    "max_ms",
    "cv",
    "throughput_seq_s",
    "throughput_tok_s",
    "samples_ms",
]


def assert_schema(doc):
    for section, keys in SCHEMA.items():
        part = doc[section] if section else doc
        missing = [k for k in keys if k not in part]
        assert not missing, f"{section or 'top'} lacks {missing}"
    for row in doc["latency"]:
        assert [k for k in LATENCY_FIELDS if k not in row] == []
        assert len(row["samples_ms"]) == row["iterations"]
        assert row["min_ms"] <= row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
    assert doc["schema_version"] == 1 and doc["kind"] == "bench-results"


@pytest.fixture(scope="module")
def int8_doc(tiny_int8_bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "int8.json"
    doc = bench_bundle(
        tiny_int8_bundle, batch_sizes=[1, 4], seq_lens=[8, 32], real=True, warmup=2, iterations=5, out=out
    )
    return doc, out


def test_document_has_every_field(int8_doc, tiny_int8_bundle):
    doc, out = int8_doc
    assert_schema(doc)
    assert json.loads(out.read_text()) == doc
    assert [p.name for p in out.parent.iterdir()] == ["int8.json"]  # no temp file left behind
    m = read_manifest(tiny_int8_bundle)
    assert doc["bundle"]["sha256"] == bundle_digest(m)
    assert doc["bundle"]["label"] == "x86-avx512-vnni onnx int8"
    assert [(r["mode"], r["batch_size"], r["seq_len"]) for r in doc["latency"]] == [
        ("synthetic", 1, 8),
        ("synthetic", 1, 32),
        ("synthetic", 4, 8),
        ("synthetic", 4, 32),
        ("real", 1, None),
        ("real", 4, None),
    ]
    assert all(r["iterations"] == 5 for r in doc["latency"])
    assert doc["size"]["model_bytes"] == (tiny_int8_bundle / m["model_file"]).stat().st_size
    assert 0 < doc["size"]["model_gzip_bytes"] < doc["size"]["model_bytes"] < doc["size"]["bundle_bytes"]
    mem = doc["memory"]
    assert mem["model_load_bytes"] == mem["rss_after_load_bytes"] - mem["rss_before_load_bytes"]
    assert mem["peak_rss_sampled_bytes"] >= mem["rss_after_load_bytes"]
    assert mem["arena"]["cpu_mem_arena"] is True and mem["device_bytes"] is None
    env = doc["environment"]
    assert env["execution_provider"] == "CPUExecutionProvider" and env["threads"] >= 1 and len(env["machine_id"]) == 64
    assert 0 <= env["cpu_load_before"] <= 1 and 0 <= env["cpu_load_during"] <= 1
    h = doc["harness"]
    assert h["overhead_fraction_of_fastest"] == pytest.approx(
        h["overhead_ms_per_call"] / min(r["min_ms"] for r in doc["latency"])
    )


def test_synthetic_throughput_counts_every_token(int8_doc):
    for r in int8_doc[0]["latency"]:
        if r["mode"] == "synthetic":
            assert r["throughput_tok_s"] == pytest.approx(r["throughput_seq_s"] * r["seq_len"])


def test_accuracy_matches_what_export_measured(int8_doc, tiny_int8_bundle):
    acc, ref = int8_doc[0]["accuracy"], read_manifest(tiny_int8_bundle)["reference"]
    assert acc["size"] == ref["size"]
    assert acc["accuracy"] == pytest.approx(ref["bundle_accuracy"])  # same runner, same texts
    assert acc["reference_accuracy"] == ref["accuracy"]
    assert acc["agreement_with_reference"] >= 0.97


def test_fp32_bundle_accuracy_equals_the_source_model(tiny_fp32_bundle):
    doc = bench_bundle(tiny_fp32_bundle, batch_sizes=[2], seq_lens=[16], **FAST)
    ref = read_manifest(tiny_fp32_bundle)["reference"]
    assert abs(doc["accuracy"]["accuracy"] - ref["accuracy"]) <= 0.002
    assert doc["accuracy"]["agreement_with_reference"] >= 0.995


def test_real_mode_times_true_lengths(tiny_int8_bundle):
    """Default real run = one pass over the split: mean tokens is exactly the split's mean token length."""
    m = read_manifest(tiny_int8_bundle)
    enc = Encoder(tiny_int8_bundle, m)
    texts = [json.loads(line)["text"] for line in (tiny_int8_bundle / "eval.jsonl").read_text().splitlines()]
    lengths = enc.lengths(texts)
    padded = {}
    for sort in (True, False):
        doc = bench_bundle(tiny_int8_bundle, batch_sizes=[1, 7], seq_lens=[8], real=True, sort_by_length=sort, warmup=0)
        real = [r for r in doc["latency"] if r["mode"] == "real"]
        assert [r["batch_size"] for r in real] == [1, 7]
        for r in real:
            assert r["iterations"] == -(-len(texts) // r["batch_size"])
            assert r["mean_tokens"] == pytest.approx(lengths.mean())
            assert r["mean_padded_tokens"] >= r["mean_tokens"]
        assert real[0]["mean_padded_tokens"] == pytest.approx(lengths.mean())  # batch 1 never pads
        padded[sort] = real[1]["mean_padded_tokens"]
    assert padded[True] < padded[False]  # sorting by length cuts padding


def test_synthetic_inputs_are_real_tokens_of_exact_length(tiny_int8_bundle):
    m = read_manifest(tiny_int8_bundle)
    enc = Encoder(tiny_int8_bundle, m)
    texts = ["great film", "dull plot awful pace"]
    x = synthetic_inputs(enc, texts, batch_size=3, seq_len=12)
    assert list(x) == m["inputs"]
    ids = x["input_ids"]
    assert ids.shape == (3, 12) and (x["attention_mask"] == 1).all()
    cls, sep, pad = (enc.tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
    assert (ids[:, 0] == cls).all() and (ids[:, -1] == sep).all() and not (ids == pad).any()
    body = set(
        enc.tokenizer.encode_batch(texts, add_special_tokens=False)[0].ids
        + enc.tokenizer.encode_batch(texts, add_special_tokens=False)[1].ids
    )
    assert set(ids[:, 1:-1].ravel().tolist()) <= body
    assert not (ids[0] == ids[1]).all()  # rows differ: each takes the next stretch of the token stream
    with pytest.raises(UserError):
        synthetic_inputs(enc, texts, 1, 2)


def test_min_time_mode(tiny_int8_bundle):
    doc = bench_bundle(tiny_int8_bundle, batch_sizes=[1], seq_lens=[8], warmup=0, min_time_s=0.05)
    r = doc["latency"][0]
    assert sum(r["samples_ms"]) >= 50 and doc["settings"]["min_time_s"] == 0.05


def test_user_dataset_scores_without_agreement(tiny_int8_bundle, tmp_path):
    ds = write_jsonl(tmp_path / "more.jsonl", [{"review": r["text"], "y": r["label"]} for r in make_rows(30, seed=7)])
    doc = bench_bundle(
        tiny_int8_bundle, batch_sizes=[1], seq_lens=[8], dataset=ds, text_column="review", label_column="y", **FAST
    )
    assert doc["accuracy"]["size"] == 30 and doc["accuracy"]["agreement_with_reference"] is None
    assert doc["accuracy"]["dataset"] == "more.jsonl"


def test_target_that_does_not_fit_warns(tiny_int8_bundle, tmp_path):
    b = shutil.copytree(tiny_int8_bundle, tmp_path / "b")
    m = json.loads((b / "manifest.json").read_text())
    m["target"]["requires_cpu_features"] = ["avx2", "sve2_fake"]
    m["target"]["arch"] = "aarch64" if os.uname().machine == "x86_64" else "x86_64"
    (b / "manifest.json").write_text(json.dumps(m))
    result = CliRunner().invoke(cli, ["bench", str(b), "--batch-sizes", "1", "--seq-lens", "8", "--iterations", "2"])
    assert result.exit_code == 0, result.output
    assert "warning: bundle target x86-avx512-vnni needs arch" in result.output and "sve2_fake" in result.output


def test_emulated_flag(tiny_int8_bundle, monkeypatch):
    monkeypatch.setenv("EDGEBERT_EMULATED", "1")
    doc = bench_bundle(tiny_int8_bundle, batch_sizes=[1], seq_lens=[8], **FAST)
    assert doc["environment"]["emulated"] is True
    assert any("emulation" in w for w in doc["environment"]["warnings"])


def test_cli_prints_table_and_writes_json(tiny_int8_bundle, tmp_path):
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            str(tiny_int8_bundle),
            "--batch-sizes",
            "1,2",
            "--seq-lens",
            "16",
            "--real",
            "--iterations",
            "3",
            "--warmup",
            "1",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    for text in ("p50", "p99", "tok/s", "synthetic", "real", "peak RSS", "accuracy", "harness", f"wrote {out}"):
        assert text in result.output
    doc = json.loads(out.read_text())
    assert_schema(doc)
    assert doc["settings"]["threads"] == 1 and doc["environment"]["threads"] == 1


def test_threads_above_cores_warns_but_runs(tiny_int8_bundle):
    many = os.cpu_count() + 3
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            str(tiny_int8_bundle),
            "--batch-sizes",
            "1",
            "--seq-lens",
            "8",
            "--iterations",
            "2",
            "--threads",
            str(many),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"warning: {many} threads" in result.output


def test_target_threads_above_cores_warn(tiny_int8_bundle, tmp_path):
    b = shutil.copytree(tiny_int8_bundle, tmp_path / "b")
    m = json.loads((b / "manifest.json").read_text())
    m["target"]["runtime"]["intra_op_threads"] = os.cpu_count() + 1
    (b / "manifest.json").write_text(json.dumps(m))
    doc = bench_bundle(b, batch_sizes=[1], seq_lens=[8], **FAST)
    assert any("target's setting; override with --threads" in w for w in doc["environment"]["warnings"])
    assert doc["environment"]["threads"] == os.cpu_count() + 1


@pytest.fixture(scope="module")
def tiny_ts_bundle(tmp_path_factory, tiny_trained_model, tiny_dataset) -> Path:
    from edgebert.export.exporter import export_bundle

    return export_bundle(
        "x86-avx512-vnni",
        tiny_trained_model,
        tmp_path_factory.mktemp("ts") / "ts",
        format="torchscript",
        dataset=tiny_dataset,
        max_length=32,
    )


def test_torchscript_bundle_benches_with_the_same_figures(tiny_ts_bundle):
    doc = bench_bundle(tiny_ts_bundle, batch_sizes=[1, 2], seq_lens=[8], real=True, trust_torchscript=True, **FAST)
    assert_schema(doc)
    assert doc["bundle"]["format"] == "torchscript" and doc["environment"]["execution_provider"].startswith("torch-")
    assert doc["memory"]["arena"] is None
    assert doc["accuracy"]["accuracy"] == pytest.approx(read_manifest(tiny_ts_bundle)["reference"]["bundle_accuracy"])


def _manifest_edit(key, value):
    def edit(b: Path) -> None:
        m = json.loads((b / "manifest.json").read_text())
        m[key] = value
        (b / "manifest.json").write_text(json.dumps(m))

    return edit


def _append(b: Path) -> None:
    with open(b / "model.onnx", "ab") as f:
        f.write(b"\0")


def _truncate(b: Path) -> None:
    p = b / "model.onnx"
    p.write_bytes(p.read_bytes()[:-100])


BAD_BUNDLES = [
    ("not a bundle", lambda b: (b / "manifest.json").unlink(), 2, "is not an edgebert directory"),
    ("bad json", lambda b: (b / "manifest.json").write_text("{nope"), 2, "is not valid JSON"),
    ("unknown schema", _manifest_edit("schema_version", 99), 2, "schema_version 99"),
    ("model dir", _manifest_edit("kind", "model"), 2, "not a bundle; export it first"),
    ("tampered", _append, 3, "model.onnx (sha256 mismatch)"),
    ("truncated", _truncate, 3, "model.onnx (sha256 mismatch)"),
    ("missing file", lambda b: (b / "tokenizer.json").unlink(), 3, "tokenizer.json (missing)"),
]


def one_line_error(result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and text in lines[0], result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name,corrupt,code,text", BAD_BUNDLES, ids=[c[0] for c in BAD_BUNDLES])
def test_bad_bundle_is_one_line_error_before_timing(tiny_int8_bundle, tmp_path, monkeypatch, name, corrupt, code, text):
    b = shutil.copytree(tiny_int8_bundle, tmp_path / "b")
    corrupt(b)
    monkeypatch.setattr(bench_runner.latency, "time_calls", lambda *a, **k: pytest.fail("timed a bad bundle"))
    one_line_error(CliRunner().invoke(cli, ["bench", str(b)]), code, text)


@pytest.fixture(scope="module")
def bad_datasets(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad-data")
    return {
        "no-column": write_csv(
            d / "cols.csv", [{"sentence": "great film", "label": "pos"}], columns=("sentence", "label")
        ),
        "unseen": write_csv(
            d / "labels.csv", [{"text": "great film", "label": "positive"}, {"text": "dull", "label": "neg"}]
        ),
        "missing": d / "nope.csv",
        "dir": d,
    }


BAD_ARGS = [
    (["--iterations", "0"], "iterations must be an integer >= 1"),
    (["--iterations", "-3"], "iterations must be an integer >= 1"),
    (["--warmup", "-1"], "warmup must be an integer >= 0"),
    (["--min-time", "0"], "min_time must be a number of seconds > 0"),
    (["--iterations", "5", "--min-time", "1"], "either --iterations or --min-time"),
    (["--batch-sizes", "a,b"], "--batch-sizes takes comma-separated whole numbers"),
    (["--batch-sizes", "0,8"], "--batch-sizes takes comma-separated whole numbers >= 1"),
    (["--batch-sizes", ","], "--batch-sizes takes comma-separated whole numbers >= 1"),
    (["--seq-lens", "8,999"], "sequence length 999 exceeds the bundle's max length 32"),
    (["--threads", "-1"], "thread count must be a whole number from 0"),
    (["--threads", "100000"], "thread count must be a whole number from 0"),
    (["--out", "{no-column}/r.json"], "is a file, not a directory"),
    (["--out", "{dir}"], "is a directory"),
    (["--dataset", "{no-column}"], "has no column 'text'"),
    (["--dataset", "{unseen}"], "labels the model does not know: 'positive'"),
    (["--dataset", "{missing}"], "does not exist"),
]


@pytest.mark.parametrize("args,text", BAD_ARGS, ids=[" ".join(a[0]) for a in BAD_ARGS])
def test_bad_arguments_are_one_line_errors(tiny_int8_bundle, bad_datasets, monkeypatch, args, text):
    args = [a.format(**bad_datasets) for a in args]
    monkeypatch.setattr(
        bench_runner.latency, "time_calls", lambda *a, **k: pytest.fail("timed before checking its input")
    )
    one_line_error(CliRunner().invoke(cli, ["bench", str(tiny_int8_bundle), *args]), 2, text)


def test_missing_directory_and_file_argument(tmp_path):
    one_line_error(CliRunner().invoke(cli, ["bench", str(tmp_path / "nowhere")]), 2, "does not exist")
    one_line_error(CliRunner().invoke(cli, ["bench", str(tmp_path)]), 2, "is not an edgebert directory")
    f = tmp_path / "file.onnx"
    f.write_bytes(b"x")
    one_line_error(CliRunner().invoke(cli, ["bench", str(f)]), 2, "is not a directory")


def test_library_raises_typed_errors(tiny_int8_bundle, tmp_path):
    with pytest.raises(BundleError):
        bench_bundle(tmp_path)
    with pytest.raises(UserError):
        bench_bundle(tiny_int8_bundle, batch_sizes=[])
    with pytest.raises(UserError):
        bench_bundle(tiny_int8_bundle, iterations=0)
    with pytest.raises(DatasetError):
        bench_bundle(tiny_int8_bundle, dataset=write_csv(tmp_path / "x.csv", [{"text": "a", "label": "maybe"}]))
    b = shutil.copytree(tiny_int8_bundle, tmp_path / "b")
    _append(b)
    with pytest.raises(IntegrityError):
        bench_bundle(b)


def test_torchscript_without_torch_says_what_to_install(tiny_ts_bundle, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    one_line_error(
        CliRunner().invoke(cli, ["bench", str(tiny_ts_bundle), "--iterations", "2", "--trust-torchscript"]),
        2,
        "pip install torch",
    )


def test_bench_imports_no_torch(tiny_int8_bundle):
    """A fresh process: the CLI benches an ONNX bundle importing only the base install's packages."""
    code = f"""
import sys
from click.testing import CliRunner
from edgebert.cli import cli
r = CliRunner().invoke(cli, ["bench", {str(tiny_int8_bundle)!r}, "--batch-sizes", "1", "--seq-lens", "8", "--iterations", "2", "--real"])
assert r.exit_code == 0, r.output
tops = {{m.split(".")[0] for m in list(sys.modules)}}
third = sorted(t for t in tops if not t.startswith("_") and "site-packages" in (getattr(sys.modules.get(t), "__file__", None) or ""))
print(",".join(third))
"""
    out = (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    assert {"onnxruntime", "tokenizers", "numpy"} <= set(out.split(","))  # the check sees site-packages modules
    assert set(out.split(",")) <= {"click", "numpy", "onnxruntime", "psutil", "rich", "tokenizers"}, out
    assert not {"torch", "transformers", "optimum", "onnx"} & set(out.split(","))
