"""Run directories and bundles: written atomically, described by manifest.json, verified by sha256.

Stages share nothing but files. A model directory written by `compress` and a bundle written by `export` both
carry a manifest; `bench` verifies the bundle before anything parses a byte of it (SECURITY.md):

* a bundle is a closed world: every path its manifest names (`files` keys, `model_file`, `tokenizer.file`,
  `reference.file`) is relative, normalised and inside the bundle, every file that is loaded is listed in `files`
  and its sha256 checked, symlinks are refused, and files nobody listed are reported;
* the manifest itself is covered by `bundle_digest`: the sha256 of its canonical JSON (file hashes included), which
  is what results documents cite, so two results with one digest timed byte-identical bundles and settings.

Writing (`staging_dir`, `write_text_atomic`, the --out/--force checks, the one-writer lock) lives in `outputs.py`;
its public names are re-exported here, where callers have always found them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import posixpath
import re
from pathlib import Path
from typing import Any

from edgebert._version import __version__
from edgebert.errors import BundleError, IntegrityError
from edgebert.outputs import (  # noqa: F401 - re-exported: bundle.staging_dir etc. is where callers find them
    KINDS,
    MANIFEST,
    Terminated,
    check_output_dir,
    check_output_file,
    claim,
    dir_mode,
    edgebert_kind,
    file_mode,
    prepare_run_dir,
    staging_dir,
    terminate_on_signals,
    write_text_atomic,
)

SCHEMA_VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


# -- hashing ---------------------------------------------------------------------------------------------------
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


# -- manifests -----------------------------------------------------------------------------------------------------
def write_manifest(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Fill in schema/version/time and the sha256 of every file, then write manifest.json."""
    full = {
        "schema_version": SCHEMA_VERSION,
        "edgebert_version": __version__,
        "created_at": now_iso(),
        **manifest,
        "files": file_hashes(root),
    }
    (root / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return full


def read_manifest(root: Path | str) -> dict[str, Any]:
    root = Path(root)
    if not root.exists():
        raise BundleError(f"{root} does not exist; pass a bundle directory written by `edgebert export`")
    if not root.is_dir():
        raise BundleError(f"{root} is not a directory; pass a bundle directory written by `edgebert export`")
    path = root / MANIFEST
    if path.is_symlink():
        raise IntegrityError(f"{path} is a symlink; a bundle holds plain files only: re-export or re-copy it (cp -rL)")
    if not path.is_file():
        raise BundleError(f"{root} is not an edgebert directory (no {MANIFEST}); pass a directory written by edgebert")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(
            f"{path} is not valid JSON ({str(exc).splitlines()[0][:120]}); re-export the bundle"
        ) from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{path} is not a JSON object; re-export the bundle")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(
            f"{path} has schema_version {version!r}; this edgebert ({__version__}) reads version {SCHEMA_VERSION}: "
            "re-export the bundle or install a matching edgebert"
        )
    return manifest


def member(root: Path | str, rel: Any, what: str = "file") -> Path:
    """`root / rel` after checking that `rel` is a relative, normalised POSIX path inside `root` and that no part
    of it is a symlink. Cheap (no hashing): the runtime resolves every path it opens through it."""
    root = Path(root)
    ok = (
        isinstance(rel, str)
        and rel not in ("", ".")
        and not rel.startswith("/")
        and "\\" not in rel
        and "\x00" not in rel
        and posixpath.normpath(rel) == rel
        and ".." not in rel.split("/")
    )
    if not ok:
        raise IntegrityError(
            f"{root / MANIFEST} names {what} {rel!r}, which is not a relative path inside the bundle; "
            "the manifest was altered: re-export the bundle"
        )
    path = root
    for part in rel.split("/"):
        path = path / part
        if path.is_symlink():
            raise IntegrityError(
                f"bundle {root}: {rel} is a symlink; a bundle holds plain files only: re-export or re-copy it (cp -rL)"
            )
    return path


def referenced_files(manifest: dict[str, Any]) -> list[tuple[str, Any]]:
    """(what, path) for every file the manifest tells a loader to open, besides `files` itself."""
    refs = [("model_file", manifest.get("model_file"))] if "model_file" in manifest else []
    for section in ("tokenizer", "reference"):
        value = manifest.get(section)
        if isinstance(value, dict) and "file" in value:
            refs.append((f"{section}.file", value["file"]))
    return refs


def listed(root: Path | str, manifest: dict[str, Any], rel: Any, what: str = "file") -> Path:
    """The path of a file a loader is about to open: inside the bundle and listed (so verified) in `files`."""
    path = member(root, rel, what)
    files = manifest.get("files")
    if not isinstance(files, dict) or rel not in files:
        raise IntegrityError(
            f"{Path(root) / MANIFEST} names {what} {rel!r} but does not list it in files, so it "
            "cannot be verified; re-export the bundle"
        )
    return path


def verify_files(root: Path | str, manifest: dict[str, Any]) -> list[str]:
    """Check the closed world; raise IntegrityError naming every file that is missing or whose sha256 differs.

    Returns warnings (files on disk that the manifest does not list: never loaded, but reported)."""
    root = Path(root)
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{root / MANIFEST} lists no files; re-export the bundle")
    for rel, expected in files.items():
        member(root, rel)
        if not isinstance(expected, str) or not _SHA256.fullmatch(expected):
            raise IntegrityError(f"{root / MANIFEST}: files[{rel!r}] is not a sha256; re-export the bundle")
    for what, rel in referenced_files(manifest):
        listed(root, manifest, rel, what)
    bad, extra = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                raise IntegrityError(
                    f"bundle {root}: {p.relative_to(root).as_posix()} is a symlink; a bundle holds "
                    "plain files only: re-export or re-copy it (cp -rL)"
                )
        for name in filenames:
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            if rel != MANIFEST and rel not in files:
                extra.append(rel)
    for rel, expected in files.items():
        p = root / rel
        if not p.is_file():
            bad.append(f"{rel} (missing)")
        elif sha256_file(p) != expected:
            bad.append(f"{rel} (sha256 mismatch)")
    if bad:
        raise IntegrityError(
            f"bundle {root} failed verification: {', '.join(bad)}; the files were changed or truncated, re-export or re-copy it"
        )
    if extra:
        shown = ", ".join(sorted(extra)[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        return [f"bundle {root} holds files its manifest does not list ({shown}); they are not verified and not used"]
    return []


def bundle_digest(manifest: dict[str, Any]) -> str:
    """One sha256 naming the bundle, cited by results documents: the hash of the manifest's canonical JSON (sorted
    keys, no whitespace). It covers every file (their sha256s are in the manifest) and every setting the manifest
    gives the runtime, so a results document names exactly what was run."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
