"""The edgebert cache under test: every test writes to a private cache, and finished default-task models of the
user's cache are read through symlinks (conftest.private_cache), so slow tests find the real model without retraining."""

from __future__ import annotations

from conftest import link_finished_models

from edgebert import tasks


def test_tests_run_against_a_private_cache(private_cache, tmp_path_factory):
    assert tasks.cache_dir() == private_cache
    assert private_cache.is_relative_to(tmp_path_factory.getbasetemp())


def test_finished_models_are_found_through_links_and_nothing_is_written_back(tmp_path, monkeypatch):
    user = tmp_path / "user"
    done = user / "default-task" / "k-done"
    done.mkdir(parents=True)
    (done / "manifest.json").write_text('{"kind": "model"}')
    (user / "default-task" / "k-half").mkdir()  # no manifest: an unfinished entry is not offered
    before = sorted(p.relative_to(user) for p in user.rglob("*"))

    private = tmp_path / "private"
    links = link_finished_models(user, private)
    assert [link.name for link in links] == ["k-done"] and links[0].resolve() == done.resolve()

    encoder = tmp_path / "encoder"
    encoder.mkdir()
    (encoder / "model.safetensors").write_bytes(b"weights")
    monkeypatch.setenv("EDGEBERT_CACHE_DIR", str(private))
    monkeypatch.setattr(tasks, "_cache_key", lambda encoder_sha, cfg: "k-done")
    monkeypatch.setattr(tasks, "train_classifier", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    assert tasks.default_model_dir(encoder=encoder) == private / "default-task" / "k-done"
    assert sorted(p.relative_to(user) for p in user.rglob("*")) == before
