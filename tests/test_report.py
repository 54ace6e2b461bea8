"""`edgebert report`: Markdown and JSON on fixed results (golden files), baselines, notes, and every bad input.

Golden files live in tests/golden/. After an intended change of the output, regenerate them with
`EDGEBERT_UPDATE_GOLDEN=1 pytest tests/test_report.py tests/test_compare.py` and review the diff.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edgebert.report import load_results, render_report
from edgebert.report.markdown import cell
from edgebert.report.results import ResultsError
from report_fixtures import check_golden, gfm_tables, make_results, run, three_runs, write_results


def test_markdown_golden_three_bundles(tmp_path):
    paths = three_runs(tmp_path)
    result = run("report", *paths)
    assert result.exit_code == 0, result.output
    check_golden("report_three.md", result.stdout)


def test_json_golden_three_bundles(tmp_path):
    paths = three_runs(tmp_path)
    result = run("report", *paths, "--format", "json")
    assert result.exit_code == 0, result.output
    check_golden("report_three.json", result.stdout)
    doc = json.loads(result.stdout)
    assert [r["name"] for r in doc["runs"]] == [
        "x86-avx512-vnni onnx fp32",
        "x86-avx512-vnni onnx int8",
        "x86-avx512-vnni onnx fp32 pruned",
    ]


def test_markdown_is_a_github_table_with_every_figure(tmp_path):
    md = render_report(three_runs(tmp_path), "md")
    summary, latency, bundles, environment = gfm_tables(md)
    assert summary[0][:4] == ["Bundle", "Target", "Format", "Precision"]
    assert {"p50", "p90", "p99", "Throughput", "Peak RSS", "Accuracy", "Agreement", "× faster", "Δ accuracy"} <= set(
        summary[0]
    )
    assert len(summary) == 4  # header + fp32, int8, pruned
    assert len(latency) == 1 + 3 * 3  # three workloads of three bundles
    assert "<details>" in md and "</details>" in md and "<summary>" in md
    assert "How measured" in md and "10 warm-up calls" in md and "1,275 timed calls per real-length workload" in md


def test_deltas_are_derived_from_the_documents(tmp_path):
    """× faster is baseline p50 / run p50 at the headline workload; Δ accuracy in points; × smaller from bytes."""
    paths = three_runs(tmp_path)
    doc = json.loads(render_report(paths, "json"))
    fp32, int8 = (load_results(p) for p in paths[:2])
    real = next(r for r in fp32.doc["latency"] if r["mode"] == "real")
    real8 = next(r for r in int8.doc["latency"] if r["mode"] == "real")
    assert doc["headline_workload"] == {"mode": "real", "batch_size": 1, "seq_len": None}
    vs = doc["runs"][1]["vs_baseline"]
    assert vs["speedup"] == pytest.approx(real["p50_ms"] / real8["p50_ms"])
    assert vs["size_ratio"] == pytest.approx(fp32.doc["size"]["model_bytes"] / int8.doc["size"]["model_bytes"])
    assert vs["accuracy_delta_points"] == pytest.approx((0.8196 - 0.8258) * 100)
    assert doc["runs"][1]["headline"]["p50_ms"] == real8["p50_ms"]


@pytest.mark.parametrize(
    "choice, expected_baseline",
    [
        ([], "x86-avx512-vnni onnx fp32"),  # default: the first file
        (["--baseline", "int8.json"], "x86-avx512-vnni onnx int8"),  # one of the inputs
        (["--no-baseline"], None),
    ],
)
def test_baseline_choice(tmp_path, choice, expected_baseline):
    paths = three_runs(tmp_path)
    args = [a if a != "int8.json" else str(tmp_path / "int8.json") for a in choice]
    result = run("report", *paths, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["baseline"] == expected_baseline
    if expected_baseline is None:
        assert all(r["vs_baseline"] is None for r in doc["runs"])
        assert "× faster" not in render_report(paths, "md", use_baseline=False)
    else:
        base = next(r for r in doc["runs"] if r["name"] == expected_baseline)
        assert base["vs_baseline"]["speedup"] == 1.0


def test_baseline_from_another_file_is_shown_first(tmp_path):
    paths = three_runs(tmp_path)
    other = write_results(tmp_path, "old.json", make_results("fp32", seed=7, label="last release fp32"))
    doc = json.loads(render_report(paths[1:], "json", baseline=other))
    assert [r["name"] for r in doc["runs"]][0] == "last release fp32"
    assert doc["baseline"] == "last release fp32"


def test_same_labels_are_told_apart(tmp_path):
    a = write_results(tmp_path, "a.json", make_results("fp32", label="minilm"))
    b = write_results(tmp_path, "b.json", make_results("pruned", label="minilm"))
    c = write_results(tmp_path, "c.json", make_results("pruned", label="minilm", seed=3))
    names = [r["name"] for r in json.loads(render_report([a, b, c], "json"))["runs"]]
    assert names == [
        "minilm (uncompressed)",
        "minilm (prune_heads + prune_ffn) [b.json]",
        "minilm (prune_heads + prune_ffn) [c.json]",
    ]


def test_emulated_run_is_flagged_and_gets_no_speedup(tmp_path):
    fp32 = write_results(tmp_path, "fp32.json", make_results("fp32"))
    emu = write_results(tmp_path, "pi.json", make_results("int8", target="arm64-pi5", emulated=True, scale=40))
    md = render_report([fp32, emu], "md")
    assert "ran under emulation" in md and "meaningless" in md
    row = next(r for r in gfm_tables(md)[0][1:] if r[0].startswith("arm64"))
    assert row[-3] == "emulated" and row[5].endswith("†")
    assert json.loads(render_report([fp32, emu], "json"))["runs"][1]["vs_baseline"]["speedup"] is None


def test_different_machines_are_noted_and_environment_warnings_shown(tmp_path):
    a = make_results("fp32")
    b = make_results("int8", target="arm64-pi5")
    b["environment"].update(machine_id="f" * 64, cpu_model="Cortex-A76", cores=4, arch="aarch64")
    b["environment"]["warnings"] = ["other processes used 40% of the CPUs around this run"]
    b["settings"]["threads"] = b["environment"]["threads"] = 4
    md = render_report([write_results(tmp_path, "a.json", a), write_results(tmp_path, "b.json", b)], "md")
    assert "2 different machines" in md and "different thread counts (2, 4)" in md
    assert "other processes used 40% of the CPUs" in md


def test_no_common_workload_leaves_latency_out_of_the_summary(tmp_path):
    a = make_results("fp32")
    b = make_results("int8")
    a["latency"] = [r for r in a["latency"] if r["mode"] == "real"]
    b["latency"] = [r for r in b["latency"] if r["mode"] != "real"]
    doc = json.loads(
        render_report([write_results(tmp_path, "a.json", a), write_results(tmp_path, "b.json", b)], "json")
    )
    assert doc["headline_workload"] is None and doc["runs"][1]["vs_baseline"]["speedup"] is None
    assert any("No workload was timed in every run" in n for n in doc["notes"])


def test_user_strings_are_escaped_in_markdown(tmp_path):
    doc = make_results("fp32", label="<script>alert(1)</script> | *bold* [x](http://e.vil)")
    md = render_report([write_results(tmp_path, "x.json", doc)], "md")
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "\\| \\*bold\\* \\[x\\](http://e.vil)" in md
    assert len(gfm_tables(md)[0][1]) == len(gfm_tables(md)[0][0])  # the pipe did not add a column


@pytest.mark.parametrize(
    "text, expected",
    [("plain", "plain"), ("a|b", "a\\|b"), ("<b>", "&lt;b&gt;"), ("x86_64", "x86\\_64"), ("two\nlines", "two lines")],
)
def test_markdown_cell_escaping(text, expected):
    assert cell(text) == expected


def test_out_file_format_from_suffix_and_written_atomically(tmp_path):
    paths = three_runs(tmp_path)
    for name, marker in (
        ("r.md", "## edgebert benchmark report"),
        ("r.html", "<!DOCTYPE html>"),
        ("r.json", '"kind": "report"'),
    ):
        result = run("report", *paths, "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
        assert result.stdout == "" and f"wrote {tmp_path / name}" in result.stderr
        assert marker in (tmp_path / name).read_text()
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]


def mutate(path: str, value):
    """A function that sets (value given) or deletes (value is DELETE) a dotted field of a results document."""

    def apply(doc):
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return apply


DELETE = object()

BAD_DOCUMENTS = [
    ("schema_version", 2, "schema_version 2; this edgebert"),
    ("schema_version", DELETE, "field schema_version is missing"),
    ("kind", "bundle", "\"bundle\" document, not 'bench-results'"),
    ("bundle.label", DELETE, "field bundle.label is missing"),
    ("environment", DELETE, "field environment is missing"),
    ("environment.cores", "2", 'field environment.cores must be an integer, got "2"'),
    ("environment.emulated", DELETE, "field environment.emulated is missing"),
    ("settings.threads", None, "field settings.threads must be an integer"),
    ("size.model_bytes", DELETE, "field size.model_bytes is missing"),
    ("latency", [], "field latency is missing or empty"),
    ("latency.0.p50_ms", DELETE, "field latency[0].p50_ms is missing"),
    ("latency.0.p50_ms", float("nan"), "field latency[0].p50_ms must be a finite number"),
    ("latency.0.samples_ms", [1.0, "x"], "field latency[0].samples_ms[1] must be a number"),
    ("latency.1.seq_len", 32, "two rows for synthetic, batch 1, seq 32"),
    ("accuracy", DELETE, "field accuracy is missing"),
    ("accuracy.dataset_sha256", DELETE, "field accuracy.dataset_sha256 is missing"),
    ("bundle.stages", "prune", "field bundle.stages must be a list"),
]


@pytest.mark.parametrize(
    "field, value, message", BAD_DOCUMENTS, ids=[f"{f}={'del' if v is DELETE else v!r}" for f, v, _ in BAD_DOCUMENTS]
)
def test_bad_results_documents_are_one_line_errors(tmp_path, field, value, message):
    doc = make_results("fp32")
    mutate(field, value)(doc)
    bad = write_results(tmp_path, "bad.json", doc)
    out = tmp_path / "report.md"
    out.write_text("previous report\n")
    result = run("report", three_runs(tmp_path)[0], bad, "--out", out)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and "Traceback" not in result.output
    assert message in result.stderr
    assert out.read_text() == "previous report\n"  # nothing half-written, nothing replaced


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not JSON (line 1 column 2"),
        ("", "is not JSON (line 1 column 1"),
        ("[1, 2]", "holds a JSON list, not a results object"),
        (b"\xff\xfe\x00garbage", "is not JSON (not UTF-8 text)"),
    ],
)
def test_results_file_that_is_not_json(tmp_path, content, message):
    path = tmp_path / "results.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run("report", path)
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("which, message", [("missing", "does not exist"), ("directory", "is not a file")])
def test_results_path_that_is_not_a_file(tmp_path, which, message):
    path = tmp_path / "nothing.json" if which == "missing" else tmp_path
    result = run("report", path)
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "out, message",
    [
        ("a-file/report.md", "is a file, not a directory"),  # a missing directory is created (tests/test_trust.py)
        (".", "is a directory"),
    ],
)
def test_output_path_that_cannot_be_written(tmp_path, out, message):
    (tmp_path / "a-file").write_text("not a directory")
    result = run("report", three_runs(tmp_path)[0], "--out", tmp_path / out)
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["bundle"].update(task="sst2"), "different tasks (rotten-tomatoes, sst2)"),
        (lambda d: d["accuracy"].update(dataset="sst2:test", dataset_sha256="0" * 64), "different datasets"),
    ],
)
def test_report_refuses_different_tasks_or_datasets(tmp_path, change, message):
    other = make_results("int8")
    change(other)
    result = run("report", three_runs(tmp_path)[0], write_results(tmp_path, "other.json", other))
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_loader_returns_workloads_in_display_order(tmp_path):
    run_ = load_results(three_runs(tmp_path)[0])
    assert [w.describe() for w in run_.workloads] == [
        "real lengths, batch 1",
        "synthetic, batch 1, seq 128",
        "synthetic, batch 1, seq 32",
    ]
    with pytest.raises(ResultsError):
        load_results(tmp_path / "nope.json")


def test_report_and_compare_import_nothing_heavy(tmp_path):
    a, b, c = (str(p) for p in three_runs(tmp_path))
    code = (
        "import sys; from click.testing import CliRunner; from edgebert.cli import cli; "
        f"r = CliRunner().invoke(cli, ['report', {a!r}, {b!r}, {c!r}, '--format', 'html']); assert r.exit_code == 0; "
        f"r = CliRunner().invoke(cli, ['compare', {a!r}, {a!r}]); assert r.exit_code == 0; "
        "heavy = [m for m in ('torch', 'transformers', 'optimum', 'onnx') if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_regenerating_command_is_shown_verbatim(tmp_path):
    paths = three_runs(tmp_path)
    command = "python benchmarks/make_example_reports.py --iterations 100 --out 'my reports'"
    md = render_report(paths, "md", command=command)
    assert f"Regenerate with `{command}`" in md
    assert f"<code>{command.replace(chr(39), '&#x27;')}</code>" in render_report(paths, "html", command=command)
    assert json.loads(render_report(paths, "json", command=command))["command"] == command
    assert "Regenerate" not in render_report(paths, "md")
