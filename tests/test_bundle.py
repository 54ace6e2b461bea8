import json

import pytest

from edgebert import bundle
from edgebert.errors import BundleError, IntegrityError, UserError


def test_staging_dir_renames_on_success(tmp_path):
    out = tmp_path / "b"
    with bundle.staging_dir(out) as tmp:
        (tmp / "model.onnx").write_bytes(b"x" * 10)
        bundle.write_manifest(tmp, {"kind": "bundle"})
    m = bundle.read_manifest(out)
    assert m["files"] == {"model.onnx": bundle.sha256_file(out / "model.onnx")}
    bundle.verify_files(out, m)
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_staging_dir_leaves_nothing_on_failure(tmp_path, exc):
    out = tmp_path / "b"
    with pytest.raises(type(exc)):
        with bundle.staging_dir(out) as tmp:
            (tmp / "half.onnx").write_bytes(b"x")
            raise exc
    assert list(tmp_path.iterdir()) == []


def test_refuses_non_empty_output_unless_forced(tmp_path):
    out = tmp_path / "b"
    with bundle.staging_dir(out) as tmp:
        bundle.write_manifest(tmp, {"kind": "bundle"})
    (out / "keep.txt").write_text("old")
    with pytest.raises(UserError, match="--force"):
        with bundle.staging_dir(out):
            pass
    with bundle.staging_dir(out, force=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.txt"]


def test_tampered_and_truncated_files_fail_verification(tmp_path):
    out = tmp_path / "b"
    with bundle.staging_dir(out) as tmp:
        (tmp / "a.bin").write_bytes(b"a" * 100)
        (tmp / "b.bin").write_bytes(b"b" * 100)
        bundle.write_manifest(tmp, {"kind": "bundle"})
    (out / "a.bin").write_bytes(b"a" * 50)
    (out / "b.bin").unlink()
    with pytest.raises(IntegrityError, match=r"a.bin \(sha256 mismatch\).*b.bin \(missing\)"):
        bundle.verify_files(out, bundle.read_manifest(out))


@pytest.mark.parametrize(
    "setup,message",
    [
        (lambda d: None, "no manifest.json"),
        (lambda d: (d / "manifest.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "manifest.json").write_text(json.dumps({"schema_version": 99})), "schema_version 99"),
    ],
)
def test_bad_manifests(tmp_path, setup, message):
    d = tmp_path / "x"
    d.mkdir()
    setup(d)
    with pytest.raises(BundleError, match=message):
        bundle.read_manifest(d)


def test_missing_directory(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        bundle.read_manifest(tmp_path / "nope")
