"""The `edgebert` command. Each verb lives in its own module: parse → config → library call.

Errors edgebert raises on purpose become one line on stderr and the error kind's exit code; Ctrl-C exits 130.
Nothing heavy is imported here: `edgebert bench` must run on a device without torch.
"""
from __future__ import annotations

import os
import sys

import click

from edgebert._version import __version__
from edgebert.errors import EdgebertError



def fail_line(message: str) -> None:
    click.echo(f"error: {message}", err=True)


class EdgebertGroup(click.Group):
    def invoke(self, ctx: click.Context):
        from edgebert.bundle import Terminated, terminate_on_signals

        try:
            with terminate_on_signals():  # SIGTERM/SIGHUP unwind like Ctrl-C: staging dirs and locks are removed
                return super().invoke(ctx)
        except EdgebertError as exc:
            fail_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            ctx.exit(exc.exit_code)
        except Terminated as exc:
            fail_line(f"stopped by {exc.name}; nothing half-written was left behind")
            ctx.exit(128 + exc.signum)
        except KeyboardInterrupt:
            fail_line("interrupted; nothing half-written was left behind")
            ctx.exit(130)


@click.group(cls=EdgebertGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgebert")
def cli() -> None:
    """Make BERT-family models smaller and faster for edge devices, and prove it with numbers."""
    # Library chatter ("some weights were not initialized") is not for the user of a CLI. Python warnings are
    # filtered where they arise (export/onnx.py, export/torchscript.py), not here for the whole process.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _register() -> None:
    from edgebert.cli import export, targets

    for module in (targets, export):
        cli.add_command(module.command)
    # Verbs added by later modules register themselves here when present.
    import importlib

    for name in ("bench", "compress", "report", "run"):
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
