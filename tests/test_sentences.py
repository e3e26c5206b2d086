import pytest

from index.sentences import split_sentences


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The U.S. and the U.N. met. Then they left.", ["The U.S. and the U.N. met.", "Then they left."]),
        ("Dr. Smith arrived. He spoke.", ["Dr. Smith arrived.", "He spoke."]),
        (
            "Around 1,100 people were stranded. It was 2003-2008.",
            ["Around 1,100 people were stranded.", "It was 2003-2008."],
        ),
        ("It cost 3.5 million. Nobody paid.", ["It cost 3.5 million.", "Nobody paid."]),
        (
            "Red Kurdistan ceased to exist.[1] The current crisis grew.",
            ["Red Kurdistan ceased to exist.[1]", "The current crisis grew."],
        ),
        (
            "They said “weaponizing winter.” Then gas returned.",
            ["They said “weaponizing winter.”", "Then gas returned."],
        ),
        (
            "The families – 1,100 people – are stranded. Schools closed.",
            ["The families – 1,100 people – are stranded.", "Schools closed."],
        ),
        ("I care. Deeply. And I care.", ["I care.", "Deeply.", "And I care."]),
        ("See No. 5 in the list. It is short.", ["See No. 5 in the list.", "It is short."]),
        ("He asked “how can you talk about X?”. It worked.", ["He asked “how can you talk about X?”.", "It worked."]),
        ("Talks with the U.S. The rest failed.", ["Talks with the U.S.", "The rest failed."]),
    ],
)
def test_sentence_boundaries(text, expected):
    assert sentences(text) == expected


def test_offsets_are_verbatim_inside_a_span():
    text = "Intro line.\n\nFirst one. Second one!  Third?"
    start = text.index("First")
    spans = split_sentences(text, start, len(text))
    assert [text[s:e] for s, e in spans] == ["First one.", "Second one!", "Third?"]
    assert all(s >= start for s, _ in spans)
