"""`edgebert predict`: texts from a file, JSONL or stdin; table, json and jsonl output; one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from edgebert.cli import cli

TEXTS = ["great superb moving film", "dull awful boring plot"]


def invoke(*args, input=None):
    return CliRunner().invoke(cli, ["predict", *map(str, args)], input=input)


@pytest.mark.parametrize("flags", [["--format", "json"], ["--json"]])
def test_json_is_one_array_on_stdout(tiny_fp32_bundle, flags):
    result = invoke(tiny_fp32_bundle, *flags, input="\n".join(TEXTS) + "\n")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [d["text"] for d in doc] == TEXTS and [d["label"] for d in doc] == ["pos", "neg"]
    assert all(set(d) == {"text", "label", "score", "scores"} for d in doc)


def test_jsonl_input_with_a_text_column_and_jsonl_output(tiny_fp32_bundle, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"review": t, "id": i}) + "\n" for i, t in enumerate(TEXTS)))
    result = invoke(tiny_fp32_bundle, "--input", src, "--text-column", "review", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["label"] for line in result.stdout.splitlines()] == ["pos", "neg"]


def test_table_for_people(tiny_fp32_bundle, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n\n")
    result = invoke(tiny_fp32_bundle, "--input", src)
    assert result.exit_code == 0, result.output
    assert "2 texts" in result.stdout and "pos" in result.stdout and "dull awful boring plot" in result.stdout


@pytest.mark.parametrize(
    "setup,args,text",
    [
        (lambda p: None, ["--input", "missing.txt"], "does not exist"),
        (lambda p: (p / "bad.jsonl").write_text('{"text": 1}\n'), ["--input", "bad.jsonl"], "no string 'text' field"),
        (lambda p: (p / "bad.jsonl").write_text('{"text": \n'), ["--input", "bad.jsonl"], "is not JSON"),
    ],
)
def test_bad_input_is_one_line(tiny_fp32_bundle, tmp_path, monkeypatch, setup, args, text):
    monkeypatch.chdir(tmp_path)
    setup(tmp_path)
    result = invoke(tiny_fp32_bundle, *args)
    assert result.exit_code == 2
    assert result.stderr.count("error:") == 1 and text in result.stderr and "Traceback" not in result.output


def test_not_a_bundle_is_one_line(tmp_path):
    result = invoke(tmp_path, input="x\n")
    assert result.exit_code == 2 and "no manifest.json" in result.stderr


def test_predict_imports_nothing_heavy(tiny_fp32_bundle):
    code = (
        "import sys; from click.testing import CliRunner; from edgebert.cli import cli;"
        f"r = CliRunner().invoke(cli, ['predict', {str(tiny_fp32_bundle)!r}, '--json'], input='great fun\\n');"
        "assert r.exit_code == 0, r.output;"
        "print([m for m in ('torch', 'transformers', 'optimum', 'onnx') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
