"""The default model must be the same model on every machine of a kind: fine-tuning is seeded, runs on a fixed
thread count with torch's deterministic algorithms, and the cache key names what seeds cannot fix."""

import pytest

from conftest import build_model, make_rows
from edgebert import tasks


def fine_tune(path, rows, threads_before: int):
    import torch

    from edgebert.data import LabelledTexts
    from edgebert.models import label2id, load_classifier

    torch.set_num_threads(threads_before)  # whatever the caller's thread count, training uses cfg.threads
    model, tok = load_classifier(path)
    data = LabelledTexts(tuple(r["text"] for r in rows), tuple(r["label"] for r in rows))
    tasks.train_classifier(
        model,
        tok,
        data,
        tasks.TrainConfig(steps=15, batch_size=16, learning_rate=3e-3, warmup_steps=3, max_length=32),
        label2id(model),
    )
    assert torch.get_num_threads() == threads_before and not torch.are_deterministic_algorithms_enabled()  # restored
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_fine_tuning_is_bit_reproducible(tmp_path):
    import torch

    path = build_model(tmp_path / "m", "bert")
    rows = make_rows(200, seed=5)
    threads = torch.get_num_threads()
    try:
        a, b = fine_tune(path, rows, 1), fine_tune(path, rows, 3)
    finally:
        torch.set_num_threads(threads)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_cache_key_tells_apart_what_seeds_cannot_fix(monkeypatch):
    cfg = tasks.TrainConfig()
    key = tasks._cache_key("enc", cfg)
    assert key == tasks._cache_key("enc", cfg)
    monkeypatch.setattr(tasks, "kernel_family", lambda: {"torch": "2.13.0", "cpu_kernels": "NEON"})
    assert tasks._cache_key("enc", cfg) != key
    monkeypatch.undo()
    assert tasks._cache_key("enc", tasks.TrainConfig(threads=4)) != key


@pytest.mark.parametrize("field", ["torch", "cpu_kernels"])
def test_kernel_family_is_recorded(field):
    assert tasks.kernel_family()[field]


def test_a_new_head_is_the_same_whatever_the_callers_generator(tmp_path):
    """The default task's fine-tune starts from a new head on the encoder: drawn from an unseeded generator, each
    process trained another model (three trainings of the real default model here gave three weights files and test
    accuracies of 82.43-82.75 %)."""
    import torch
    from safetensors.torch import load_file, save_file

    from edgebert.models import load_classifier

    path = build_model(tmp_path / "m", "bert")
    weights = load_file(path / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("classifier.")}, path / "model.safetensors")
    heads = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model, _ = load_classifier(path, num_labels=3)
        heads.append(model.classifier.weight.detach().clone())
        drawn = torch.rand(1)
        torch.manual_seed(seed)
        assert torch.equal(torch.rand(1), drawn)  # the caller's generator is left where it was
    assert torch.equal(heads[0], heads[1])
