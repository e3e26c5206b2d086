"""Turning answers into HTML: every piece of corpus or user text is escaped before it is shown.

Escaping covers HTML and Markdown: `<`, `>`, `&`, quotes, and the characters Markdown acts on
(`[ ] ( ) * _ ` # ! |`), so a question or document holding `<script>`, `<img onerror=…>` or
`[x](javascript:…)` is shown as text and runs nothing.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from urllib.parse import urlparse

from index.tokenize import words as content_words
from index.types import is_record
from qa.types import Answer, Excerpt, Quote, contexts_shown

CLOSEST_HEADING = "Closest passages (not an answer)"  # above the passages shown when the corpus does not answer

_ESCAPES = {c: f"&#{ord(c)};" for c in "&<>\"'[]()*_`#!|\\~{}"}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def safe_url(url: str | None) -> str | None:
    """The URL when it is plain http(s), else None (no javascript:, data: …)."""
    if not url:
        return None
    parsed = urlparse(url.strip())
    return url.strip() if parsed.scheme in ("http", "https") and parsed.netloc else None


def question_words(question: str) -> set[str]:
    return {w for w in content_words(question) if len(w) > 2}


def highlight(text: str, words: set[str]) -> str:
    """Escaped text with the question's words (and words that start with them) marked."""
    out, last = [], 0
    for match in _WORD.finditer(text):
        token = match.group().lower()
        if any(token == w or (len(w) > 4 and token.startswith(w[:-1])) for w in words):
            out.append(escape(text[last : match.start()]))
            out.append(f"<mark>{escape(match.group())}</mark>")
            last = match.end()
    out.append(escape(text[last:]))
    return "".join(out)


def source_label(quote: Quote) -> str:
    """Who says it: "Rebecca Vincent's thread", "The EVN Report article"."""
    kind = (quote.kind or "").lower()
    noun = "thread" if "thread" in kind else "article" if "article" in kind else "document"
    if quote.author:
        owner = re.sub(r"\s*\(.*?\)\s*$", "", quote.author).strip()
        return f"{owner}’s {noun}"
    if quote.publisher:
        return f"The {quote.publisher} {noun}"
    return f"“{quote.title}”"


def citation_html(quote: Quote) -> str:
    parts = [escape(p) for p in (quote.author, quote.publisher) if p]
    parts.append(f"<cite>{escape(quote.title)}</cite>")
    parts.append(escape(quote.locator))
    url = safe_url(quote.link or quote.url)  # the link opens the page at the quote (`qa.links`)
    if url:
        parts.append(f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer">source link</a>')
    return " · ".join(parts)


def quote_with_citation(quote: Quote) -> str:
    """Plain text for the copy button: the quote, then where it comes from."""
    return f"“{quote.text}”\n— {quote.citation()}"


def grouped(quotes: list[Quote]) -> OrderedDict[str, list[tuple[int, Quote]]]:
    groups: OrderedDict[str, list[tuple[int, Quote]]] = OrderedDict()
    for number, quote in enumerate(quotes, 1):
        groups.setdefault(quote.doc_id, []).append((number, quote))
    return groups


def quotes_html(quotes: list[Quote], words: set[str]) -> str:
    blocks = []
    for items in grouped(quotes).values():
        blocks.append(f'<p class="qa-source"><strong>{escape(source_label(items[0][1]))}:</strong></p>')
        for (number, quote), shown in zip(items, contexts_shown([q for _, q in items]), strict=True):
            # The sentence the quote points back to ("She has also stated …"), muted and apart from it.
            context = f'<small class="qa-context">Just before it: “{escape(shown.text)}”</small><br>' if shown else ""
            blocks.append(
                f'<blockquote class="qa-quote" data-quote="{number}">{context}'
                f"[{number}] “{highlight(quote.text, words)}”"
                f'<br><small class="qa-cite">— {citation_html(quote)}</small></blockquote>'
            )
    return "\n".join(blocks)


def answer_html(answer: Answer) -> str:
    words = question_words(answer.searched or answer.question)
    parts = []
    if answer.searched:
        parts.append(f'<p class="qa-searched"><em>Searched for: {escape(answer.searched)}</em></p>')
    if answer.only_from:
        titles = "; ".join(f"“{escape(t)}”" for t in answer.only_from)
        parts.append(f'<p class="qa-searched"><em>Quoting only: {titles}</em></p>')
    if answer.abstained:
        parts.append(
            f'<p class="qa-abstain"><strong>{escape(answer.notice or "The corpus does not answer this.")}</strong></p>'
        )
        if answer.related:
            parts.append(f'<p class="qa-related-heading">{CLOSEST_HEADING}:</p>')
            parts.append(quotes_html(answer.related, words))
    else:
        parts.append(quotes_html(answer.quotes, words))
    return "\n".join(parts)


def source_html(text: str, start: int, end: int, title: str, context: Excerpt | None = None) -> str:
    """The whole document, the quote marked with id="qa-highlight" so it can be scrolled into view, and
    the sentence it points back to (`Quote.context`) marked more lightly."""
    lead_from, lead = start, ""  # where plain text stops, and the marked context with what follows it
    if context is not None and context.end <= start:
        lead_from = context.start
        lead = f'<mark class="qa-lead-in">{escape(text[context.start : context.end])}</mark>'
        lead += escape(text[context.end : start])
    quote = f'<mark id="qa-highlight">{escape(text[start:end])}</mark>'
    body = escape(text[:lead_from]) + lead + quote + escape(text[end:])
    return (
        f'<div class="qa-doc"><h3>{escape(title)}</h3>'
        f'<div class="qa-doc-text" style="white-space: pre-wrap">{body}</div></div>'
    )


def corpus_html(documents, listed: int = 100) -> str:
    """The corpus panel: each document with its citation, up to `listed` of them, and a collection's
    records as one line with their count (a WordNet index holds 117,659: listing them would send every
    visitor megabytes)."""
    rows, records = [], Counter()
    for d in documents:
        if is_record(d.doc_id):
            records[d.doc_id.split("#", 1)[0]] += 1
            continue
        if len(rows) == listed:
            continue
        url = safe_url(d.url)
        link = f' · <a href="{escape(url)}" target="_blank" rel="noopener noreferrer">link</a>' if url else ""
        who = " · ".join(escape(p) for p in (d.author, d.publisher) if p)
        kind = f" · {escape(d.kind)}" if d.kind else ""
        rows.append(f"<li><cite>{escape(d.title)}</cite> — {who}{kind}{link}</li>")
    unlisted = sum(1 for d in documents if not is_record(d.doc_id)) - len(rows)
    if unlisted:
        rows.append(f"<li>… and {unlisted:,} more {'document' if unlisted == 1 else 'documents'}</li>")
    rows += [f"<li>{escape(name)}: {n:,} {'record' if n == 1 else 'records'}</li>" for name, n in records.items()]
    return f'<ul class="qa-corpus">{"".join(rows)}</ul>'
