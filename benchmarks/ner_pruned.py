"""Does structured pruning + int8 export work on the default NER model? A check, not a recipe.

`compress` refuses token classifiers (per-token distillation is not built), so this script calls the pruning stage
directly: activation importance on CoNLL-2003 train sentences (no labels needed), half the heads and half the FFN
neurons of every layer removed, then `--fine-tune-steps` of the default NER model's own training loop on train,
then `export_bundle` at int8 on the test split (word-level parity against the pruned PyTorch model). Writes
WORK/reports/ner-pruned.json with the figures each step measured (publish: `python -m benchmarks.publish WORK`).

    python benchmarks/ner_pruned.py [--target x86] [--fine-tune-steps 100] [--work build/ner-pruned]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from edgebert import bundle, data, models, ner, ner_data
    from edgebert.compress.common import CompressContext
    from edgebert.compress.prune_structured import PruneStructuredConfig, prune_structured_
    from edgebert.export.exporter import export_bundle

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="x86")
    ap.add_argument("--fine-tune-steps", type=int, default=100)
    ap.add_argument("--dev-sentences", type=int, default=1000, help="the first N dev sentences score each step")
    ap.add_argument("--work", type=Path, default=Path("build/ner-pruned"), help="its reports/ gets the JSON")
    args = ap.parse_args()

    started = time.time()
    source = ner.default_model_dir()
    model, tok = ner.load_tagger(source)
    before = models.count_parameters(model)
    train = ner_data.load_conll2003("train")
    texts = data.LabelledTexts(train.texts, tuple("O" for _ in train.texts))  # activation importance uses no labels
    cfg = PruneStructuredConfig(heads_ratio=0.5, ffn_ratio=0.5, importance="activation", samples=512)
    details = prune_structured_(model, cfg, CompressContext(tokenizer=tok, label2id={"O": 0}, train=texts))
    dev = ner_data.load_conll2003("dev").head(args.dev_sentences)
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    f1_pruned = ner.score(dev, ner.predict(model, tok, dev), id2label)["entity_f1"]
    if args.fine_tune_steps:
        steps = args.fine_tune_steps
        ner.train_tagger(
            model, tok, train, dataclasses.replace(ner.TRAIN, steps=steps, warmup_steps=steps // 10, seed=1)
        )
    f1_tuned = ner.score(dev, ner.predict(model, tok, dev), id2label)["entity_f1"]
    with tempfile.TemporaryDirectory(prefix="edgebert-ner-pruned-") as tmp:
        pruned = Path(tmp) / "model"
        pruned.mkdir()
        models.save_model(model, tok, pruned)
        bundle.write_manifest(
            pruned, {"kind": "model", "task": ner.task_record(), "task_type": ner.TASK_TYPE, "stages": []}
        )
        out = export_bundle(args.target, pruned, Path(tmp) / "bundle", precision="int8", log=print)
        m = bundle.read_manifest(out)
    doc = {
        "command": f"python benchmarks/ner_pruned.py --target {args.target} --fine-tune-steps {args.fine_tune_steps} "
        f"--dev-sentences {args.dev_sentences}",
        "pruning": {"heads_ratio": 0.5, "ffn_ratio": 0.5, "importance": "activation", **details},
        "parameters_before": before,
        "parameters_after": models.count_parameters(model),
        "dev_sentences": len(dev),
        "dev_entity_f1_after_pruning": f1_pruned,
        "dev_entity_f1_after_fine_tune": f1_tuned,
        "test_entity_f1_pruned_source": m["reference"]["entity_f1"],
        "test_entity_f1_pruned_int8_bundle": m["reference"]["bundle_entity_f1"],
        "int8_parity": m["parity"],
        "seconds": round(time.time() - started, 1),
    }
    out = args.work / "reports" / "ner-pruned.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}; publish with: python -m benchmarks.publish {args.work}")
    print(json.dumps({k: v for k, v in doc.items() if k != "int8_parity"}, indent=2))


if __name__ == "__main__":
    main()
