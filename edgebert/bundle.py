"""Run directories and bundles: written atomically, described by manifest.json, verified by sha256.

Stages share nothing but files. A model directory written by `compress` and a bundle written by `export` both
carry a manifest; `bench` verifies every file's sha256 before it times anything.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from edgebert._version import __version__
from edgebert.errors import BundleError, IntegrityError, UserError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file below `root` except the manifest, keyed by POSIX relative path."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def check_output_dir(out: Path, force: bool) -> None:
    """Refuse to write over a directory that holds files, unless forced."""
    if out.exists() and not out.is_dir():
        raise UserError(f"output path {out} is a file; choose a directory path with --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(f"output directory {out} already holds files; choose another --out or pass --force")
    if not out.parent.exists():
        raise UserError(f"the parent directory of {out} does not exist; create it first")


@contextlib.contextmanager
def staging_dir(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty temp dir next to `out`; on success move it into place, on any failure (Ctrl-C too) delete it.

    The rename is atomic on one filesystem, so a reader never sees a half-written bundle.
    """
    out = Path(out).absolute()
    check_output_dir(out, force)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Fill in schema/version/time and the sha256 of every file, then write manifest.json."""
    full = {
        "schema_version": SCHEMA_VERSION,
        "edgebert_version": __version__,
        "created_at": now_iso(),
        **manifest,
        "files": file_hashes(root),
    }
    (root / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=False) + "\n")
    return full


def read_manifest(root: Path | str) -> dict[str, Any]:
    root = Path(root)
    if not root.exists():
        raise BundleError(f"{root} does not exist; pass a bundle directory written by `edgebert export`")
    if not root.is_dir():
        raise BundleError(f"{root} is not a directory; pass a bundle directory written by `edgebert export`")
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"{root} is not an edgebert directory (no {MANIFEST}); pass a directory written by edgebert")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON ({exc}); re-export the bundle") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{path} is not a JSON object; re-export the bundle")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(
            f"{path} has schema_version {version!r}; this edgebert ({__version__}) reads version {SCHEMA_VERSION}: "
            "re-export the bundle or install a matching edgebert"
        )
    return manifest


def verify_files(root: Path | str, manifest: dict[str, Any]) -> None:
    """Raise IntegrityError naming every file that is missing or whose sha256 differs from the manifest."""
    root = Path(root)
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{root / MANIFEST} lists no files; re-export the bundle")
    bad = []
    for rel, expected in files.items():
        p = root / rel
        if not p.is_file():
            bad.append(f"{rel} (missing)")
        elif sha256_file(p) != expected:
            bad.append(f"{rel} (sha256 mismatch)")
    if bad:
        raise IntegrityError(f"bundle {root} failed verification: {', '.join(bad)}; the files were changed or truncated, re-export or re-copy it")


def bundle_digest(manifest: dict[str, Any]) -> str:
    """One sha256 naming the bundle: the hash of its sorted file hashes (what results documents cite)."""
    files = manifest.get("files", {})
    text = "\n".join(f"{k} {files[k]}" for k in sorted(files))
    return hashlib.sha256(text.encode()).hexdigest()
