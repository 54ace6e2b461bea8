"""The README's Everyday use block runs as a script from an empty directory, and its library calls match the API.

The block is run word for word except where the real inputs take minutes: the default task model (trained once, ~5
minutes) is replaced by a tiny model `./my-bert` with `reviews.csv` (the README's own stand-ins for your model and
data), distillation gets 20 steps, and `run` one trial. Each substitution must match, so the README cannot drift.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import edgebert
from conftest import make_rows, write_csv

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
TINY_DATA = "--dataset reviews.csv --text-column review --label-column stars"


def block(heading: str, lang: str) -> str:
    section = README.split(f"## {heading}")[1]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


def tiny_script() -> str:
    lines = []
    for line in block("Everyday use", "bash").splitlines():
        command = line.split("  #")[0].rstrip()
        words = command.split()
        if words[:1] == ["edgebert"] and words[1] in ("export", "compress", "run"):
            if "--model" not in words:
                command += " --model my-bert"
            if "--dataset" not in words:
                command += f" {TINY_DATA}"
            if words[1] == "compress":
                command += " --distill-steps 20"  # the recipe's 1000 steps on real data take minutes
            if words[1] == "run":
                command = command.replace("--max-accuracy-drop 1.0", "--max-accuracy-drop 100").replace(
                    "--trials 4", "--trials 1"
                )
                command += " --min-speedup 0"  # a tiny model's pruned shapes are no faster than its plain int8
        lines.append(command)
    return "\n".join(lines)


def test_the_substitutions_match_the_readme():
    script = tiny_script()
    assert script.count("--model my-bert") >= 4 and "--trials 1" in script and "--max-accuracy-drop 100" in script
    assert "--min-speedup 0" in script
    assert "edgebert predict" in script and "edgebert compare" in script and "edgebert report" in script


@pytest.mark.slow
def test_everyday_use_block_runs_as_a_script(tmp_path):
    from conftest import build_model, train_tiny

    work = tmp_path / "clone"
    work.mkdir()
    train_tiny(build_model(work / "my-bert", "bert", layers=3), make_rows(400, seed=0), steps=150)
    # 800 rows: the 80/10/10 split leaves `run` the 64+ dev texts parity needs
    write_csv(
        work / "reviews.csv",
        [{"review": r["text"], "stars": r["label"]} for r in make_rows(800, seed=1)],
        columns=("review", "stars"),
    )
    (work / "reviews.txt").write_text("great superb moving film\ndull awful boring plot\n")
    script = 'set -euo pipefail\nedgebert() { python -m edgebert.cli "$@"; }\n' + tiny_script() + "\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    result = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for path in (
        "my-target.toml",
        "bundles/int8/model.onnx",
        "bundles/arm64-pi4-onnx-int8/config.json",
        "bundles/fp32/manifest.json",
        "bundles/mine/tokenizer.json",
        "compressed/fast/manifest.json",
        "compressed/heads/manifest.json",
        "bundles/fast/model.onnx",
        "results/int8.json",
        "results/fast.json",
        "report.html",
        "runs/x86/report.md",
    ):
        assert (work / path).is_file(), path
    predictions = [line for line in result.stdout.splitlines() if line.startswith('{"text": ')]
    assert len(predictions) == 2
    shutil.rmtree(work, ignore_errors=True)


def test_library_calls_in_the_readme_bind_to_the_real_signatures():
    """Every `edgebert.<verb>(...)` in the README's Python block names a public function and its arguments fit."""
    tree = ast.parse(block("Everyday use", "python"))
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "edgebert"
    ]
    assert {c.func.attr for c in calls} >= {"export", "bench", "compress", "run", "report", "compare", "load"}
    for call in calls:
        assert call.func.attr in edgebert.__all__
        signature = inspect.signature(getattr(edgebert, call.func.attr))
        signature.bind(*[None] * len(call.args), **{k.arg: None for k in call.keywords})
