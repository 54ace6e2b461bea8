import subprocess
import sys

HEAVY = ("torch", "transformers", "optimum", "onnx")


def test_import_edgebert_pulls_in_nothing_heavy():
    code = (
        "import sys, edgebert, edgebert.cli, edgebert.targets, edgebert.bundle, edgebert.data, edgebert.runtime;"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_targets_list_cli_pulls_in_nothing_heavy():
    code = (
        "import sys; from click.testing import CliRunner; from edgebert.cli import cli;"
        "r = CliRunner().invoke(cli, ['targets', 'list']); assert r.exit_code == 0, r.output;"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
