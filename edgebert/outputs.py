"""Where an output may go and how it is written: --out and --force checks, atomic files and directories, one writer
at a time, and SIGTERM/SIGHUP unwinding like Ctrl-C so no half-written output or lock is left behind.

`staging_dir` builds in a temp dir next to the output, claims the output with an O_EXCL lock file (a second process
writing the same --out is refused), fixes the temp dir's mode to the user's umask and renames it into place.
`--force` replaces only what edgebert wrote (a directory whose manifest says bundle / model / run) or an empty one,
and never the working directory, one of its parents, or an input of the same command. `edgebert.bundle` re-exports
every public name here, where callers have always found them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator

from edgebert.errors import UserError

MANIFEST = "manifest.json"
KINDS = ("bundle", "model", "run")  # what a manifest's `kind` says edgebert wrote: what --force may replace
PathLike = str | os.PathLike


# -- modes: outputs honour the user's umask (mkdtemp/mkstemp make them private) -----------------------------------
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def dir_mode() -> int:
    return 0o777 & ~_umask()


def file_mode() -> int:
    return 0o666 & ~_umask()


# -- where an output may go ---------------------------------------------------------------------------------------
def _check_not_protected(out: Path, inputs: Iterable[PathLike | None], what: str) -> None:
    """Never the working directory or a parent of it, never an input of the command or a directory holding one."""
    resolved = out.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise UserError(
            f"--out {out} is the working directory or one of its parents; edgebert never writes over it: "
            f"choose a new {what} such as bundles/NAME"
        )
    for item in inputs:
        if item is None:
            continue
        src = Path(item).resolve()
        if src == resolved or resolved in src.parents:
            raise UserError(f"--out {out} would replace {item}, an input of this command; choose another --out")


def _check_parent(out: Path) -> None:
    """The nearest existing ancestor must be a directory (missing parents are created when writing)."""
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"cannot create {out}: {parent} is a file, not a directory; choose another --out")
            return


def edgebert_kind(path: Path) -> str | None:
    """The `kind` of an edgebert directory ('bundle', 'model', 'run'), or None for anything edgebert did not write."""
    manifest = Path(path) / MANIFEST
    if manifest.is_symlink() or not manifest.is_file():
        return None
    try:
        kind = json.loads(manifest.read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        return None
    return kind if kind in KINDS else None


def check_output_dir(out: PathLike, force: bool, inputs: Iterable[PathLike | None] = ()) -> None:
    """Refuse an output directory that holds files (unless forced and edgebert wrote it) or that is protected."""
    out = Path(out).absolute()
    _check_not_protected(out, inputs, "directory")
    if out.is_symlink():
        raise UserError(f"output path {out} is a symlink; edgebert does not write through links: choose another --out")
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} is a file; choose a directory path with --out")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UserError(f"output directory {out} already holds files; choose another --out or pass --force")
        if edgebert_kind(out) is None:
            raise UserError(
                f"--force replaces only a directory edgebert wrote (its manifest.json says bundle, model or "
                f"run) or an empty one; {out} is neither, so it was kept: choose another --out"
            )
    _check_parent(out)


def check_output_file(
    out: PathLike, inputs: Iterable[PathLike | None] = (), inside: Iterable[PathLike | None] = ()
) -> Path:
    """Refuse an output file that is a directory, an input of the command, or inside a directory it must not touch
    (the bundle being benched). Missing parent directories are fine: they are created when writing."""
    out = Path(out)
    if out.is_dir():
        raise UserError(f"output path {out} is a directory; pass a file path with --out")
    resolved = out.resolve()
    for item in inputs:
        if item is not None and Path(item).resolve() == resolved:
            raise UserError(f"--out {out} is an input of this command and would be overwritten; choose another --out")
    for item in inside:
        if item is not None and Path(item).resolve() in resolved.parents:
            raise UserError(
                f"--out {out} is inside the bundle {item}, which holds only what export wrote; "
                "write it elsewhere, e.g. results/NAME.json"
            )
    _check_parent(out.absolute())
    return out


def write_text_atomic(
    out: PathLike, text: str, inputs: Iterable[PathLike | None] = (), inside: Iterable[PathLike | None] = ()
) -> Path:
    """Write `text` through a temp file and a rename (a reader never sees half a file); parents are created and the
    file gets the mode the user's umask gives (mkstemp's 0600 is fixed before the rename)."""
    out = check_output_file(out, inputs, inside)
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.partial-", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, file_mode())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def prepare_run_dir(out: PathLike, inputs: Iterable[PathLike | None] = ()) -> Path:
    """A run directory (`edgebert run --out`): created with its parents, or an existing one re-used to resume.
    Never the working directory, a parent of it or an input; never a directory of someone else's files."""
    out = Path(out).absolute()
    _check_not_protected(out, inputs, "run directory")
    if out.exists() and not out.is_dir():
        raise UserError(f"run directory {out} is a file; choose another --out")
    if (
        out.is_dir()
        and any(out.iterdir())
        and not any((out / n).exists() for n in ("dev.jsonl", "study.db", "trials", "baselines"))
        and edgebert_kind(out) != "run"
    ):
        raise UserError(
            f"{out} holds files that are not an edgebert run; choose another --out (re-running a run's --out resumes it)"
        )
    _check_parent(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


# -- claiming an output: one writer at a time -----------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def claim(out: Path) -> Iterator[None]:
    """Hold `.<name>.lock` next to `out` while writing it. The lock is created whole (pid written, then hard-linked
    into place, which fails if it exists), so a second writer sees either no lock or a complete one. A lock whose
    process is gone (killed with SIGKILL) is stale and taken over."""
    lock = out.parent / f".{out.name}.lock"
    mine = out.parent / f".{out.name}.lock-{os.getpid()}-{threading.get_ident()}"
    mine.write_text(f"{os.getpid()}\n")
    try:
        for attempt in range(2):
            try:
                os.link(mine, lock)
                break
            except FileExistsError:
                try:
                    pid = int(lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if attempt == 0 and pid and not _alive(pid):
                    lock.unlink(missing_ok=True)  # stale: its writer was killed without cleaning up
                    continue
                raise UserError(
                    f"another edgebert process{f' (pid {pid})' if pid else ''} is writing {out}; "
                    "wait for it to finish or choose another --out"
                ) from None
    finally:
        mine.unlink(missing_ok=True)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


@contextlib.contextmanager
def staging_dir(out: PathLike, force: bool = False, inputs: Iterable[PathLike | None] = ()) -> Iterator[Path]:
    """Yield an empty temp dir next to `out`; on success move it into place, on any failure (Ctrl-C, SIGTERM, SIGHUP
    too) delete it. The rename is atomic on one filesystem, so a reader never sees a half-written bundle."""
    out = Path(out).absolute()
    inputs = list(inputs)
    check_output_dir(out, force, inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    with claim(out):
        check_output_dir(out, force, inputs)  # again under the claim: another writer may have finished meanwhile
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        try:
            yield tmp
            os.chmod(tmp, dir_mode())  # mkdtemp makes it 0700; a bundle is meant to be copied and shared
            if out.exists():
                check_output_dir(out, force, inputs)
            try:
                if out.exists():
                    old = out.with_name(f".{out.name}.old-{os.getpid()}")
                    out.rename(old)
                    tmp.rename(out)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    tmp.rename(out)
            except OSError as exc:  # e.g. another program created files there meanwhile
                raise UserError(
                    f"cannot move the finished output into {out}: {exc.strerror or exc}; choose another --out"
                ) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


# -- signals: SIGTERM and SIGHUP unwind like Ctrl-C, so every staging dir and lock is removed ------------------------
class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM/SIGHUP. A KeyboardInterrupt, so every Ctrl-C cleanup path runs."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


@contextlib.contextmanager
def terminate_on_signals(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)

    before = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, h in before.items():
            signal.signal(s, h)
