"""Reading the corpus folder: files and their metadata in, cleaned `Document`s out.

Supported: `.txt`, `.md`, `.html`/`.htm`, `.pdf` (its text layer, `index.pdf`) and `.docx`
(`index.word`), one document per file, and `.jsonl` collections with one `{"id", "title", "text"}`
record per line (the BEIR/Pyserini form). Metadata comes from
`sources.json` beside the files; a file it does not name is titled by its file name.

Page furniture (navigation lines, a tool's footer) is removed by per-source line patterns, the
`furniture` list of regular expressions in `sources.json`, each matched against a whole stripped line.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

from index.errors import BadCorpusFile, EmptyCorpus
from index.types import Document

TEXT_SUFFIXES = (".txt", ".md", ".html", ".htm")
LAYOUT_SUFFIXES = (".pdf", ".docx")  # read with their page and heading layout
COLLECTION_SUFFIXES = (".jsonl",)
SOURCES_FILE = "sources.json"


@dataclass
class CorpusReport:
    """What reading the corpus found besides documents: files skipped and why, and what else looks wrong."""

    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def corpus_files(corpus: Path) -> list[Path]:
    """The files of a corpus folder that are read, in a stable order (a single file is its own corpus)."""
    if corpus.is_file():
        return [corpus]
    if not corpus.is_dir():
        raise EmptyCorpus(f"The corpus folder {corpus} does not exist; pass --corpus with a folder of documents.")
    suffixes = TEXT_SUFFIXES + LAYOUT_SUFFIXES + COLLECTION_SUFFIXES
    return sorted(p for p in corpus.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def not_read(corpus: Path) -> list[str]:
    """What in a corpus folder is not read, said so that a document put there is not lost silently: other
    kinds of file ("slides.pptx") and subfolders. Hidden files and `sources.json` are left out."""
    if not corpus.is_dir():
        return []
    said, read = [], set(corpus_files(corpus))
    for path in sorted(corpus.iterdir()):
        if path.name.startswith(".") or path.name == SOURCES_FILE or path in read:
            continue
        if path.is_dir():
            said.append(f"{path.name}/ is a folder; only the files directly in the corpus folder are read.")
        else:
            said.append(
                f"{path.name} is not a .txt, .md, .html, .pdf, .docx or .jsonl file; it was skipped (convert it to text)."
            )
    return said


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def remembered_file_hash(path: Path) -> str:
    """`file_hash`, remembered while the file keeps its size and modification time: the model weights
    and WordNet are checked at every start and index build (the tests build many), and do not change."""
    stat = path.stat()
    return _remembered(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=16)
def _remembered(path: str, size: int, mtime_ns: int) -> str:
    return file_hash(Path(path))


def corpus_fingerprint(corpus: Path) -> dict[str, str]:
    """sha256 of every file the index is built from, `sources.json` included, keyed by file name."""
    files = corpus_files(corpus)
    if corpus.is_dir() and (corpus / SOURCES_FILE).is_file():
        files = [*files, corpus / SOURCES_FILE]
    return {p.name: file_hash(p) for p in files}


def load_sources(corpus: Path) -> dict[str, dict]:
    folder = corpus if corpus.is_dir() else corpus.parent
    path = folder / SOURCES_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadCorpusFile(f"{path} is not valid JSON ({exc}); fix it or remove it.") from exc
    if not isinstance(data, dict):
        raise BadCorpusFile(f"{path} must map file names to their metadata.")
    for name, meta in data.items():
        problem = _metadata_problem(meta)
        if problem:
            raise BadCorpusFile(f"{path}: the entry for {name} {problem}; fix it or remove it.")
    return data


TEXT_FIELDS = ("title", "author", "publisher", "kind", "url")


def _metadata_problem(meta: object) -> str | None:
    """What is wrong with one file's entry in `sources.json`, or None."""
    if not isinstance(meta, dict):
        return "must be an object with title, author, publisher, kind, url and furniture"
    wrong = [f for f in TEXT_FIELDS if meta.get(f) is not None and not isinstance(meta[f], str)]
    if wrong:
        return f"has {' and '.join(wrong)} that {'is' if len(wrong) == 1 else 'are'} not text"
    furniture = meta.get("furniture", [])
    if not isinstance(furniture, list) or not all(isinstance(f, str) for f in furniture):
        return "has furniture that is not a list of regular expressions"
    for pattern in furniture:
        try:
            re.compile(pattern)
        except re.error as exc:
            return f"has a furniture pattern that is not a regular expression ({pattern!r}: {exc})"
    return None


def read_text_file(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise BadCorpusFile(f"{path.name} is not a text file (it contains binary data); it was skipped.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadCorpusFile(f"{path.name} is not UTF-8 text; it was skipped (convert it to UTF-8).") from exc


def clean_text(raw: str, furniture: list[str] = ()) -> str:
    """Normalise line ends and blank lines, and drop lines that match a furniture pattern.

    Inside a line nothing changes, so a quote of the cleaned text is a quote of the source.
    """
    patterns = [re.compile(p, re.IGNORECASE) for p in furniture]
    kept: list[str] = []
    for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.rstrip()
        if not line.strip(" \t\u00a0\u200b"):
            line = ""
        elif any(p.fullmatch(line.strip()) for p in patterns):
            continue
        kept.append(line)
    text = "\n".join(kept)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


class _HTMLText(HTMLParser):
    BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "table",
        "pre",
        "hr",
    }
    SKIP = {"script", "style", "noscript", "template", "head", "nav"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIP:
            self._skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")
            if tag == "li":
                self.parts.append("• ")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(raw: str) -> tuple[str, str]:
    """The visible text of an HTML page, one block per paragraph, and its <title>."""
    parser = _HTMLText()
    parser.feed(raw)
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    return "\n".join(lines), parser.title.strip()


def _document(doc_id: str, meta: dict, text: str, fallback_title: str, **layout) -> Document:
    return Document(
        doc_id=doc_id,
        title=str(meta.get("title") or fallback_title),
        author=meta.get("author"),
        publisher=meta.get("publisher"),
        url=meta.get("url"),
        kind=meta.get("kind"),
        text=text,
        **layout,
    )


def read_layout_file(path: Path, meta: dict) -> Document | None:
    """A PDF or Word file as a document with its pages and headings; None when it has no text.

    Furniture patterns drop whole paragraphs here (a PDF's lines are joined into paragraphs first), and
    the offsets of pages and headings are moved to match."""
    from index.pdf import read_pdf
    from index.word import read_docx

    read = read_pdf(path) if path.suffix.lower() == ".pdf" else read_docx(path)
    patterns = [re.compile(p, re.IGNORECASE) for p in meta.get("furniture", [])]
    levels = dict(read.headings)
    parts, headings, moved = [], [], []  # moved: (old offset, new offset) of each paragraph
    old = new = 0
    for paragraph in read.text.split("\n\n"):
        moved.append((old, new))
        if not any(p.fullmatch(paragraph) for p in patterns):
            if old in levels:
                headings.append([new, levels[old]])
            parts.append(paragraph)
            new += len(paragraph) + 2
        old += len(paragraph) + 2
    text = "\n\n".join(parts)
    if not text.strip():
        return None
    pages = None
    if read.pages:  # a page starts where its first paragraph now starts
        pages = [next((n for o, n in moved if o >= start), len(text)) for start in read.pages]
    layout = {"headings": headings, "pages": pages}
    return _document(path.name, meta, text, read.title or path.stem, **layout)


def read_collection(path: Path, meta: dict, report: CorpusReport) -> list[Document]:
    documents = []
    first_line: dict[str, int] = {}  # record id -> the line that holds it
    text = read_text_file(path)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record_id, body = str(record["id"]), record["text"]
            if not isinstance(body, str) or not isinstance(record.get("title") or "", str):
                raise TypeError("text and title must be strings")
        except (json.JSONDecodeError, KeyError, TypeError):
            report.skipped.append(f'{path.name} line {number}: not a {{"id", "title", "text"}} record')
            continue
        if record_id in first_line:  # two documents with one id: quotes of one would be cut from the other
            report.skipped.append(
                f'{path.name} line {number}: id "{record_id}" is already used on line {first_line[record_id]}'
            )
            continue
        first_line[record_id] = number
        cleaned = clean_text(body, meta.get("furniture", []))
        if cleaned:
            title = str(record.get("title") or record_id)
            documents.append(_document(f"{path.name}#{record_id}", {**meta, "title": title}, cleaned, title))
    return documents


def read_corpus(corpus: Path) -> tuple[list[Document], CorpusReport]:
    """Every document of a corpus folder (or one file), cleaned; unreadable files are reported, not fatal."""
    sources = load_sources(corpus)
    report = CorpusReport()
    documents: list[Document] = []
    for path in corpus_files(corpus):
        meta = sources.get(path.name) or {}
        try:
            if path.suffix.lower() in COLLECTION_SUFFIXES:
                documents.extend(read_collection(path, meta, report))
                continue
            if path.suffix.lower() in LAYOUT_SUFFIXES:
                document = read_layout_file(path, meta)
                if document is None:
                    report.skipped.append(f"{path.name} has no text after cleaning; it was skipped.")
                else:
                    documents.append(document)
                continue
            raw = read_text_file(path)
            fallback = path.stem
            if path.suffix.lower() in (".html", ".htm"):
                raw, html_title = html_to_text(raw)
                fallback = html_title or fallback
            text = clean_text(raw, meta.get("furniture", []))
        except BadCorpusFile as exc:
            report.skipped.append(str(exc))
            continue
        if text:
            documents.append(_document(path.name, meta, text, fallback))
        else:
            report.skipped.append(f"{path.name} has no text after cleaning; it was skipped.")
    report.skipped.extend(not_read(corpus))
    if corpus.is_dir():  # a misspelt name leaves a document without its publisher and link, silently
        present = {path.name for path in corpus_files(corpus)}
        report.notes.extend(
            f"{SOURCES_FILE} describes {name}, which is not in the corpus folder (a misspelt file name?)."
            for name in sorted(set(sources) - present)
        )
    if not documents:
        raise EmptyCorpus(
            f"No readable documents in {corpus} (.txt, .md, .html, .pdf, .docx or .jsonl); add some and rebuild."
        )
    return documents, report
