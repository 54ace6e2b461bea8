import pytest

from conftest import make_rows, write_csv, write_jsonl
from edgebert.data import LabelledTexts, load_dataset, split
from edgebert.errors import DatasetError, UserError


def test_csv_and_jsonl_load_the_same(tmp_path):
    rows = make_rows(20)
    a = load_dataset(write_csv(tmp_path / "d.csv", rows))
    b = load_dataset(write_jsonl(tmp_path / "d.jsonl", rows))
    assert a.texts == b.texts and a.labels == b.labels and len(a) == 20


def test_custom_columns_and_integer_labels(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"review": "good", "y": 1}, {"review": "bad", "y": 0}])
    d = load_dataset(path, text_column="review", label_column="y")
    assert d.labels == ("1", "0")
    assert list(d.label_ids({"0": 0, "1": 1})) == [1, 0]


@pytest.mark.parametrize(
    "content,name,error,message",
    [
        ("text,other\nhello,1\n", "d.csv", DatasetError, "no column 'label'"),
        ("text,label\n", "d.csv", DatasetError, "no rows"),
        ('{"text": "a", "label": "x"}\nnot json\n', "d.jsonl", DatasetError, "line 2 is not valid JSON"),
        ("whatever", "d.parquet", DatasetError, "must end in"),
    ],
)
def test_bad_datasets(tmp_path, content, name, error, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(error, match=message):
        load_dataset(path)


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    csv_path = tmp_path / "bom.csv"
    csv_path.write_bytes("\ufefftext,label\nnice film,pos\n".encode("utf-8"))
    jsonl_path = tmp_path / "bom.jsonl"
    jsonl_path.write_bytes("\ufeff".encode("utf-8") + b'{"text": "nice film", "label": "pos"}\n')
    for path in (csv_path, jsonl_path):
        d = load_dataset(path)
        assert d.texts == ("nice film",) and d.labels == ("pos",)


def test_a_duplicated_header_column_is_named(tmp_path):
    # csv.DictReader keeps the last of two same-named columns: the wrong column would be scored, silently.
    path = tmp_path / "dup.csv"
    path.write_text("text,label,label\nnice film,pos,neg\n")
    with pytest.raises(DatasetError, match="names the column 'label' twice"):
        load_dataset(path)


def test_tsv_is_parsed_with_tabs(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("text\tlabel\na film, long and dull\tneg\ngood, really\tpos\n")
    d = load_dataset(path)
    assert d.texts == ("a film, long and dull", "good, really") and d.labels == ("neg", "pos")


@pytest.mark.parametrize(
    "content,name,message",
    [
        (b"", "d.csv", "is empty"),
        (b"", "d.tsv", "is empty"),
        (b"", "d.jsonl", "no column 'text', 'label'; its columns are none"),
        (b"text,label\n\xff\xfe bad,pos\n", "d.csv", "is not UTF-8 text"),
        (b'{"text": "caf\xe9", "label": "pos"}\n', "d.jsonl", "is not UTF-8 text"),
        (b'{"text": ["a"], "label": "pos"}\n', "d.jsonl", "line 1: 'text' must be a string, got list"),
        (
            b'{"text": "a", "label": "pos"}\n{"text": 5, "label": "pos"}\n',
            "d.jsonl",
            "line 2: 'text' must be a string, got int",
        ),
        (b'{"text": "a", "label": 1.5}\n', "d.jsonl", "'label' must be a string or an integer, got float"),
        (b'{"text": "a", "label": true}\n', "d.jsonl", "'label' must be a string or an integer, got bool"),
        (b'{"text": "\\ud800", "label": "pos"}\n', "d.jsonl", "lone surrogate"),
        (b"[" * 100_000 + b"\n", "d.jsonl", "line 1 is not valid JSON"),
        (b"BZh91AY&SY garbage", "d.csv.bz2", "cannot read dataset"),
        (b"review,y\nok,1\n", "d.csv", "no column 'text', 'label'; its columns are 'review', 'y'"),
    ],
)
def test_bad_dataset_bytes_are_one_line_errors(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(tmp_path / "none.csv")


def test_unseen_labels_are_named():
    d = LabelledTexts(("a", "b"), ("pos", "meh"))
    with pytest.raises(DatasetError, match="'meh'"):
        d.label_ids({"pos": 1, "neg": 0})


def test_split_is_seeded_disjoint_and_complete():
    d = LabelledTexts(tuple(f"t{i}" for i in range(100)), tuple("ab"[i % 2] for i in range(100)))
    s1, s2 = split(d), split(d)
    assert s1["test"].texts == s2["test"].texts
    sizes = {k: len(v) for k, v in s1.items()}
    assert sizes == {"train": 80, "dev": 10, "test": 10}
    assert len(set(s1["train"].texts) | set(s1["dev"].texts) | set(s1["test"].texts)) == 100


def test_texts_only_when_unlabelled(tmp_path):
    """A sentence-embedding model is distilled on texts alone: the label column may be missing, never the text."""
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": "news of the day"}, {"text": "  "}, {"text": "a film"}])
    d = load_dataset(path, labelled=False)
    assert d.texts == ("news of the day", "a film") and d.labels == ("", "")
    with pytest.raises(DatasetError, match="no column 'label'"):
        load_dataset(path)  # a labelled load still needs it
    with pytest.raises(DatasetError, match="no column 'body'"):
        load_dataset(path, text_column="body", labelled=False)
    labelled = write_jsonl(tmp_path / "l.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": None}])
    assert load_dataset(labelled, labelled=False).texts == ("a",)  # a label column that is there is still read
