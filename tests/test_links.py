"""Links that open the source at the quote: the text fragment, and a real browser following it."""

from __future__ import annotations

import http.server
import threading
import time
from urllib.parse import unquote

import pytest

from index.ingest import clean_text, html_to_text
from qa.links import text_fragment

TEXT = (
    "The corridor was closed in December. Food ran short within weeks.\n\n"
    "The corridor was closed again in March, after a convoy had crossed it with flour, insulin and fuel.\n\n"
    "Rates-of-exchange & prices, rose."
)


def fragment(link: str) -> list[str]:
    """The directive's terms, decoded: [prefix-, start, end, ...]."""
    return [unquote(t) for t in link.split(":~:text=", 1)[1].split(",")]


def test_a_short_quote_that_stands_once_is_given_whole():
    start = TEXT.index("Food ran short")
    link = text_fragment("https://example.org/a", TEXT, start, start + len("Food ran short within weeks."))
    assert link == "https://example.org/a#:~:text=Food%20ran%20short%20within%20weeks."


def test_a_long_quote_is_a_range_and_an_ambiguous_start_gets_the_words_before_it():
    start = TEXT.index("The corridor was closed again")
    end = TEXT.index("\n\nRates")
    assert TEXT.index("The corridor was closed") < start  # its first words stand earlier too
    terms = fragment(text_fragment("https://example.org/a", TEXT, start, end))
    # At a paragraph's start the words before it are the paragraph before's last ones.
    assert terms == ["weeks.-", "The corridor was closed", "flour, insulin and fuel."]


def test_the_syntax_characters_are_encoded_and_a_page_fragment_is_kept():
    start = TEXT.index("Rates")
    link = text_fragment("https://example.org/a#prices", TEXT, start, len(TEXT))
    assert link == "https://example.org/a#prices:~:text=Rates%2Dof%2Dexchange%20%26%20prices%2C%20rose."
    assert text_fragment(None, TEXT, 0, 10) is None


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Report</title></head><body>
<h1>Report</h1>
<p>The blockade of the road began in December and was first described as an environmental protest.</p>
{filler}
<p id="once">Forty patients were evacuated by the Red Cross during the month of March.</p>
{filler}
<p id="twice">Before the winter came, the blockade of the road began to empty the shops of the city
one shelf at a time, and families queued for bread from the early morning.</p>
{filler}
</body></html>"""


@pytest.fixture(scope="module")
def page_server(tmp_path_factory):
    filler = "\n".join(f"<p>Filler paragraph number {n} about nothing in particular.</p>" for n in range(60))
    folder = tmp_path_factory.mktemp("site")
    html = PAGE.format(filler=filler)
    (folder / "report.html").write_text(html, encoding="utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    text = clean_text(html_to_text(html)[0])  # the document's text as the index stores it
    yield f"http://127.0.0.1:{server.server_address[1]}/report.html", text
    server.shutdown()


def test_a_browser_opens_the_page_at_the_quote(page_server):
    from tests.conftest import chromium

    url, text = page_server
    once = "Forty patients were evacuated by the Red Cross during the month of March."
    twice_start = text.index("the blockade of the road began to empty")
    assert text.lower().index("the blockade of the road began") < twice_start  # its first words stand earlier
    twice_end = text.index("early morning.") + len("early morning.")
    links = {
        "once": text_fragment(url, text, text.index(once), text.index(once) + len(once)),
        "twice": text_fragment(url, text, twice_start, twice_end),
    }
    assert fragment(links["twice"])[0].endswith("-")  # disambiguated by the words before it
    driver = chromium()
    try:
        for target, link in links.items():
            driver.get("about:blank")
            driver.get(link)
            time.sleep(1.0)  # the browser scrolls once the page has loaded
            where = driver.execute_script(
                "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
                "return [r.top, r.bottom, window.innerHeight, window.scrollY];",
                target,
            )
            top, bottom, height, scrolled = where
            assert scrolled > 500, f"{target}: the page was not scrolled ({link})"
            assert 0 <= top and bottom <= height, f"{target}: the quote is not in view ({where}, {link})"
    finally:
        driver.quit()


def test_the_chat_s_source_link_opens_the_page_at_the_quote(engine):
    from ui.render import answer_html, escape

    answer = engine.answer("How many days was Nagorno-Karabakh shelled in 2020?")
    quote = answer.quotes[0]
    document = engine.documents[quote.doc_id]
    assert quote.link == text_fragment(document.url, document.text, quote.start, quote.end)
    assert quote.link.startswith(document.url + "#:~:text=")
    assert f'href="{escape(quote.link)}"' in answer_html(answer)  # "#", "~" as entities, which browsers read back
