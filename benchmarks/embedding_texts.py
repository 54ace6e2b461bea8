"""Unlabelled texts to distil a sentence-embedding model on (benchmarks/compress_embeddings.sh): Rotten Tomatoes'
train-split snippets plus CoNLL-2003's train documents (Reuters news, 1996) cut into runs of whole sentences of
about WORDS words.

Why the news: an earlier run distilled on the snippets alone (~27 tokens each) came within cosine 0.90 of the
teacher on Rotten Tomatoes' dev texts but only 0.79 on Lee's news documents (100-250 tokens), lengths and a genre
it had never been trained on. No Lee text is used (Lee is the evaluation), nor any Rotten Tomatoes dev or test text
(the probe and neighbour agreement are measured on the test split).

    python benchmarks/embedding_texts.py OUT.jsonl [WORDS]     # one {"text": ...} per line; WORDS defaults to 80
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edgebert import data, ner_data


def conll_documents(path: Path) -> list[list[str]]:
    """Each -DOCSTART- document as its sentences (the words of column 1 joined by spaces)."""
    docs: list[list[str]] = []
    doc: list[str] = []
    words: list[str] = []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("-DOCSTART-") or not line.strip():
            if words:
                doc.append(" ".join(words))
                words = []
            if line.startswith("-DOCSTART-") and doc:
                docs.append(doc)
                doc = []
            continue
        words.append(line.split()[0])
    if doc:
        docs.append(doc)
    return docs


def chunks(doc: list[str], words: int) -> list[str]:
    """Consecutive sentences joined until a chunk has `words` words; a short tail (< words/3) is dropped."""
    out, cur, n = [], [], 0
    for sentence in doc:
        cur.append(sentence)
        n += len(sentence.split())
        if n >= words:
            out.append(" ".join(cur))
            cur, n = [], 0
    if cur and n >= words // 3:
        out.append(" ".join(cur))
    return out


def main(out: Path, words: int = 80) -> None:
    snippets = data.split(data.load_default_dataset())["train"].texts
    news = [c for d in conll_documents(ner_data.conll_dir() / "train.txt") for c in chunks(d, words)]
    with open(out, "w", encoding="utf-8") as f:
        for text in [*snippets, *news]:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    print(
        f"{out}: {len(snippets)} Rotten Tomatoes train snippets + {len(news)} CoNLL-2003 news chunks", file=sys.stderr
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 80)
