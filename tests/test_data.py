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
