"""The web app: the handler as plain functions, the server through gradio_client, a real browser."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from index.build import build
from qa.engine import Engine
from qa.settings import Settings
from tests.conftest import ROOT, chromium, serve, write_corpus
from ui.handler import (
    ANSWER_QUOTES,
    CLOSEST_PASSAGES,
    INTERNAL_ERROR,
    Conversation,
    quote_choices,
    respond,
    show_in_source,
)

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2"> [click](javascript:window.__xss=3)'
ARTIFACTS = ROOT / "test-artifacts"


# --- the handler, no server -----------------------------------------------------------------------


def test_answer_shows_attributed_quotes_with_citations_and_highlights(engine):
    history, conversation, answer = respond(engine, "How many children are stranded in Armenia?", [], None)
    assert [m["role"] for m in history] == ["user", "assistant"]
    html = history[1]["content"]
    assert "The EVN Report article:" in html
    assert "<blockquote" in html and "270 <mark>children</mark>" in html
    assert "paragraph 1" in html and 'href="https://evnreport.com/' in html
    assert len(conversation.quotes) == len(answer.quotes) <= 3
    assert quote_choices(conversation)[0][0].startswith("[1] paragraph 1")


def test_quotes_are_grouped_by_who_says_them(engine):
    history, _, answer = respond(engine, "What does the author say about human rights in Azerbaijan?", [], None)
    html = history[1]["content"]
    for label in {
        ("Rebecca Vincent’s thread:" if "000_" in q.doc_id else "The EVN Report article:") for q in answer.quotes
    }:
        assert html.count(label) == 1


def test_abstention_is_plain_and_related_passages_are_apart(engine):
    history, conversation, answer = respond(engine, "How do I bake sourdough bread?", [], None)
    html = history[1]["content"]
    assert answer.abstained and "The corpus does not answer this." in html
    assert html.index("Closest passages (not an answer)") < html.index("<blockquote")
    # Asked about someone the corpus never mentions, typed the way people type, the same plain refusal.
    history, _, answer = respond(engine, "who is ruben vardanyan", [], None)
    assert answer.abstained and "The corpus does not answer this." in history[1]["content"]
    # Asked about a whole document, it says quotes cannot do that, and cites the document.
    history, _, _ = respond(engine, "Who wrote the article?", [], None)
    assert "Quotes cannot describe a whole document" in history[1]["content"]
    assert "“Weaponizing Blockade With the Intent to Ethnically Cleanse”" in history[1]["content"]
    # The side panel offers those passages too, and does not call them quotes of an answer.
    assert conversation.quotes and conversation.labels() == CLOSEST_PASSAGES
    _, conversation, _ = respond(engine, "How many children are stranded in Armenia?", history, conversation)
    assert conversation.labels() == ANSWER_QUOTES


def test_every_example_question_is_answered_by_its_first_quote(engine):
    from ui.app import EXAMPLES

    # Where each example's answer is in the corpus: the examples are the product's first impression.
    evidence = {
        "How long has the Lachin corridor been blocked?": "Since December 12, 2022",
        "What about the gas?": "Azerbaijan also turned off the gas",
        "How many children are stranded in Armenia?": "including 270 children, stranded in Armenia",
        "Why is the author usually quiet on the conflict?": "like many foreigners who have significant ties there",
        # Either the request itself or who would fly it, both from the article's airlift section.
        "What does the article propose about a humanitarian airlift?": (
            "request the UN WFP and ICRC to carry out",
            "can be carried out either by the United Nations World Food Programme",
        ),
        "What intimidation tactics do the protesters use?": "loud music",
        "Which city was shelled according to the thread?": "Ganja, which was shelled today",
    }
    assert set(EXAMPLES) == set(evidence)
    for question in EXAMPLES:
        _, _, answer = respond(engine, question, [], None)
        wanted = evidence[question] if isinstance(evidence[question], tuple) else (evidence[question],)
        assert any(e in answer.quotes[0].text for e in wanted), question


def test_follow_up_uses_the_previous_question_and_says_so(engine):
    history, conversation, _ = respond(engine, "How many Armenians are isolated by the blockade?", [], None)
    history, conversation, answer = respond(engine, "And how many of them were children?", history, conversation)
    assert answer.searched.startswith("How many Armenians are isolated")
    assert "Searched for: How many Armenians are isolated" in history[-1]["content"]
    assert "30,000 children" in answer.quotes[0].text and len(history) == 4
    # A short question that is whole by itself is not merged with the one before it.
    history, conversation, answer = respond(engine, "Why are schools closed?", history, conversation)
    assert answer.searched is None and "Searched for" not in history[-1]["content"]
    assert "schools are closed because of the lack of heating" in answer.quotes[0].text


def test_a_follow_up_does_not_lean_on_a_question_refused_before_any_search(engine):
    history, conversation, _ = respond(engine, "Что такое Лачинский коридор?", [], None)
    assert "please ask your question in English" in history[-1]["content"]
    history, conversation, answer = respond(engine, "And how many were children?", history, conversation)
    assert answer.searched is None and "please ask your question in English" not in history[-1]["content"]
    assert "30,000 children" in answer.quotes[0].text


def test_a_question_naming_a_source_says_which_one_it_quotes(engine):
    history, _, answer = respond(engine, "What does the thread say about <b>hate</b>?", [], None)
    html = history[1]["content"]
    assert "Quoting only: “A personal thread about &#35;Karabakh”" in html  # "#" escaped for Markdown
    assert "The EVN Report article:" not in html and "<b>hate" not in html


@pytest.mark.parametrize(
    "question, message", [("  ", "Please type a question."), ("why " * 400, "under 1,000 characters")]
)
def test_bad_questions_get_a_friendly_message(engine, question, message):
    history, conversation, answer = respond(engine, question, [], Conversation())
    assert answer is None and message in history[1]["content"] and conversation == Conversation()
    assert len(history[0]["content"]) < 400  # a huge question is shortened in the chat


def test_internal_errors_show_one_short_sentence(engine, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("index file truncated")

    monkeypatch.setattr(engine, "answer", broken)
    history, _, _ = respond(engine, "Anything?", [], None)
    assert history[1]["content"] == f"<p>{INTERNAL_ERROR}</p>" and "truncated" not in history[1]["content"]


def test_show_in_source_marks_the_quote_and_copies_it_with_its_citation(engine):
    _, conversation, answer = respond(engine, "Where did the author first cry at work?", [], None)
    html, copied = show_in_source(engine, conversation, 0)
    quote = answer.quotes[0]
    assert '<mark id="qa-highlight">' in html and "post 3/14" in copied
    assert copied.startswith(f"“{quote.text}”") and "Rebecca Vincent" in copied
    assert show_in_source(engine, conversation, None)[1] == ""


def test_a_quote_that_points_back_shows_what_it_points_to_apart_and_in_the_source(engine):
    history, conversation, answer = respond(engine, "What intimidation tactics do the protesters use?", [], None)
    html = history[1]["content"]
    context = answer.quotes[0].context
    assert answer.quotes[0].text.startswith("They ") and "They use" in answer.quotes[0].text and context is not None
    # Muted, before the numbered quote, labelled, and not inside the quote's own quotation marks.
    lead = html.index('<small class="qa-context">Just before it: “There is overwhelming evidence')
    assert lead < html.index("[1] “They ")
    source, copied = show_in_source(engine, conversation, 0)
    assert source.index('<mark class="qa-lead-in">There is overwhelming') < source.index('<mark id="qa-highlight">They')
    assert copied.startswith("“They ") and "They use" in copied  # the copy holds the quote itself


@pytest.fixture(scope="module")
def hostile_engine(tmp_path_factory, encoder):
    """A corpus whose document itself carries markup and a javascript: link."""
    folder = write_corpus(
        tmp_path_factory.mktemp("hostile"),
        {
            "evil.txt": f"Rivers flood in spring. {XSS} The farmers move their herds uphill each spring.",
        },
        {
            "evil.txt": {
                "title": "<b>Evil</b> title",
                "publisher": "[x](javascript:alert(1))",
                "url": "javascript:alert(1)",
            }
        },
    )
    out = tmp_path_factory.mktemp("hostile-index")
    build(folder, out, encoder)
    return Engine.load(Settings(index=out), encoder)


def test_the_corpus_panel_lists_documents_and_counts_a_collections_records():
    from index.types import Document
    from ui.render import corpus_html

    def doc(doc_id, title):
        return Document(doc_id=doc_id, text="", title=title, author=None, publisher="P", url=None, kind=None)

    documents = [doc(f"d{i}.txt", f"Doc {i}") for i in range(102)] + [doc(f"g.jsonl#{i}", "G") for i in range(5)]
    html = corpus_html(documents, listed=100)
    assert html.count("<cite>") == 100 and "<cite>Doc 99</cite>" in html and "Doc 100" not in html
    assert "<li>… and 2 more documents</li>" in html and "<li>g.jsonl: 5 records</li>" in html


def test_markup_in_questions_and_documents_is_inert(hostile_engine):
    history, conversation, _ = respond(hostile_engine, f"When do farmers move their herds? {XSS}", [], None)
    shown = history[0]["content"] + history[1]["content"]
    for raw in ("<script", "<img", 'onerror="', "](javascript", "<b>Evil", 'href="javascript'):
        assert raw not in shown
    assert "&#60;script&#62;" in history[0]["content"]
    source, _ = show_in_source(hostile_engine, conversation, 0)
    assert "<script" not in source and "<img" not in source


# --- a real server ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(seed_index):
    with serve(seed_index) as (url, _):
        yield url


def test_a_port_in_use_is_said_in_one_line_before_anything_loads(server, seed_index):
    port = server.rsplit(":", 1)[1].strip("/")  # the running app holds it
    done = subprocess.run(
        [sys.executable, "-m", "ui", "--port", port, "--index", str(seed_index), "--no-build"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"error: cannot serve on 127.0.0.1:{port} (Address already in use); pass a free --port or another --host."
    )
    assert done.stdout == ""  # refused before the index was checked or the model loaded ("Ready after …")


def test_api_endpoint_answers_through_gradio_client(server):
    from gradio_client import Client

    client = Client(server, verbose=False)
    result = client.predict("How many days was Nagorno-Karabakh shelled in 2020?", "", api_name="/ask")
    assert not result["abstained"] and "44 days" in result["quotes"][0]["text"]
    assert {"text", "doc_id", "start", "end", "locator", "title", "publisher", "url"} <= set(result["quotes"][0])
    follow = client.predict(
        "How long was it shelled?", "How many days was Nagorno-Karabakh shelled in 2020?", api_name="/ask"
    )
    assert follow["searched"].startswith("How many days was Nagorno-Karabakh shelled")
    assert client.predict("   ", "", api_name="/ask")["error"] == "Please type a question."


def test_in_a_real_browser(server):
    """Headless Debian Chromium: ask, see a cited quote, open it in its source, and an XSS probe stays text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        wait = WebDriverWait(driver, 60)
        driver.get(server)
        box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#qa-question textarea"))
        box.send_keys("How many children are stranded in Armenia?", Keys.ENTER)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#qa-chat blockquote"))
        chat = driver.find_element(By.CSS_SELECTOR, "#qa-chat").text
        # The quote's source link opens the page at the quote (a text fragment), as the browser reads it.
        links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#qa-chat blockquote a")]
        assert links and all("#:~:text=" in link for link in links), links
        assert "270 children" in chat and "EVN Report" in chat and "paragraph 1" in chat
        # The quote opens "It has resulted …": what "it" is comes above it, muted.
        context = driver.find_element(By.CSS_SELECTOR, "#qa-chat blockquote .qa-context")
        assert context.text.startswith("Just before it: “Since December 12, 2022")
        quote_color = driver.find_element(By.CSS_SELECTOR, "#qa-chat blockquote").value_of_css_property("color")
        assert context.value_of_css_property("color") != quote_color

        driver.find_element(By.CSS_SELECTOR, "#qa-show").click()
        mark = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#qa-source mark#qa-highlight"))
        assert "270 children" in mark.text
        lead_in = driver.find_element(By.CSS_SELECTOR, "#qa-source mark.qa-lead-in")
        assert lead_in.text.startswith("Since December 12, 2022")
        wait.until(
            lambda d: d.execute_script(
                "const r = document.getElementById('qa-highlight').getBoundingClientRect();"
                "return r.top >= 0 && r.top < window.innerHeight;"
            )
        )
        copied = driver.find_element(By.CSS_SELECTOR, "#qa-copy textarea").get_attribute("value")
        assert copied.startswith("“It has resulted") and "EVN Report" in copied
        driver.save_screenshot(str(ARTIFACTS / "answer-and-source.png"))

        box = driver.find_element(By.CSS_SELECTOR, "#qa-question textarea")
        box.send_keys(XSS, Keys.ENTER)
        wait.until(lambda d: "window.__xss=1" in d.find_element(By.CSS_SELECTOR, "#qa-chat").text)
        time.sleep(1)
        assert not driver.find_elements(By.CSS_SELECTOR, "#qa-source mark")  # the old highlight is gone
        # The probe is not answered: the side panel names what it offers for what it is.
        assert CLOSEST_PASSAGES[0] in driver.find_element(By.CSS_SELECTOR, "#qa-picker").text
        assert CLOSEST_PASSAGES[1] in driver.find_element(By.CSS_SELECTOR, "#qa-copy").text
        assert driver.execute_script("return window.__xss === undefined")
        assert not driver.find_elements(By.CSS_SELECTOR, "#qa-chat img[src='x']")
        assert not driver.find_elements(By.CSS_SELECTOR, "#qa-chat a[href^='javascript']")
        driver.execute_script("window.scrollTo(0, 0);")
        driver.save_screenshot(str(ARTIFACTS / "xss-probe.png"))

        # The chat's own trash icon forgets the conversation too: a follow-up asked after it stands alone.
        box = driver.find_element(By.CSS_SELECTOR, "#qa-question textarea")
        box.send_keys("How many Armenians are isolated by the blockade?", Keys.ENTER)
        wait.until(lambda d: "120,000 Armenians" in d.find_element(By.CSS_SELECTOR, "#qa-chat").text)
        tools = driver.find_elements(By.CSS_SELECTOR, "#qa-chat button.icon-button")
        # Copy and clear only: no "share" button, which would post to Hugging Face.
        assert {b.get_attribute("aria-label") for b in tools} <= {"Clear", "Copy conversation", "Copy message"}
        driver.find_element(By.CSS_SELECTOR, "#qa-chat button[aria-label='Clear']").click()
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#qa-chat blockquote"))
        box.send_keys("And how many of them were children?", Keys.ENTER)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#qa-chat blockquote"))
        assert "Searched for" not in driver.find_element(By.CSS_SELECTOR, "#qa-chat").text
    finally:
        driver.quit()
