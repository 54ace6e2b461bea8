"""Entity F1 of the default NER model's int8 bundle against its fp32 bundle, on CoNLL-2003 test (3,453 sentences).

Runs the README's two commands through the CLI (the int8 one is `edgebert export --target arm64 --task
token-classification` with no other argument) and writes WORK/reports/ner-int8.md + .json from the bundles' manifests
(publish them with `python -m benchmarks.publish WORK`):
each figure was measured by that export, through the runtime path bench uses (tokenizers + onnxruntime, first
sub-token per word). The source (PyTorch) figure is measured in the same export, on the same sentences.

    python benchmarks/ner_int8.py [--target arm64] [--work build/ner-int8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def export(target: str, precision: str | None, out: Path) -> dict:
    cmd = [sys.executable, "-m", "edgebert.cli", "export", "--target", target, "--task", "token-classification"]
    cmd += ["--precision", precision] if precision else []
    cmd += ["--out", str(out), "--force"]  # a rerun replaces the bundles it wrote (only edgebert's own output)
    started = time.time()
    subprocess.run(cmd, check=True)
    manifest = json.loads((out / "manifest.json").read_text())
    ref, parity = manifest["reference"], manifest["parity"]
    return {
        "command": " ".join(["edgebert", *cmd[3:-3]]),
        "precision": manifest["precision"],
        "bytes": manifest["export"]["bytes"],
        "source_entity_f1": ref["entity_f1"],
        "bundle_entity_f1": ref["bundle_entity_f1"],
        "token_agreement": parity["token_agreement"],
        "max_abs_logit_diff": parity["max_abs_logit_diff"],
        "sentences": ref["size"],
        "words": ref["words"],
        "truncation": ref["truncation"],
        "seconds": round(time.time() - started, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="arm64")
    ap.add_argument("--work", type=Path, default=Path("build/ner-int8"), help="bundles here, report files in reports/")
    args = ap.parse_args()
    work = args.work
    (work / "reports").mkdir(parents=True, exist_ok=True)
    out = work / "reports" / "ner-int8"
    rows = [export(args.target, "fp32", work / "fp32"), export(args.target, None, work / "int8")]
    fp32, int8 = rows
    drop = (fp32["bundle_entity_f1"] - int8["bundle_entity_f1"]) * 100
    doc = {"target": args.target, "rows": rows, "int8_drop_points": drop}
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = [
        "# Default NER model: int8 against fp32 (CoNLL-2003 test)",
        "",
        f"Made by `python benchmarks/ner_int8.py --target {args.target}`. Entity F1 is exact-span micro F1 (seqeval's "
        "default); words cut by the 128-token max length are not scored (counted below).",
        "",
        "| command | precision | model MB | source F1 | bundle F1 | token agreement | max abs Δlogit | words cut |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['command']}` | {r['precision']} | {r['bytes'] / 1e6:.1f} | {r['source_entity_f1']:.2%} | "
            f"{r['bundle_entity_f1']:.2%} | {r['token_agreement']:.2%} | {r['max_abs_logit_diff']:.3g} | "
            f"{r['truncation']['words_cut']} |"
        )
    lines += ["", f"int8 minus fp32, entity F1: **{-drop:+.2f} points** ({int8['sentences']} sentences, one run)."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
