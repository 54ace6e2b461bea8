"""The sentence-embedding and NER sections of peers.md, from the `tasks` part of peers.json (embedding.measure and
ner.measure). Nothing here is measured: every figure comes from the run's own document."""

from __future__ import annotations

from typing import Any

TITLES = {"b1-s128": "batch 1 · seq 128", "real-b1": "real lengths · batch 1"}


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


def _x(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}×"


def _latency_tables(sec: dict[str, Any], quality_head: list[str], quality_cells) -> list[str]:
    rows, wls = sec["variants"], list(sec["plan"])
    by = {r["name"]: r["label"] for r in rows}
    lines = [
        "| variant | precision | size MB | "
        + " | ".join(f"{TITLES.get(w, w)} p50 / p90 ms" for w in wls)
        + " | "
        + " | ".join(quality_head)
        + " |",
        "|---|---|--:|" + "--:|" * (len(wls) + len(quality_head)),
    ]
    for r in rows:
        lat = " | ".join(f"{r['latency'][w]['p50_ms']:.2f} / {r['latency'][w]['p90_ms']:.2f}" for w in wls)
        lines.append(
            f"| {r['label']} | {r['precision']} | {_mb(r['size_bytes'])} | {lat} | {' | '.join(quality_cells(r))} |"
        )
    lines += [
        "",
        "| variant | "
        + " | ".join(f"× source, {TITLES.get(w, w)}" for w in wls)
        + " | "
        + " | ".join(f"× best peer, {TITLES.get(w, w)}" for w in wls)
        + " |",
        "|---|" + "--:|" * (2 * len(wls)),
    ]
    for r in rows:
        lines.append(
            f"| {r['label']} | "
            + " | ".join(_x(r["speedup_vs_source"].get(w)) for w in wls)
            + " | "
            + " | ".join(_x(r["speedup_vs_peer_best"].get(w)) for w in wls)
            + " |"
        )
    lines += [
        "",
        f"Ratios of p50s in this section's round-robin run; the source is {by[sec['source']]}; the best peer is, per "
        "workload, the fastest variant that is neither edgebert's nor the source: "
        + "; ".join(f"{TITLES.get(w, w)}: {by[n]}" for w, n in sec["peer_best"].items())
        + f". Rounds per variant: {', '.join(f'{TITLES.get(w, w)} {n}' for w, n in sec['plan'].items())}; other "
        f"processes used {sec['cpu_load_during_timing']['others']:.0%} of the CPUs while this section was timed.",
    ]
    return lines


def embedding_section(sec: dict[str, Any]) -> list[str]:
    q0 = sec["variants"][0]["quality"]

    def cells(r: dict) -> list[str]:
        q = r["quality"]
        lo, hi = q["spearman_ci95"]
        return [
            f"{q['spearman']:.4f} [{lo:.3f}, {hi:.3f}]",
            f"{q['cosine_to_source_mean']:.5f} / {q['cosine_to_source_min']:.5f}",
            f"{q['nn_top1_agreement']:.1%}",
        ]

    lines = [
        "",
        "## Sentence embeddings: all-MiniLM-L6-v2",
        "",
        f"Model: `{sec['model_dir']}` (sentence-transformers layout: mean pooling, L2 normalisation; max length "
        f"{sec['max_length']}). Every variant gets the same token ids; the real-length pass is the Rotten Tomatoes "
        f"test texts one by one ({q0['texts']} texts), and its outputs are the ones scored. Spearman: cosine "
        f"similarities against the human ratings of Lee et al. (2005), {q0['pairs']} pairs of {q0['documents']} "
        "documents, 95% bootstrap interval over documents (the documents are embedded untimed, batch 1). Cosine "
        "(mean / min) and nearest-neighbour top-1 agreement are against the source's embeddings of the test texts.",
        "",
    ]
    lines += _latency_tables(sec, ["Spearman (Lee) [95% CI]", "cosine to source mean / min", "NN top-1 agree"], cells)
    checks = [
        f"{r['label']} {r['quality']['min_cosine_to_st_encode']:.6f}"
        for r in sec["variants"]
        if "min_cosine_to_st_encode" in r["quality"]
    ]
    if checks:
        lines += [
            "",
            "sentence-transformers' ONNX files output token vectors; its Pooling and Normalize run in Python. Here they "
            "run in numpy inside the timed call, on the same file through the same onnxruntime session code as every "
            "other ONNX row; `SentenceTransformer.encode` on the same file agreed to a min cosine of "
            + ", ".join(checks)
            + ". Its `encode()` wrapper (tokenization, torch tensors) is not timed, as Optimum's ORTModel is not.",
        ]
    return lines


def ner_section(sec: dict[str, Any]) -> list[str]:
    q0 = sec["variants"][0]["quality"]

    def cells(r: dict) -> list[str]:
        q = r["quality"]
        return [
            f"{100 * q['entity_f1']:.2f}",
            f"{100 * q['token_accuracy']:.2f}",
            f"{q['tag_agreement_with_source']:.2%}",
        ]

    cut = q0["truncation"]
    lines = [
        "",
        "## Named-entity recognition: the default NER model",
        "",
        f"Model: `{sec['model_dir']}` (all-MiniLM-L6-v2 fine-tuned on CoNLL-2003 train by edgebert; max length "
        f"{sec['max_length']}). Latency: the first {sec['plan']['real-b1']} CoNLL-2003 test sentences one by one at "
        f"their real lengths. Quality: every variant tags {sec['scored_sentences']} test sentences "
        f"({q0['words']} words, {q0['entities']} entities) through edgebert's own word-level path (first sub-token per "
        "word, batches of 32) and is scored by edgebert's entity-level micro F1 (exact span and type, seqeval's default "
        f"mode); {cut['sentences']} sentences lost {cut['words_cut']} words to the max length, left out of scoring for "
        "every row alike. Tag agreement: the share of words tagged as the PyTorch source tags them.",
        "",
    ]
    lines += _latency_tables(sec, ["entity F1", "word-tag acc.", "tags = source"], cells)
    return lines


def sections(tasks: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "sentence-embedding" in tasks:
        lines += embedding_section(tasks["sentence-embedding"])
    if "token-classification" in tasks:
        lines += ner_section(tasks["token-classification"])
    notes = [
        f"- {r['label']} ({sec['task']}): {n}" for sec in tasks.values() for r in sec["variants"] for n in r["notes"]
    ]
    if notes:
        lines += ["", "### How each embedding and NER variant was built", "", *notes]
    return lines
