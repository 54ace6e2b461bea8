"""Nothing a user owns is destroyed, and a bundle runs only what was verified (issue #13, SECURITY.md).

--force rules, missing parents created, the closed-world bundle, checkpoint completeness, one-line errors on bad
bundles, signals and concurrent writers, umask, target names and TorchScript trust. Tiny models only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import interruptible
from edgebert import bundle
from edgebert.cli import cli
from edgebert.errors import UserError

REPO = Path(__file__).resolve().parent.parent
FAST_BENCH = ["--batch-sizes", "1", "--seq-lens", "8", "--iterations", "2", "--warmup", "0"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, code: int, text: str) -> str:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # no traceback
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and text in lines[0], result.output
    assert "Traceback" not in result.output
    return lines[0]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def rewrite_manifest(b: Path, edit) -> None:
    m = json.loads((b / "manifest.json").read_text())
    edit(m)
    (b / "manifest.json").write_text(json.dumps(m))


def rehash(b: Path) -> None:
    """Re-list the bundle's files, as an attacker (or a careless hand) would after changing one."""
    rewrite_manifest(b, lambda m: m.update(files=bundle.file_hashes(b)))


@pytest.fixture
def project(tmp_path, tiny_trained_model, tiny_dataset, monkeypatch):
    """A user's project directory, the working directory: a model, a dataset and the user's own notes."""
    root = tmp_path / "project"
    shutil.copytree(tiny_trained_model, root / "model")
    (root / "data").mkdir()
    shutil.copyfile(tiny_dataset, root / "data" / "eval.csv")
    (root / "notes.txt").write_text("my own work")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def fp32_copy(tmp_path, tiny_fp32_bundle) -> Path:
    return Path(shutil.copytree(tiny_fp32_bundle, tmp_path / "b"))


# -- 1. --force replaces only what edgebert wrote ------------------------------------------------------------------
FORCE_CASES = [
    ("export", ".", "the working directory"),
    ("export", "..", "the working directory or one of its parents"),
    ("export", "model", "an input of this command"),
    ("export", "data", "an input of this command"),
    ("export", "mine", "--force replaces only a directory edgebert wrote"),
    ("export", "other-kind", "--force replaces only a directory edgebert wrote"),
    ("compress", ".", "the working directory"),
    ("compress", "model", "an input of this command"),
    ("compress", "data", "an input of this command"),
]


@pytest.mark.parametrize("verb,out,message", FORCE_CASES, ids=[f"{v} --out {o}" for v, o, _ in FORCE_CASES])
def test_force_never_replaces_what_edgebert_did_not_write(project, verb, out, message):
    (project / "mine").mkdir()
    (project / "mine" / "thesis.tex").write_text("years of work")
    (project / "other-kind").mkdir()
    (project / "other-kind" / "manifest.json").write_text('{"kind": "notes"}')
    before = tree(project.parent)
    args = ["--target", "x86"] if verb == "export" else ["--prune-heads-ratio", "0.5"]
    result = invoke(verb, *args, "--model", "model", "--dataset", "data/eval.csv", "--out", out, "--force")
    one_line_error(result, 2, message)
    assert tree(project.parent) == before  # nothing deleted, nothing added


def test_force_refuses_the_working_directory_even_when_it_is_a_bundle(
    fp32_copy, tiny_trained_model, tiny_dataset, monkeypatch
):
    monkeypatch.chdir(fp32_copy)
    before = tree(fp32_copy)
    one_line_error(
        invoke(
            "export",
            "--target",
            "x86",
            "--model",
            tiny_trained_model,
            "--dataset",
            tiny_dataset,
            "--out",
            ".",
            "--force",
        ),
        2,
        "the working directory",
    )
    assert tree(fp32_copy) == before


def test_force_replaces_an_empty_directory(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    with bundle.staging_dir(out, force=True) as tmp:
        bundle.write_manifest(tmp, {"kind": "bundle"})
    assert bundle.edgebert_kind(out) == "bundle"


def test_bench_out_never_writes_into_the_bundle(fp32_copy):
    before = tree(fp32_copy)
    for out in (fp32_copy / "manifest.json", fp32_copy / "results.json"):
        one_line_error(invoke("bench", fp32_copy, *FAST_BENCH, "--out", out), 2, "is inside the bundle")
    assert tree(fp32_copy) == before


def test_report_and_compare_out_never_overwrite_an_input(tmp_path, tiny_fp32_bundle):
    results = tmp_path / "r.json"
    assert invoke("bench", tiny_fp32_bundle, *FAST_BENCH, "--out", results).exit_code == 0
    text = results.read_text()
    one_line_error(invoke("report", results, "--out", results), 2, "is an input of this command")
    one_line_error(invoke("compare", results, results, "--out", results), 2, "is an input of this command")
    assert results.read_text() == text


# -- 2. every --out creates missing parents (the README's command shapes, in a fresh directory) --------------------
def test_readme_output_shapes_work_in_a_fresh_directory(tmp_path, tiny_trained_model, tiny_dataset, monkeypatch):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    monkeypatch.chdir(fresh)
    old_mask = os.umask(0o022)
    try:
        m, d = str(tiny_trained_model), str(tiny_dataset)
        steps = [
            ["compress", "--model", m, "--dataset", d, "--prune-heads-ratio", "0.5", "--out", "compressed/fast"],
            ["export", "--target", "x86", "--model", "compressed/fast", "--dataset", d, "--out", "bundles/fast"],
            ["export", "--target", "arm64", "--model", m, "--dataset", d, "--out", "bundles/pi4"],
            ["bench", "bundles/fast", "--real", *FAST_BENCH, "--out", "results/fast.json"],
            ["bench", "bundles/pi4", "--real", *FAST_BENCH, "--out", "results/pi4/int8.json"],
            [
                "report",
                "results/fast.json",
                "--baseline",
                "results/pi4/int8.json",
                "--format",
                "html",
                "--out",
                "reports/report.html",
            ],
            ["compare", "results/fast.json", "results/fast.json", "--out", "reports/compare/fast.md", "--allow-busy"],
        ]
        for args in steps:
            result = invoke(*args)
            assert result.exit_code == 0, (args, result.output)
        from edgebert.search import RunConfig, Search

        search = Search(RunConfig(target="x86", model=m, dataset=d, out="runs/x86"))
        search.prepare()  # `edgebert run --out runs/x86`'s set-up: the run directory and its dev split
        assert (fresh / "runs" / "x86" / "dev.jsonl").is_file()
        # 7. the user's umask, not mkdtemp/mkstemp's private modes
        for directory in ("compressed/fast", "bundles/fast", "bundles/pi4", "results", "runs/x86"):
            assert (fresh / directory).stat().st_mode & 0o777 == 0o755, directory
        for file in (
            "bundles/fast/model.onnx",
            "bundles/fast/manifest.json",
            "results/fast.json",
            "reports/report.html",
        ):
            assert (fresh / file).stat().st_mode & 0o777 == 0o644, file
        assert not [p for p in fresh.rglob(".*")], "temp or lock files left behind"
    finally:
        os.umask(old_mask)


@pytest.mark.parametrize(
    "mask,dir_mode,file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640), (0o077, 0o700, 0o600)]
)
def test_outputs_honour_the_umask(tmp_path, mask, dir_mode, file_mode):
    (tmp_path / "a").mkdir()
    (tmp_path / "r").mkdir()
    old = os.umask(mask)
    try:
        with bundle.staging_dir(tmp_path / "a" / "b") as tmp:
            (tmp / "model.onnx").write_bytes(b"x")
            bundle.write_manifest(tmp, {"kind": "bundle"})
        bundle.write_text_atomic(tmp_path / "r" / "results.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a" / "b").stat().st_mode & 0o777 == dir_mode
    assert (tmp_path / "a" / "b" / "model.onnx").stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "r" / "results.json").stat().st_mode & 0o777 == file_mode


@pytest.mark.parametrize(
    "out,message",
    [
        (".", "the working directory"),
        ("..", "the working directory or one of its parents"),
        ("data", "an input of this command"),
        ("mine", "not an edgebert run"),
    ],
)
def test_run_out_is_never_a_protected_or_foreign_directory(project, out, message):
    from edgebert.search import RunConfig, Search

    (project / "mine").mkdir()
    (project / "mine" / "thesis.tex").write_text("years of work")
    before = tree(project.parent)
    with pytest.raises(UserError, match=message):
        Search(RunConfig(target="x86", model="model", dataset="data/eval.csv", out=out)).prepare()
    assert tree(project.parent) == before


def test_a_file_where_a_parent_should_be_is_one_line(tmp_path, tiny_fp32_bundle):
    (tmp_path / "results").write_text("a file, not a directory")
    one_line_error(
        invoke("bench", tiny_fp32_bundle, *FAST_BENCH, "--out", tmp_path / "results" / "x.json"),
        2,
        "is a file, not a directory",
    )


# -- 3. a bundle is a closed world ----------------------------------------------------------------------------------
def _outside_model(b: Path) -> str:
    outside = b.parent / "outside.onnx"
    shutil.copyfile(b / "model.onnx", outside)
    return str(outside)


TAMPER = {
    "model_file ../": lambda b: rewrite_manifest(
        b, lambda m: m.update(model_file=f"../{Path(_outside_model(b)).name}")
    ),
    "model_file absolute": lambda b: rewrite_manifest(b, lambda m: m.update(model_file=_outside_model(b))),
    "model_file not listed": lambda b: (
        shutil.copyfile(b / "model.onnx", b / "other.onnx"),
        rewrite_manifest(b, lambda m: m.update(model_file="other.onnx")),
    ),
    "model_file not normalised": lambda b: rewrite_manifest(b, lambda m: m.update(model_file="./model.onnx")),
    "tokenizer.file ../": lambda b: (
        shutil.copyfile(b / "tokenizer.json", b.parent / "tok.json"),
        rewrite_manifest(b, lambda m: m["tokenizer"].update(file="../tok.json")),
    ),
    "reference.file ../": lambda b: (
        shutil.copyfile(b / "eval.jsonl", b.parent / "eval.jsonl"),
        rewrite_manifest(b, lambda m: m["reference"].update(file="../eval.jsonl")),
    ),
    "files key ../": lambda b: (
        Path(b.parent / "secret").write_text("x"),
        rewrite_manifest(b, lambda m: m["files"].update({"../secret": bundle.sha256_file(b.parent / "secret")})),
    ),
    "files key absolute": lambda b: (
        Path(b.parent / "secret").write_text("x"),  # hashing it would reveal it exists
        rewrite_manifest(
            b, lambda m: m["files"].update({str(b.parent / "secret"): bundle.sha256_file(b.parent / "secret")})
        ),
    ),
    "symlink out of the bundle": lambda b: (
        shutil.move(b / "tokenizer.json", b.parent / "tok.json"),
        (b / "tokenizer.json").symlink_to(b.parent / "tok.json"),
    ),
    "symlinked manifest": lambda b: (
        shutil.move(b / "manifest.json", b.parent / "m.json"),
        (b / "manifest.json").symlink_to(b.parent / "m.json"),
    ),
}


@pytest.mark.parametrize("name", list(TAMPER))
def test_bench_refuses_a_bundle_that_reaches_outside_itself(fp32_copy, monkeypatch, name):
    from edgebert.bench import runner

    TAMPER[name](fp32_copy)
    monkeypatch.setattr(runner, "make_runner", lambda *a, **k: pytest.fail("loaded before verification"))
    one_line_error(invoke("bench", fp32_copy, *FAST_BENCH), 3, "")


def test_runtime_opens_only_listed_files(fp32_copy):
    from edgebert.errors import IntegrityError
    from edgebert.runtime import make_runner

    manifest = bundle.read_manifest(fp32_copy)
    shutil.copyfile(fp32_copy / "model.onnx", fp32_copy.parent / "x.onnx")
    for model_file in ("../x.onnx", str(fp32_copy.parent / "x.onnx")):
        with pytest.raises(IntegrityError):
            make_runner(fp32_copy, {**manifest, "model_file": model_file})


def test_the_results_digest_covers_the_manifest(fp32_copy, tmp_path):
    """Changing a runtime setting in manifest.json changes the bundle digest the results cite."""
    first = tmp_path / "first.json"
    assert invoke("bench", fp32_copy, *FAST_BENCH, "--out", first).exit_code == 0
    rewrite_manifest(fp32_copy, lambda m: m["target"]["runtime"].update(graph_optimization="disable"))
    second = tmp_path / "second.json"
    assert invoke("bench", fp32_copy, *FAST_BENCH, "--out", second).exit_code == 0
    digests = [json.loads(p.read_text())["bundle"]["sha256"] for p in (first, second)]
    assert digests[0] != digests[1]
    assert digests[1] == bundle.bundle_digest(bundle.read_manifest(fp32_copy))


def test_unlisted_files_are_reported(fp32_copy, tmp_path):
    (fp32_copy / "README.txt").write_text("dropped here by someone")
    out = tmp_path / "r.json"
    result = invoke("bench", fp32_copy, *FAST_BENCH, "--out", out)
    assert result.exit_code == 0, result.output
    warnings = json.loads(out.read_text())["environment"]["warnings"]
    assert any("README.txt" in w and "does not list" in w for w in warnings), warnings


# -- 4. a checkpoint missing weights is an error that names them -----------------------------------------------------
@pytest.mark.parametrize(
    "change,names",
    [
        (
            lambda w: {k: v for k, v in w.items() if not k.startswith("classifier.")},
            "classifier.bias, classifier.weight",
        ),
        (lambda w: {**w, "head.extra": w["classifier.bias"]}, "unexpected head.extra"),
    ],
)
def test_incomplete_checkpoint_is_refused(tmp_path, tiny_trained_model, tiny_dataset, change, names):
    from safetensors.numpy import load_file, save_file

    model = Path(shutil.copytree(tiny_trained_model, tmp_path / "m"))
    save_file(change(load_file(model / "model.safetensors")), model / "model.safetensors", metadata={"format": "pt"})
    one_line_error(
        invoke("export", "--target", "x86", "--model", model, "--dataset", tiny_dataset, "--out", tmp_path / "b"),
        2,
        names,
    )
    assert not (tmp_path / "b").exists()


# -- 5. bad bundles: one line, never a traceback ---------------------------------------------------------------------
def _newer_opset(b: Path) -> None:
    import onnx

    model = onnx.load(str(b / "model.onnx"))
    for op in model.opset_import:
        if op.domain in ("", "ai.onnx"):
            op.version = 30
    onnx.save(model, str(b / "model.onnx"))
    rehash(b)


BAD_BUNDLES = {
    "no tokenizer section": (
        lambda b: rewrite_manifest(b, lambda m: m.update(tokenizer={})),
        2,
        "field tokenizer.file is missing",
    ),
    "tokenizer null": (
        lambda b: rewrite_manifest(b, lambda m: m.update(tokenizer=None)),
        2,
        "field tokenizer must be a table",
    ),
    "corrupt tokenizer.json": (
        lambda b: ((b / "tokenizer.json").write_text('{"model": {"type": "WordPiece", "vocab": 5}}'), rehash(b)),
        2,
        "cannot read the bundle's tokenizer",
    ),
    "non-UTF-8 tokenizer.json": (
        lambda b: ((b / "tokenizer.json").write_bytes(b"\xff\xfe\x00garbage"), rehash(b)),
        2,
        "not UTF-8",
    ),
    "non-UTF-8 manifest": (lambda b: (b / "manifest.json").write_bytes(b"\xff\xfe{}"), 2, "not valid JSON"),
    "absurd thread count": (
        lambda b: rewrite_manifest(b, lambda m: m["target"]["runtime"].update(intra_op_threads=10**9)),
        2,
        "intra_op_threads must be <= 1024",
    ),
    "thread count a string": (
        lambda b: rewrite_manifest(b, lambda m: m["target"]["runtime"].update(intra_op_threads="lots")),
        2,
        "intra_op_threads must be an integer",
    ),
    "newer ONNX opset": (_newer_opset, 2, "uses ONNX opset 30, newer than this onnxruntime"),
    "files not hashes": (
        lambda b: rewrite_manifest(b, lambda m: m["files"].update({"model.onnx": 5})),
        2,
        "field files",
    ),
    "garbage model.onnx": (lambda b: ((b / "model.onnx").write_bytes(b"not a model"), rehash(b)), 2, "cannot load"),
    "non-UTF-8 eval.jsonl": (
        lambda b: ((b / "eval.jsonl").write_bytes(b'{"text": "\xff", "label": "pos"}\n'), rehash(b)),
        2,
        "is not UTF-8",
    ),
    "outputs empty": (
        lambda b: rewrite_manifest(b, lambda m: m.update(outputs=[])),
        2,
        "outputs must each name at least one",
    ),
    "inputs unknown": (lambda b: rewrite_manifest(b, lambda m: m.update(inputs=["pixel_values"])), 2, "inputs must be"),
    "runtime not a table": (
        lambda b: rewrite_manifest(b, lambda m: m["target"].update(runtime="fast")),
        2,
        "target.runtime must be",
    ),
    "graph level unknown": (
        lambda b: rewrite_manifest(b, lambda m: m["target"]["runtime"].update(graph_optimization="max")),
        2,
        "graph_optimization must be",
    ),
    "id2label missing": (
        lambda b: rewrite_manifest(b, lambda m: m["source"].pop("id2label")),
        2,
        "source.id2label is missing",
    ),
}


@pytest.mark.parametrize("name", list(BAD_BUNDLES))
def test_bad_bundles_are_one_line_errors(fp32_copy, name):
    setup, code, text = BAD_BUNDLES[name]
    setup(fp32_copy)
    one_line_error(invoke("bench", fp32_copy, *FAST_BENCH), code, text)


# -- 6. signals and concurrent writers --------------------------------------------------------------------------------
SLOW_WRITER = textwrap.dedent("""
    import sys, time
    import click
    from edgebert import bundle
    from edgebert.cli import cli

    @cli.command("slow-write")
    def slow_write():
        with bundle.staging_dir(sys.argv[1]) as tmp:
            (tmp / "half.bin").write_bytes(b"x" * 1000)
            print("staged", flush=True)
            time.sleep(60)

    cli.main(["slow-write"], prog_name="edgebert")
""")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: signal.Signals(s).name)
def test_signals_leave_nothing_half_written(tmp_path, signum):
    out = tmp_path / "out" / "b"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=interruptible,
    )
    try:
        assert proc.stdout.readline().strip() == "staged", proc.stderr.read()
        assert [p.name for p in out.parent.iterdir() if ".partial-" in p.name]  # the staging dir exists now
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == (130 if signum == signal.SIGINT else 128 + signum), err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    assert list(out.parent.iterdir()) == []  # no .partial- dir, no lock, no output


def test_two_exports_to_one_new_out_one_wins(tmp_path, tiny_trained_model, tiny_dataset):
    out = tmp_path / "bundles" / "same"
    cmd = [
        sys.executable,
        "-m",
        "edgebert.cli",
        "export",
        "--target",
        "x86",
        "--model",
        str(tiny_trained_model),
        "--dataset",
        str(tiny_dataset),
        "--max-length",
        "32",
        "--out",
        str(out),
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()) for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "another edgebert process" in loser or "already holds files" in loser, loser
    bundle.verify_files(out, bundle.read_manifest(out))
    assert sorted(p.name for p in out.parent.iterdir()) == ["same"]


def test_a_live_claim_refuses_and_a_stale_one_is_taken_over(tmp_path):
    out = tmp_path / "b"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".b.lock").write_text(f"{sleeper.pid}\n")
        with pytest.raises(UserError, match=f"another edgebert process \\(pid {sleeper.pid}\\) is writing"):
            with bundle.staging_dir(out):
                pass
    finally:
        sleeper.kill()
        sleeper.wait()
    with bundle.staging_dir(out) as tmp:  # its writer is gone: the lock is stale
        (tmp / "x").write_text("x")
    assert (out / "x").is_file() and not (tmp_path / ".b.lock").exists()


# -- 8. target names cannot steer the default --out ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../escaped", "a/b", "..", ""])
def test_target_names_are_plain(tmp_path, tiny_trained_model, tiny_dataset, monkeypatch, name):
    from edgebert.targets import targets_dir

    text = (targets_dir() / "x86-avx2.toml").read_text().replace('name = "x86-avx2"', f'name = "{name}"', 1)
    target = tmp_path / "t.toml"
    target.write_text(text)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    one_line_error(
        invoke("export", "--target", target, "--model", tiny_trained_model, "--dataset", tiny_dataset),
        2,
        "may use only letters, digits",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.toml", "work"] and list(work.iterdir()) == []


# -- 9. TorchScript is code: loaded only when trusted ---------------------------------------------------------------------
def test_torchscript_needs_trust(tmp_path, tiny_trained_model, tiny_dataset, monkeypatch):
    from edgebert.bench import runner
    from edgebert.bench.runner import bench_bundle
    from edgebert.export.exporter import export_bundle

    ts = export_bundle(
        "x86-avx512-vnni",
        tiny_trained_model,
        tmp_path / "ts",
        format="torchscript",
        dataset=tiny_dataset,
        max_length=32,
    )
    with monkeypatch.context() as m:
        m.setattr(runner, "make_runner", lambda *a, **k: pytest.fail("loaded an untrusted TorchScript bundle"))
        one_line_error(invoke("bench", ts, *FAST_BENCH), 2, "--trust-torchscript")
        with pytest.raises(UserError, match="trust_torchscript=True"):
            bench_bundle(ts, batch_sizes=[1], seq_lens=[8], iterations=2, warmup=0)
    result = invoke("bench", ts, *FAST_BENCH, "--trust-torchscript")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("which", ["target file", "model config.json", "model config a list"])
def test_non_utf8_inputs_are_one_line_errors(tmp_path, tiny_trained_model, tiny_dataset, which):
    model, target = tiny_trained_model, "x86"
    if which == "target file":
        target = tmp_path / "t.toml"
        target.write_bytes(b'name = "caf\xe9"\n')
        text = "is not UTF-8 text"
    else:
        model = Path(shutil.copytree(tiny_trained_model, tmp_path / "m"))
        (model / "config.json").write_bytes(b"\xff\xfe{}" if which == "model config.json" else b"[1, 2]")
        text = "is not valid JSON" if which == "model config.json" else "not an object"
    one_line_error(
        invoke("export", "--target", target, "--model", model, "--dataset", tiny_dataset, "--out", tmp_path / "b"),
        2,
        text,
    )
