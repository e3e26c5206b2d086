"""PDF and Word files made here: their text, locators and offsets, what is skipped, and a question answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.build import build
from index.ingest import read_corpus
from index.passages import segment
from qa.engine import Engine
from qa.settings import Settings
from tests.conftest import write_corpus

HEADER, TOP = "Corridor Monitoring Report", 800


def make_pdf(path: Path, pages: list[list[tuple[str, float, float]]], **options) -> Path:
    """A PDF whose pages hold (text, font size, height from the bottom) lines, with a running header and
    a page-number footer on every page, as an office suite writes one."""
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=(595, 842), **options)
    pdf.setTitle("Corridor Monitoring Report")
    for number, lines in enumerate(pages, 1):
        pdf.setFont("Helvetica", 9)
        pdf.drawString(72, TOP + 10, HEADER)
        pdf.drawString(280, 30, f"Page {number} of {len(pages)}")
        for text, size, y in lines:
            pdf.setFont("Helvetica-Bold" if size > 12 else "Helvetica", size)
            pdf.drawString(72, y, text)
        pdf.showPage()
    pdf.save()
    return path


REPORT_PAGES = [
    [
        ("Road Access", 18, 740),
        ("The convoy reached the checkpoint after long negoti-", 11, 710),
        ("ations with the local authorities in the region.", 11, 696),
        ("Fuel deliveries stopped entirely in the second week of", 11, 668),
        ("the month, and bakeries closed for lack of gas.", 11, 654),
    ],
    [
        ("Medical Evacuations", 18, 740),
        ("Forty patients were evacuated to Yerevan by the", 11, 710),
        ("Red Cross during the month of March.", 11, 696),
        ("Twelve of them were children in need of surgery.", 11, 668),
    ],
]


@pytest.fixture(scope="module")
def layout_corpus(tmp_path_factory) -> Path:
    import docx
    from PIL import Image
    from reportlab.lib.pdfencrypt import StandardEncryption

    folder = tmp_path_factory.mktemp("layout")
    make_pdf(folder / "report.pdf", REPORT_PAGES)
    make_pdf(folder / "locked.pdf", REPORT_PAGES[:1], encrypt=StandardEncryption("secret", canPrint=0))
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer garbage")
    scan = Image.new("RGB", (400, 200), "white")
    scan.save(folder / "page.png")
    from reportlab.pdfgen import canvas

    scanned = canvas.Canvas(str(folder / "scan.pdf"))
    scanned.drawImage(str(folder / "page.png"), 72, 500, width=400, height=200)
    scanned.showPage()
    scanned.save()
    (folder / "page.png").unlink()

    word = docx.Document()
    word.core_properties.title = "Field Notes"
    word.add_heading("Field Notes", 0)
    word.add_heading("Supplies", 1)
    word.add_paragraph("Insulin ran out at the regional hospital in February.")
    word.add_paragraph("Baby formula is rationed by the village councils.", style="List Bullet")
    word.add_paragraph("Flour arrives once a week by the Red Cross.", style="List Bullet")
    word.add_heading("Schools", 2)
    table = word.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Schools closed"
    table.cell(0, 1).text = "Forty-two schools closed in the district because of the cold."
    table.cell(1, 0).text = "Pupils affected"
    table.cell(1, 1).text = "About six thousand pupils stayed at home."
    word.save(folder / "notes.docx")
    write_corpus(folder, {}, {"report.pdf": {"url": "https://example.org/report.pdf", "publisher": "Monitor"}})
    return folder


@pytest.fixture(scope="module")
def read(layout_corpus):
    documents, report = read_corpus(layout_corpus)
    return {d.doc_id: d for d in documents}, report


def test_a_pdf_is_read_in_order_with_words_joined_and_headers_and_footers_dropped(read):
    pdf = read[0]["report.pdf"]
    assert pdf.title == "Corridor Monitoring Report" and pdf.publisher == "Monitor"  # its own title
    assert "after long negotiations with the local authorities" in pdf.text and "negoti-" not in pdf.text
    assert HEADER not in pdf.text and "Page 1" not in pdf.text and "of 2" not in pdf.text
    assert pdf.text.index("Road Access") < pdf.text.index("Fuel deliveries") < pdf.text.index("Forty patients")
    assert len(pdf.pages) == 2 and pdf.text[pdf.pages[1] :].startswith("Medical Evacuations")


def test_pdf_and_word_locators_say_page_or_section_and_offsets_hold(read):
    documents = list(read[0].values())
    segmented = segment(documents)
    by_text = {}
    texts = {d.doc_id: d.text for d in documents}
    for passage in segmented.passages:
        by_text[texts[passage.doc_id][passage.start : passage.end]] = passage.locator
    assert by_text["Forty patients were evacuated to Yerevan by the Red Cross during the month of March."] == (
        "Medical Evacuations, page 2, paragraph 1"
    )
    assert by_text["Twelve of them were children in need of surgery."] == "Medical Evacuations, page 2, paragraph 2"
    assert by_text["Insulin ran out at the regional hospital in February."] == "Supplies, paragraph 1"
    assert by_text["Flour arrives once a week by the Red Cross."] == "Supplies, bullet 2"
    assert by_text["Forty-two schools closed in the district because of the cold."] == "Supplies › Schools, paragraph 2"
    assert "• Baby formula is rationed" in texts["notes.docx"]


def test_scanned_encrypted_and_damaged_pdfs_are_named_and_skipped(read):
    documents, report = read
    assert set(documents) == {"report.pdf", "notes.docx"}
    assert (
        "scan.pdf has no text to index: it has no text layer (a scan?); it was skipped (run it through OCR first)."
        in report.skipped
    )
    assert "locked.pdf is encrypted; it was skipped (save a copy without a password and rebuild)." in report.skipped
    assert any(s.startswith("broken.pdf cannot be read as a PDF (it is damaged") for s in report.skipped)


def test_a_question_is_answered_from_each_with_its_locator(layout_corpus, encoder, tmp_path):
    out = tmp_path / "index"
    summary = build(layout_corpus, out, encoder)
    assert any("locked.pdf is encrypted" in line for line in summary.lines())
    engine = Engine.load(Settings(index=out))
    answer = engine.answer("How many patients were evacuated?")
    top = answer.quotes[0]
    assert (top.doc_id, top.locator) == ("report.pdf", "Medical Evacuations, page 2, paragraph 1")
    assert top.link.startswith("https://example.org/report.pdf#:~:text=Forty%20patients")
    answer = engine.answer("How many pupils had to stay at home?")  # from a table's cell
    assert (answer.quotes[0].doc_id, answer.quotes[0].locator) == ("notes.docx", "Supplies › Schools, paragraph 4")
    assert answer.quotes[0].link is None  # the Word file has no url


def test_show_in_source_for_a_pdf_quote_shows_its_page(layout_corpus, encoder, tmp_path):
    from ui.handler import Conversation, show_in_source

    out = tmp_path / "index"
    build(layout_corpus, out, encoder)
    engine = Engine.load(Settings(index=out))
    quote = engine.answer("How many patients were evacuated?").quotes[0]
    html, _ = show_in_source(engine, Conversation(quotes=(quote,)), 0)
    assert "page 2 of 2" in html and '<mark id="qa-highlight">Forty patients' in html
    assert "Road Access" not in html  # page 1 is not shown


def test_a_file_that_is_not_a_word_document_is_skipped_in_one_sentence(tmp_path):
    folder = write_corpus(tmp_path / "c", {"a.txt": "Alpha beta.", "fake.docx": b"not a zip at all"})
    documents, report = read_corpus(folder)
    assert [d.doc_id for d in documents] == ["a.txt"]
    assert report.skipped == [
        "fake.docx cannot be read as a Word document (it is damaged or not .docx); it was skipped."
    ]
