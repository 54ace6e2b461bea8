"""benchmarks/publish.py: the one step that writes into reports/ copies a work directory's reports/ and nothing with
raw timing samples."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not an installed package: import it from the checkout
    sys.path.insert(0, str(ROOT))

from benchmarks import publish  # noqa: E402


def _work(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    work = tmp_path / name
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    return work


SUMMARY = json.dumps({"variants": [{"latency": {"b1": {"p50_ms": 1.5, "ci95": [1.4, 1.6]}}}]})
RAW = json.dumps({"variants": [{"latency": {"b1": {"p50_ms": 1.5, "samples_ms": [1.4, 1.5, 1.6]}}}]})


def test_publish_copies_the_work_dirs_reports_and_nothing_else(tmp_path):
    work = _work(
        tmp_path,
        "w",
        {
            "reports/a.md": "# a\n",
            "reports/a.json": SUMMARY,
            "reports/sub/b.json": SUMMARY,
            "reports/.a.md.partial-1": "half",
            "a-samples.json": RAW,
        },
    )
    dest = tmp_path / "reports"
    assert publish.main([str(work), "--reports", str(dest)]) == 0
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "a.json",
        "a.md",
        "sub/b.json",
    ]
    assert (dest / "a.md").read_text() == "# a\n" and (dest / "sub/b.json").read_text() == SUMMARY


@pytest.mark.parametrize(
    "files, message",
    [
        (
            {"reports/peers.json": RAW, "reports/peers.md": "x"},
            "raw timing samples (/variants[0]/latency/b1/samples_ms",
        ),
        ({"reports/x.json": "{not json"}, "is not valid JSON"),
        ({"reports/.x.partial-3": "half"}, "is empty"),
        ({"x.md": "outside reports/"}, "has no reports/ directory"),
    ],
)
def test_publish_refuses_and_writes_nothing(tmp_path, capsys, files, message):
    good = _work(tmp_path, "good", {"reports/ok.md": "ok\n"})
    bad = _work(tmp_path, "bad", files)
    dest = tmp_path / "reports"
    assert publish.main([str(good), str(bad), "--reports", str(dest)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert not dest.exists()  # every work dir is checked before anything is copied


def test_bench_results_keep_their_samples_by_schema(tmp_path):
    doc = {"kind": "bench-results", "latency": [{"samples_ms": [1.0, 2.0]}]}
    work = _work(tmp_path, "w", {"reports/example-results/int8.json": json.dumps(doc)})
    written = publish.publish([work], tmp_path / "reports")
    assert json.loads(written[0].read_text()) == doc


def test_a_run_directory_publishes_under_a_name(tmp_path):
    run = _work(tmp_path, "run", {"report.md": "md", "report.html": "html", "summary.json": "{}", "study.db": "x"})
    dest = tmp_path / "reports"
    assert publish.main([str(run), "--run", "run-x86", "--reports", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["run-x86.html", "run-x86.md", "run-x86.summary.json"]
    assert publish.main([str(tmp_path / "w-missing"), "--run", "x", "--reports", str(dest)]) == 2


def test_the_committed_reports_hold_no_raw_samples():
    """What publish refuses is not in reports/ either (peers.json kept every timed call before the publish step)."""
    for path in (ROOT / "reports").rglob("*.json"):
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or doc.get("kind") != "bench-results":  # search-seeds.json is a list of runs
            assert publish._raw_keys(doc) == [], path
