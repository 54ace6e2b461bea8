"""Export a tiny trained BERT as an arm64 bundle, for a quick emulated run (arm64_emulated.sh --tiny).

The model, tokenizer and data come from the test suite's builders (tests/conftest.py), so the emulated check needs
neither the default model nor a model hub. It is trained just enough to be right about 89% of the time: an
untrained model is a coin toss whose int8 labels flip on rounding noise, and a perfect one has no texts near its
decision boundary, where a numeric difference between x86 and ARM kernels would show up as a changed label.

usage: python tiny_bundle.py OUT_DIR [--target arm64]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAIN_STEPS = 60  # 89.0% on the 200 evaluation texts; int8 agrees with fp32 on all of them (measured at export)


def load_builders():
    spec = importlib.util.spec_from_file_location("edgebert_test_builders", REPO / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="bundle directory to write (must not exist)")
    parser.add_argument("--target", default="arm64", help="an aarch64 target: arm64 (Pi 4) or pi5")
    parser.add_argument("--eval-rows", type=int, default=200, help="evaluation sentences stored in the bundle")
    args = parser.parse_args()

    from edgebert.cli import cli

    b = load_builders()
    with tempfile.TemporaryDirectory(prefix="edgebert-tiny-") as tmp:
        work = Path(tmp)
        model = b.train_tiny(b.build_model(work / "model", "bert"), b.make_rows(400, seed=0), steps=TRAIN_STEPS)
        dataset = b.write_csv(work / "eval.csv", b.make_rows(args.eval_rows, seed=1))
        # Through the CLI, as a user would export: the bundle is exactly what `edgebert export` writes.
        # cli.main exits (SystemExit unwinds the temp dir) with edgebert's own exit code and one-line errors.
        cli.main(
            [
                "export",
                "--target",
                args.target,
                "--model",
                str(model),
                "--dataset",
                str(dataset),
                "--max-length",
                "32",
                "--out",
                str(args.out),
            ],
            prog_name="edgebert",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
