"""The training data generators on tiny slices: what each makes, and that a seed makes it again."""

import json
import random

from eval.training_data import (
    FORMS,
    keywords,
    navigation_fragment,
    plain,
    title_question,
    visitor_form,
    visitor_question,
)
from qa.extract import numbering


def test_each_visitor_form_rewrites_a_question_as_people_type_it():
    assert plain("  When did the Blockade start?  ") == "when did the blockade start"
    assert visitor_form("When did the blockade start?", "lower") == "when did the blockade start"
    assert keywords("When did the blockade start?") == "when blockade start"
    assert keywords("What is the capital of the Normans' land?") == "capital normans land"
    assert visitor_form("What is the Lachin Corridor?", "what_about") == "what about lachin corridor"
    assert visitor_form("What is the Lachin Corridor?", "topic") == "lachin corridor?"
    assert visitor_form("Who was Nikola Tesla?", "who_is") == "who is nikola tesla"
    assert visitor_form("What is the Lachin Corridor?", "original") == "What is the Lachin Corridor?"


def test_a_form_that_would_change_the_question_does_not_apply():
    # "what about" and "<topic>?" fit a short "What is X?" only; "who is" a "Who is/was X?" only.
    long = "What was the name of the player who bumped the ball away from Manning?"
    assert visitor_form(long, "what_about") is None and visitor_form(long, "topic") is None
    assert visitor_form("Who won Super Bowl 50?", "who_is") is None
    assert visitor_form("Why?", "keywords") is None  # nothing left to search with


def test_visitor_questions_are_drawn_reproducibly_from_the_forms_that_fit():
    questions = ["Who was Nikola Tesla?", "What is oxygen?", "How many people live in Warsaw?"] * 20
    first = [visitor_question(q, random.Random(3)) for q in questions]
    assert first == [visitor_question(q, random.Random(3)) for q in questions]
    drawn = [visitor_question(q, rng) for rng in [random.Random(5)] for q in questions]
    assert "who is nikola tesla" in drawn and "what about oxygen" in drawn or "oxygen?" in drawn
    assert any(q == q.lower() and not q.endswith("?") for q in drawn)
    assert set(FORMS) >= {"lower", "keywords", "what_about", "who_is", "topic"}


def test_navigation_fragments_look_like_tables_of_contents_and_are_mostly_numbers_and_names():
    names = ["Sets", "Dictionaries", "Looping Techniques", "More on Conditions", "Modules", "Errors"]
    rng = random.Random(0)
    made = [navigation_fragment(names, rng) for _ in range(30)]
    assert made == [navigation_fragment(names, r) for r in [random.Random(0)] for _ in range(30)]
    numbered = [m for m in made if m.split()[0][0].isdigit()]
    assert numbered, made
    counted, words = numbering(numbered[0])
    assert counted >= 3 and words > counted  # "5.5. Dictionaries 5.6. Looping Techniques 5.7."
    assert all(any(n in m for n in names) for m in made)


def test_a_title_is_asked_as_a_visitor_asks_about_a_topic():
    asked = {title_question("Black Death", random.Random(i)) for i in range(40)}
    assert asked <= {
        "black death",
        "what is black death",
        "black death?",
        "tell me about black death",
        "what about black death",
    }
    assert len(asked) >= 3


def tiny_squad(folder):
    """Two articles of the tuning half, two paragraphs each, a question on each paragraph."""
    folder.mkdir(parents=True)
    paragraphs = {
        "squad11dev-003-000": (
            "Rivers",
            "The Nile flows north through Egypt. It floods every summer. Farmers plant after.",
        ),
        "squad11dev-003-001": (
            "Rivers",
            "The Amazon carries more water than any river. It crosses Brazil. Its basin is vast.",
        ),
        "squad11dev-004-000": (
            "Moons",
            "Titan is the largest moon of Saturn. It has a thick atmosphere. Lakes of methane lie on it.",
        ),
        "squad11dev-004-001": ("Moons", "Io orbits Jupiter. It has hundreds of volcanoes. Sulfur colours its surface."),
    }
    asked = [
        ("When does the Nile flood?", "squad11dev-003-000", "every summer"),
        ("Which country does the Amazon cross?", "squad11dev-003-001", "Brazil"),
        ("What is the largest moon of Saturn?", "squad11dev-004-000", "Titan"),
        ("How many volcanoes does Io have?", "squad11dev-004-001", "hundreds"),
    ]
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for pid, (title, text) in paragraphs.items():
            out.write(json.dumps({"id": pid, "title": title, "text": text}) + "\n")
    with (folder / "questions.jsonl").open("w", encoding="utf-8") as out:
        for n, (question, pid, answer) in enumerate(asked):
            start = paragraphs[pid][1].index(answer)
            row = {"id": f"q{n}", "question": question, "answers": [answer], "answer_starts": [start]}
            out.write(json.dumps({**row, "doc_id": pid, "is_impossible": False}) + "\n")
    return folder


def test_squad_items_hold_answers_answers_taken_out_and_titles(tmp_path):
    from eval.train_reranker import Recipe, squad_items

    folder = tiny_squad(tmp_path / "squad11_dev")
    recipe = Recipe(squad_questions=2, no_answer_questions=2, negatives=3, navigation_share=0.0, visitor_share=0.0)
    items = squad_items(folder, recipe, random.Random(1), ["Rivers", "Moons", "Lakes", "Planets"])
    answered, removed, titles = items[:2], items[2:4], items[4:]
    assert all(i.positive and i.question.endswith("?") for i in answered)
    # taken out: the answer's sentence is in no candidate, the target is "no answer"
    asked = {"When does the Nile flood?": "every summer", "Which country does the Amazon cross?": "Brazil"}
    asked |= {"What is the largest moon of Saturn?": "Titan", "How many volcanoes does Io have?": "hundreds"}
    assert all(i.positive is None for i in removed)
    assert all(asked[i.question] not in c for i in removed for c in i.negatives)
    assert all(asked[i.question] in i.positive for i in answered)
    # each article's title, asked 4 ways, answered by its first sentence
    assert len(titles) == 8
    assert {i.positive for i in titles} == {
        "Rivers: The Nile flows north through Egypt.",
        "Moons: Titan is the largest moon of Saturn.",
    }
    again = squad_items(folder, recipe, random.Random(1), ["Rivers", "Moons", "Lakes", "Planets"])
    assert again == items
