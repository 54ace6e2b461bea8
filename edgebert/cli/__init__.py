"""The `edgebert` command. Each verb lives in its own module: parse → config → library call.

Errors edgebert raises on purpose become one line on stderr and the error kind's exit code; Ctrl-C exits 130.
Nothing heavy is imported here: `edgebert bench` must run on a device without torch.
"""

from __future__ import annotations

import os
import sys

import click

from edgebert._version import __version__
from edgebert.cli.common import NORMAL, VERBOSE, examples, set_verbosity, verbosity, verbosity_options
from edgebert.errors import EdgebertError

EXIT_CODES = """\b
Exit codes:
  0    success
  1    compare found a regression; run found no trial within the accuracy budget
  2    bad input: a missing file, an unknown target, a wrong flag value, a broken target/recipe/dataset/bundle
  3    integrity: a bundle file's sha256 does not match its manifest (tampered or truncated)
  4    parity: the export differs from the PyTorch source beyond the target's tolerance (nothing was written)
  130  interrupted (Ctrl-C); nothing half-written is left behind
  129  stopped by SIGHUP; nothing half-written is left behind
  143  stopped by SIGTERM; nothing half-written is left behind"""


def fail_line(message: str) -> None:
    click.echo(f"error: {message}", err=True)


class EdgebertGroup(click.Group):
    def make_context(self, info_name, args, parent=None, **extra):
        if parent is None:
            set_verbosity(NORMAL)  # one process may run many commands (tests, notebooks): -q must not stick
        return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context):
        from edgebert.bundle import Terminated, terminate_on_signals

        try:
            with terminate_on_signals():  # SIGTERM/SIGHUP unwind like Ctrl-C: staging dirs and locks are removed
                return super().invoke(ctx)
        except EdgebertError as exc:
            fail_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            if verbosity() >= VERBOSE and exc.__cause__ is not None:
                click.echo(f"cause: {type(exc.__cause__).__name__}: {exc.__cause__}", err=True)
            ctx.exit(exc.exit_code)
        except Terminated as exc:
            fail_line(f"stopped by {exc.name}; nothing half-written was left behind")
            ctx.exit(128 + exc.signum)
        except KeyboardInterrupt:
            fail_line("interrupted; nothing half-written was left behind")
            ctx.exit(130)


@click.group(
    cls=EdgebertGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=examples(
        "edgebert targets list",
        "edgebert export --target x86 --out bundles/x86",
        "edgebert bench bundles/x86 --real --out results/x86.json",
        "edgebert predict bundles/x86 --input reviews.txt --format jsonl",
        "edgebert -q compare results/main.json results/x86.json",
    )
    + "\n\n"
    + EXIT_CODES,
)
@click.version_option(__version__, prog_name="edgebert")
@verbosity_options
def cli() -> None:
    """Make BERT-family models smaller and faster for edge devices, and prove it with numbers.

    Results go to standard output (JSON with --json); steps, progress and warnings to standard error.
    """
    # Library chatter ("some weights were not initialized") is not for the user of a CLI, unless -v. Python warnings
    # are filtered where they arise (export/onnx.py, export/torchscript.py), not here for the whole process.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if verbosity() < VERBOSE:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _register() -> None:
    from edgebert.cli import export, targets

    for module in (targets, export):
        cli.add_command(module.command)
    # Verbs added by later modules register themselves here when present.
    import importlib

    for name in ("bench", "compress", "report", "run", "predict", "recipes"):
        try:
            module = importlib.import_module(f"edgebert.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"edgebert.cli.{name}":
                raise
            continue
        for cmd in getattr(module, "commands", [module.command] if hasattr(module, "command") else []):
            cli.add_command(cmd)


_register()


def main() -> None:
    cli.main(prog_name="edgebert")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
