"""`python -m qa ask` as an evaluator scripts it: text and JSON lines, questions from standard input,
one-line errors."""

import json
import os
import subprocess
import sys
from dataclasses import replace

from qa.question import NOTHING_ASKED, OTHER_SCRIPT


def run_cli(args, stdin=None):
    return subprocess.run([sys.executable, "-m", "qa", *args], input=stdin, capture_output=True, text=True, timeout=300)


def test_cli_json_lines_from_standard_input(seed_index):
    done = run_cli(
        ["ask", "--json", "--index", str(seed_index)],
        stdin="How many days was Nagorno-Karabakh shelled in 2020?\n\nHow do I bake sourdough bread?\n   \n",
    )
    assert done.returncode == 1, done.stderr  # the blank lines were refused
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 4  # line for line, so a script can pair questions and answers
    first, blank, second, spaces = lines
    assert blank == {"question": "", "error": "Please type a question."}
    assert spaces["error"] == "Please type a question."
    assert set(first) >= {"question", "abstained", "quotes", "related", "timings_ms"}
    assert set(first["quotes"][0]) >= {
        "text",
        "doc_id",
        "title",
        "publisher",
        "url",
        "locator",
        "start",
        "end",
        "score",
        "context",
    }
    assert "44 days" in first["quotes"][0]["text"] and not first["abstained"]
    assert second["abstained"] and second["quotes"] == []


def test_cli_prints_quote_then_citation(seed_index):
    done = run_cli(["ask", "--index", str(seed_index), "Where did the author first cry at work?"])
    assert done.returncode == 0, done.stderr
    assert "“" in done.stdout and "— Rebecca Vincent" in done.stdout and "post 3/14" in done.stdout


def test_cli_text_from_standard_input_puts_each_question_above_its_answer(seed_index):
    done = run_cli(
        ["ask", "--index", str(seed_index)],
        stdin="How many days was Nagorno-Karabakh shelled in 2020?\n\nHow do I bake sourdough bread?\n",
    )
    out = done.stdout
    shelled, cup = out.index("Q: How many days was"), out.index("Q: How do I bake sourdough bread?")
    assert shelled < out.index("44 days") < cup < out.index("The corpus does not answer this.")
    assert out.count("Q: ") == 2 and "error" not in out  # as text, a blank line is skipped


def test_cli_text_shows_the_sentence_a_quote_points_back_to_before_it(engine):
    from qa.__main__ import render_text

    text = render_text(engine.answer("What intimidation tactics do the protesters use?"))
    assert text.index("1. (just before it: “There is overwhelming evidence") < text.index("“They ")


def test_the_sentence_before_a_quote_is_not_shown_again_right_under_itself(engine):

    from qa.__main__ import render_text
    from qa.types import Answer
    from ui.render import quotes_html

    she = engine.answer("What intimidation tactics do the protesters use?").quotes[0]  # "They …"
    before = replace(she, start=she.context.start, end=she.context.end, text=she.context.text, context=None)
    other = engine.answer("Why are schools closed?").quotes[0]
    lead = f"Just before it: “{she.context.text}"
    # Quoted just above it, the sentences "They" points back to are not printed a second time ...
    assert she.context_shown(before) is None and quotes_html([before, she], set()).count(she.context.text) == 1
    assert render_text(Answer("q", [before, she], False)).count("just before it") == 0
    # ... but they are whenever the quote above is another one.
    assert she.context_shown(other) == she.context and lead in quotes_html([other, she], set())
    assert render_text(Answer("q", [other, she], False)).count("just before it") == 1


def test_cli_bad_input_and_missing_index_are_one_line(seed_index, tmp_path):
    empty = run_cli(["ask", "--index", str(seed_index), "   "])
    assert empty.returncode == 1 and empty.stdout.strip() == "error: Please type a question."
    missing = run_cli(["ask", "--index", str(tmp_path / "none"), "Why?"])
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "python -m index build" in missing.stderr


def test_cli_text_prints_a_notice_alone_when_there_is_nothing_to_quote(seed_index):
    # A question about a document as a whole, one with nothing to look for and one in another script get
    # a notice and no passages at all: each prints its sentence, not a traceback.
    done = run_cli(
        ["ask", "--index", str(seed_index)],
        stdin="Who wrote the article?\nWhat is it?\nЧто такое Лачинский коридор?\n",
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    out = done.stdout
    assert out.index("Q: Who wrote the article?") < out.index("Quotes cannot describe a whole document")
    assert out.index("EVN Report") < out.index("Q: What is it?") < out.index(NOTHING_ASKED)
    assert out.index("Q: Что такое") < out.index(OTHER_SCRIPT) and out.count("“") == out.count("”")


def test_cli_k_below_one_is_refused_in_one_line(seed_index):
    done = run_cli(["ask", "--index", str(seed_index), "-k", "0", "Who is blocking the corridor?"])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "argument -k: expected a whole number of at least 1, not '0'" in done.stderr


def test_cli_answers_a_line_that_is_not_utf8(seed_index):
    # Even where Python reads standard input strictly, a Latin-1 line is answered, its bad bytes as "�".
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ask", "--json", "--index", str(seed_index)],
        input="How many days was Nagorno-Karabakh shelled in 2020, caf\xe9?\n".encode("latin-1"),
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
    )
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    answer = json.loads(done.stdout.decode("utf-8"))
    assert answer["question"].endswith("caf\N{REPLACEMENT CHARACTER}?") and "44 days" in answer["quotes"][0]["text"]
