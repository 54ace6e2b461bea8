"""Publish a benchmark's report files from its work directory into reports/: the one step that writes there.

    python -m benchmarks.publish WORK_DIR [WORK_DIR ...] [--reports reports]
    python -m benchmarks.publish RUN_DIR --run run-x86     # an `edgebert run` directory (the CLI, not a driver)

Every driver writes everything it makes (models, bundles, results, raw timing samples, logs) under its work
directory, and the files meant for reports/ under WORK_DIR/reports/, with the names they take there. Publishing
copies exactly those files, each through a temp file and a rename. It checks every work directory first and publishes
nothing when one has no reports/ or a JSON there holds raw timing samples (a `samples_ms` list): raw samples stay in
the work directory, committed reports keep the summaries and intervals computed from them. The one exception is an
edgebert bench results document (`"kind": "bench-results"`, e.g. the example report's example-results/): its samples
are part of its schema, what `edgebert compare`'s bootstrap and the HTML report's latency chart read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPORTS = Path(__file__).resolve().parents[1] / "reports"
RAW_KEYS = ("samples_ms",)  # per-call timings: the work directory keeps them, reports/ does not
RUN_FILES = {"report.md": ".md", "report.html": ".html", "summary.json": ".summary.json"}


class PublishError(Exception):
    pass


def report_dir(work: Path) -> Path:
    """Where a driver writes the files `publish` copies: WORK_DIR/reports/ (created)."""
    out = Path(work) / "reports"
    out.mkdir(parents=True, exist_ok=True)
    return out


def hint(work: Path) -> str:
    """The line a driver prints at the end: how to publish what it wrote."""
    return f"publish with: python -m benchmarks.publish {work}"


def _raw_keys(value, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [
            p for k, v in value.items() for p in ([f"{path}/{k}"] if k in RAW_KEYS else _raw_keys(v, f"{path}/{k}"))
        ]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _raw_keys(v, f"{path}[{i}]")]
    return []


def planned(work: Path, run_name: str | None = None) -> dict[Path, str]:
    """{source file: its name under reports/} for one work (or run) directory; raises PublishError on a problem."""
    work = Path(work)
    if run_name is not None:
        missing = [n for n in RUN_FILES if not (work / n).is_file()]
        if missing:
            raise PublishError(f"{work} is not a finished edgebert run directory: no {', '.join(missing)}")
        files = {work / n: run_name + suffix for n, suffix in RUN_FILES.items()}
    else:
        src = work / "reports"
        if not src.is_dir():
            raise PublishError(f"{work} has no reports/ directory: give the work directory a driver wrote")
        files = {
            p: p.relative_to(src).as_posix()
            for p in sorted(src.rglob("*"))
            if p.is_file() and not p.name.startswith(".")  # a driver's half-written temp file is not a report
        }
        if not files:
            raise PublishError(f"{src} is empty: the driver did not finish; nothing to publish")
    for path in files:
        if path.suffix == ".json":
            try:
                doc = json.loads(path.read_text())
            except ValueError as exc:
                raise PublishError(f"{path} is not valid JSON ({exc}); rerun its driver") from None
            is_results = isinstance(doc, dict) and doc.get("kind") == "bench-results"
            raw = [] if is_results else _raw_keys(doc)
            if raw:
                raise PublishError(f"{path} holds raw timing samples ({raw[0]}, …); they stay in the work directory")
    return files


def copy_atomic(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.partial-", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(src.read_bytes())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish(works: list[Path], reports: Path = REPORTS, run_name: str | None = None) -> list[Path]:
    """Check every work directory, then copy their report files into `reports`; return the paths written."""
    plan = {}
    for work in works:
        for src, name in planned(work, run_name).items():
            dst = Path(reports) / name
            if dst in plan.values():
                raise PublishError(f"two work directories both hold {name}; publish them one at a time")
            plan[src] = dst
    for src, dst in plan.items():
        copy_atomic(src, dst)
    return list(plan.values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path, nargs="+", help="work directories whose reports/ to publish")
    ap.add_argument("--reports", type=Path, default=REPORTS, help="where to publish (default: the checkout's reports/)")
    ap.add_argument("--run", metavar="NAME", default=None, help="WORK is an `edgebert run` directory: publish NAME.*")
    args = ap.parse_args(argv)
    try:
        written = publish(args.work, args.reports, args.run)
    except (PublishError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"published {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
