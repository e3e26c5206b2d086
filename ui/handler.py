"""The chat as plain functions: question and conversation in, what the page shows out.

No Gradio here, so every behaviour can be tested without a server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from index.errors import BadQuestion
from qa.engine import Engine
from qa.followup import resolve
from qa.question import NOTHING_ASKED, OTHER_SCRIPT
from qa.types import Quote
from ui.engines import Busy, EnginePool
from ui.render import CLOSEST_HEADING, answer_html, escape, quote_with_citation, source_html

log = logging.getLogger(__name__)
INTERNAL_ERROR = "Something went wrong while answering. Please try again."
SHOWN_QUESTION_CHARS = 300
UNSEARCHED = (OTHER_SCRIPT, NOTHING_ASKED)  # notices for questions refused before any search


ANSWER_QUOTES = ("Quotes of the last answer", "Quote with citation (copy)")
# When the corpus does not answer, the side panel offers the closest passages, and must not call them quotes
# of an answer: copied from there they would pass for one.
CLOSEST_PASSAGES = (CLOSEST_HEADING, "Closest passage with citation (not an answer)")


@dataclass(frozen=True)
class Conversation:
    previous: str | None = None  # what the last answered question searched for (for follow-ups)
    quotes: tuple[Quote, ...] = field(default_factory=tuple)  # the last answer's quotes (or closest passages)
    answered: bool = True  # False when `quotes` are the closest passages to a question the corpus does not answer

    def labels(self) -> tuple[str, str]:
        """The side panel's labels: (the quote picker, the box to copy a quote with its citation from)."""
        return ANSWER_QUOTES if self.answered else CLOSEST_PASSAGES


def _shown_question(question: str) -> str:
    text = question if len(question) <= SHOWN_QUESTION_CHARS else question[:SHOWN_QUESTION_CHARS] + "…"
    return escape(text)


def respond(engine: Engine | EnginePool, question: str, history: list[dict] | None, conversation: Conversation | None):
    """One turn: returns (chat history, conversation, the answer object or None)."""
    conversation = conversation or Conversation()
    history = list(history or [])
    answer = None
    try:
        answer = engine.answer(
            question, search=resolve(question, conversation.previous, engine.settings.max_question_chars)
        )
        reply = answer_html(answer)
        # A question refused before anything was searched (another script, nothing to look for) is no
        # ground for a follow-up: "And the children?" after one stands alone.
        searched = None if answer.notice in UNSEARCHED else answer.searched or answer.question
        conversation = Conversation(searched, tuple(answer.quotes or answer.related), answered=not answer.abstained)
    except (BadQuestion, Busy) as exc:
        reply = f"<p>{escape(str(exc))}</p>"
    except Exception:  # a user sees one sentence, the log keeps the traceback
        log.exception("answering failed")
        reply = f"<p>{INTERNAL_ERROR}</p>"
    history.append({"role": "user", "content": _shown_question(question or "")})
    history.append({"role": "assistant", "content": reply})
    return history, conversation, answer


def quote_choices(conversation: Conversation) -> list[tuple[str, int]]:
    """Labels for the quote picker: "[1] post 3/14 — “The first time I…”"."""
    choices = []
    for number, quote in enumerate(conversation.quotes, 1):
        snippet = quote.text if len(quote.text) <= 60 else quote.text[:60] + "…"
        choices.append((f"[{number}] {quote.locator} — “{snippet}”", number - 1))
    return choices


def show_in_source(engine: Engine | EnginePool, conversation: Conversation, index: int | None) -> tuple[str, str]:
    """(the document as HTML with the quote marked, the quote with its citation for copying)."""
    if index is None or not 0 <= index < len(conversation.quotes):
        return "<p>Choose a quote of the last answer to see it in its source.</p>", ""
    quote = conversation.quotes[index]
    document = engine.documents.get(quote.doc_id)
    if document is None:
        return "<p>That document is no longer in the index.</p>", ""
    page = document.page(quote.start)
    if page is None:
        html = source_html(document.text, quote.start, quote.end, document.title, quote.context)
    else:  # a PDF: the quote's page
        first, last = document.page_span(page)
        context = quote.context
        if context is not None:
            context = (
                replace(context, start=context.start - first, end=context.end - first)
                if context.start >= first
                else None
            )
        title = f"{document.title}, page {page} of {len(document.pages)}"
        html = source_html(document.text[first:last], quote.start - first, quote.end - first, title, context)
    return html, quote_with_citation(quote)


def ask_api(engine: Engine | EnginePool, question: str, previous: str | None = None) -> dict:
    """The structured answer for API clients; bad input comes back as {"error": "…"}."""
    try:
        return engine.answer(question, search=resolve(question, previous, engine.settings.max_question_chars)).to_json()
    except (BadQuestion, Busy) as exc:
        return {"question": question, "error": str(exc)}
