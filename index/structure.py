"""Finding a document's structure: headings, numbered posts of a thread, bullet items, paragraphs.

The result is a list of `Block`s, each with offsets into the text and a locator a reader can follow
("post 7/14", "Mid-term Objectives › Humanitarian Airlift, paragraph 2", "…, bullet 3").

Rules, all general (nothing here knows a particular file):
- A thread is a text in which at least two lines carry a post number, "7/" at the end of the line,
  "/14" for the last one, or "7/" at the start. Each post runs up to and including its numbered line.
- A Markdown heading ("## Title") is a heading of that level. In plain text a heading is a short line
  in title case without closing punctuation that is followed by more text. A heading followed directly
  by another heading is a top-level section; the other is a subsection of the latest top-level one.
  A heading that comes before any paragraph is the document's title and opens no section.
- A bullet item starts with •, -, *, ▪ or "1." / "1)"; lines that follow it without a blank line
  belong to it. Other runs of non-blank lines are paragraphs.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from index.sentences import trim_span
from index.types import Block

_POST_END = re.compile(r"\s(\d{1,3})/\s*$")
_POST_LAST = re.compile(r"\s/(\d{1,3})\s*$")
_POST_START = re.compile(r"^\s*(\d{1,3})/\s+")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*#*\s*$")
_BULLET = re.compile(r"^\s*(?:[•▪◦·*\-–]|\d{1,2}[.)])\s+")
SECTION_SEP = " › "


@dataclass(frozen=True)
class _Line:
    start: int
    end: int
    text: str


def _lines(text: str) -> list[_Line]:
    lines, pos = [], 0
    for raw in text.split("\n"):
        lines.append(_Line(pos, pos + len(raw), raw))
        pos += len(raw) + 1
    return lines


def _post_marker(line: str) -> tuple[int, re.Match] | None:
    for pattern in (_POST_END, _POST_LAST, _POST_START):
        match = pattern.search(line)
        if match:
            return int(match.group(1)), match
    return None


def thread_blocks(doc_id: str, text: str) -> list[Block] | None:
    """Blocks for a numbered thread, or None when the text is not one."""
    lines = _lines(text)
    marked = [(line, _post_marker(line.text)) for line in lines]
    numbers = [m[0] for _, m in marked if m]
    if len(numbers) < 2:
        return None
    total = max(numbers)
    blocks: list[Block] = []
    pending: int | None = None  # start of a post whose numbered line has not come yet
    for line, marker in marked:
        if not line.text.strip():
            continue
        if pending is None:
            pending = line.start
        if marker is None:
            continue
        number, match = marker
        start, end = pending, line.end
        if match.re is _POST_START:
            start = max(start, line.start + match.end())
        else:
            end = line.start + match.start()
        start, end = trim_span(text, start, end)
        if start < end:
            blocks.append(Block(doc_id, start, end, f"post {number}/{total}", ""))
        pending = None
    if pending is not None:
        start, end = trim_span(text, pending, len(text))
        blocks.append(Block(doc_id, start, end, "after the thread", ""))
    return blocks


def _is_heading(line: str) -> bool:
    words = line.split()
    if not words or len(words) > 20 or len(line) > 160:
        return False
    if line.rstrip()[-1] in ".!?,;:…\"”’')]" or not (line.lstrip()[0].isupper() or line.lstrip()[0].isdigit()):
        return False
    long_words = [w for w in words if len(w) >= 4]
    capitalised = [w for w in long_words if w[0].isupper() or w[0].isdigit()]
    return not long_words or len(capitalised) >= 0.6 * len(long_words)


def _classify(lines: list[_Line], levels: dict[int, int] | None = None) -> list[tuple[str, _Line, int]]:
    """(kind, line, markdown level) for each non-blank line: heading, bullet or text. `levels` gives the
    headings of a file read with its layout (offset -> level): then no other line is one."""
    out = []
    nonblank = [line for line in lines if line.text.strip()]
    for i, line in enumerate(nonblank):
        if levels is not None:
            if line.start in levels:
                out.append(("heading", line, levels[line.start]))
            else:
                out.append(("bullet" if _BULLET.match(line.text) else "text", line, 0))
            continue
        md = _MD_HEADING.match(line.text)
        has_next = i + 1 < len(nonblank)
        if md:
            out.append(("heading", line, len(md.group(1))))
        elif _BULLET.match(line.text):
            out.append(("bullet", line, 0))
        elif has_next and _is_heading(line.text.strip()) and _isolated(lines, line):
            out.append(("heading", line, 0))
        else:
            out.append(("text", line, 0))
    return out


def _isolated(lines: list[_Line], line: _Line) -> bool:
    """A plain-text heading stands alone: blank lines (or the text's edge) on both sides."""
    index = lines.index(line)
    before = index == 0 or not lines[index - 1].text.strip()
    after = index + 1 == len(lines) or not lines[index + 1].text.strip()
    return before and after


def article_blocks(
    doc_id: str, text: str, root: str = "", pages: list[int] | None = None, levels: dict[int, int] | None = None
) -> list[Block]:
    """Blocks for a document with headings, paragraphs and bullets; `root` prefixes every section. With
    `pages` (where each page starts) paragraphs and bullets are counted per page: "Section, page 4,
    paragraph 2"; `levels` gives the headings (offset -> level) of a file read with its layout."""
    lines = _lines(text)
    classified = _classify(lines, levels)
    page_now = [0]
    blocks: list[Block] = []
    path: list[str] = []  # [top-level heading, subsection heading]
    counts = {"paragraph": 0, "bullet": 0}
    seen_text = False
    current: list = []  # [kind, start, end] of the block being gathered

    def flush():
        if not current:
            return
        kind, start, end = current
        start, end = trim_span(text, start, end)
        page = bisect_right(pages, start) or 1 if pages else 0
        if page != page_now[0]:
            page_now[0] = page
            counts.update(paragraph=0, bullet=0)
        counts[kind] += 1
        section = SECTION_SEP.join(p for p in [root, *path] if p)
        label = f"page {page}, {kind} {counts[kind]}" if pages else f"{kind} {counts[kind]}"
        blocks.append(Block(doc_id, start, end, f"{section}, {label}" if section else label, section))
        current.clear()

    previous_line_end = -2
    for i, (kind, line, md_level) in enumerate(classified):
        contiguous = line.start == previous_line_end + 1
        previous_line_end = line.end
        if kind == "heading":
            flush()
            title = line.text.strip().lstrip("#").strip()
            next_is_heading = i + 1 < len(classified) and classified[i + 1][0] == "heading"
            if levels is not None:
                if md_level == 0:
                    continue  # the document's title, as its reader found it
                level = md_level
            elif not seen_text and not path and (md_level == 1 or i == 0):
                continue  # the document's title
            elif md_level:
                level = 1 if md_level <= 2 else 2
            else:
                level = 1 if next_is_heading or not path else 2
            path = [title] if level == 1 else [*path[:1], title]
            if not pages:  # on pages, paragraphs are counted per page, whatever the section
                counts = {"paragraph": 0, "bullet": 0}
            continue
        seen_text = True
        if kind == "bullet":
            flush()
            marker = _BULLET.match(line.text)
            current.extend(["bullet", line.start + marker.end(), line.end])
        elif current and contiguous:
            current[2] = line.end  # a continuation line of the same paragraph or bullet
        else:
            flush()
            current.extend(["paragraph", line.start, line.end])
    flush()
    return blocks


def find_blocks(
    doc_id: str, text: str, root: str = "", pages: list[int] | None = None, headings: list[list[int]] | None = None
) -> list[Block]:
    """The blocks of a document; a PDF or Word file (`pages`, `headings` known from its layout) is read
    as an article whose headings are those."""
    if pages is not None or headings is not None:
        return article_blocks(doc_id, text, root, pages, {o: level for o, level in headings or []})
    return thread_blocks(doc_id, text) or article_blocks(doc_id, text, root)
