import json

import pytest

from index.errors import EmptyCorpus, QAError
from index.ingest import clean_text, read_corpus
from index.passages import segment
from index.structure import find_blocks
from tests.conftest import ARTICLE, SEED_CORPUS, THREAD, write_corpus


def seed_documents():
    documents, report = read_corpus(SEED_CORPUS)
    return {d.doc_id: d for d in documents}, report


def test_seed_documents_have_metadata_and_no_page_furniture():
    docs, report = seed_documents()
    assert report.skipped == []
    article, thread = docs[ARTICLE], docs[THREAD]
    assert article.publisher == "EVN Report" and article.url.startswith("https://evnreport.com/")
    assert thread.author.startswith("Rebecca Vincent")
    for furniture in ("top of page", "bottom of page", "Featured Review", "Tag Cloud"):
        assert furniture not in article.text
    assert "unroll" not in thread.text and "Latest Threads Unrolled" not in thread.text
    assert thread.text.endswith("secure peace and justice. /14")
    assert "Since December 12, 2022" in article.text


def test_furniture_patterns_come_from_sources_json():
    raw = "Menu\nReal text here.\nShare this\n"
    assert clean_text(raw, ["menu", r"share .*"]) == "Real text here."
    assert clean_text(raw, []) == "Menu\nReal text here.\nShare this"


@pytest.mark.parametrize(
    "entry, said",
    [
        ("a plain string", "must be an object with title, author, publisher, kind, url and furniture"),
        ({"title": 5, "url": ["x"]}, "has title and url that are not text"),
        ({"furniture": "Menu"}, "has furniture that is not a list of regular expressions"),
        ({"furniture": ["(unclosed"]}, "has a furniture pattern that is not a regular expression ('(unclosed'"),
    ],
)
def test_a_malformed_sources_entry_is_refused_in_one_sentence_naming_the_file(tmp_path, entry, said):
    corpus = write_corpus(tmp_path / "c", {"a.txt": "Alpha beta. Gamma delta."}, {"a.txt": entry})
    with pytest.raises(QAError, match=r"sources.json: the entry for a.txt ") as caught:
        read_corpus(corpus)
    assert said in str(caught.value) and str(caught.value).endswith("; fix it or remove it.")


def test_thread_posts_get_post_locators():
    docs, _ = seed_documents()
    thread = docs[THREAD]
    blocks = find_blocks(thread.doc_id, thread.text)
    assert [b.locator for b in blocks] == [f"post {n}/14" for n in range(1, 15)]
    seventh = thread.text[blocks[6].start : blocks[6].end]
    assert seventh.startswith("The Aliyev regime clearly benefits") and not seventh.endswith("7/")


def test_article_sections_paragraphs_and_bullets():
    docs, _ = seed_documents()
    article = docs[ARTICLE]
    locators = {article.text[b.start : b.end][:40]: b.locator for b in find_blocks(article.doc_id, article.text)}
    assert locators["Since December 12, 2022, around 500 Azer"] == "paragraph 1"
    assert locators["The lack of the international mandate of"] == (
        "Mid-term Objectives › Escalating the Controversy in Relation to the Russian Peacekeepers, paragraph 3"
    )
    assert locators["Armenia has already informed the Interna"].endswith("Quasi-Legal Mechanisms, bullet 2")
    assert not any(text.startswith("•") for text in locators)


def test_every_passage_and_sentence_is_verbatim_and_never_crosses_a_block():
    docs, _ = seed_documents()
    seg = segment(list(docs.values()))
    assert len(seg.passages) > 50 and len(seg.sentences) > len(seg.passages)
    for passage in seg.passages:
        text = docs[passage.doc_id].text[passage.start : passage.end]
        assert text == text.strip() and text
        assert "\n\n" not in text  # a passage stays inside one paragraph, post or bullet
        inner = seg.sentences[passage.first_sentence : passage.last_sentence]
        assert inner[0].start == passage.start and inner[-1].end == passage.end
    for sentence in seg.sentences:
        text = docs[sentence.doc_id].text[sentence.start : sentence.end]
        assert text == text.strip() and text


def test_unlisted_file_is_titled_by_its_name_and_binary_file_is_skipped(tmp_path):
    folder = write_corpus(
        tmp_path / "c",
        {
            "notes.md": "# Notes\n\nThe river floods in spring. Farmers move uphill.\n",
            "image.txt": b"\x89PNG\x00\x00binary",
            "latin1.txt": "caf\xe9 au lait".encode("latin-1"),
        },
    )
    documents, report = read_corpus(folder)
    assert [d.title for d in documents] == ["notes"]
    assert len(report.skipped) == 2
    assert any("image.txt is not a text file" in s for s in report.skipped)
    assert any("latin1.txt is not UTF-8" in s for s in report.skipped)


def test_jsonl_collection_and_html(tmp_path):
    records = [
        {"id": "p1", "title": "Rivers", "text": "The Nile is long. It flows north."},
        {"id": "p2", "title": "Deserts", "text": "The Sahara is hot."},
    ]
    folder = write_corpus(
        tmp_path / "c",
        {
            "collection.jsonl": "\n".join(json.dumps(r) for r in records) + "\nnot json\n",
            "page.html": "<html><head><title>A page</title><script>alert(1)</script></head>"
            "<body><h1>A page</h1><p>First para.</p><ul><li>An item.</li></ul></body></html>",
        },
    )
    documents, report = read_corpus(folder)
    by_id = {d.doc_id: d for d in documents}
    assert by_id["collection.jsonl#p1"].title == "Rivers"
    assert by_id["collection.jsonl#p2"].text == "The Sahara is hot."
    assert "page.html" in by_id and "alert" not in by_id["page.html"].text
    assert by_id["page.html"].title == "A page" and "First para." in by_id["page.html"].text
    assert report.skipped and "line 3" in report.skipped[0]


def test_a_collection_keeps_one_document_per_id_and_skips_records_that_are_not_text(tmp_path):
    records = [
        {"id": "z", "title": "First", "text": "The first record's text."},
        {"id": "z", "title": "Again", "text": "Another record reusing the id."},
        {"id": "n", "title": "Number", "text": 7},
        {"id": 5, "title": None, "text": "A numeric id is fine."},
    ]
    folder = write_corpus(tmp_path / "c", {"c.jsonl": "\n".join(json.dumps(r) for r in records)})
    documents, report = read_corpus(folder)
    assert [(d.doc_id, d.text) for d in documents] == [
        ("c.jsonl#z", "The first record's text."),
        ("c.jsonl#5", "A numeric id is fine."),
    ]
    assert report.skipped == [
        'c.jsonl line 2: id "z" is already used on line 1',
        'c.jsonl line 3: not a {"id", "title", "text"} record',
    ]


def test_files_and_folders_that_are_not_read_are_named(tmp_path):
    folder = write_corpus(tmp_path / "c", {"a.txt": "Alpha beta.", "slides.pptx": b"PK\x03\x04", ".hidden": "x"}, {})
    (folder / "more").mkdir()
    (folder / "more" / "b.txt").write_text("Gamma delta.")
    documents, report = read_corpus(folder)
    assert [d.doc_id for d in documents] == ["a.txt"]
    assert report.skipped == [
        "more/ is a folder; only the files directly in the corpus folder are read.",
        "slides.pptx is not a .txt, .md, .html, .pdf, .docx or .jsonl file; it was skipped (convert it to text).",
    ]


def test_a_sources_entry_for_a_file_that_is_not_there_is_noted(tmp_path):
    # A misspelt name in sources.json would leave the real file without its publisher and link.
    folder = write_corpus(tmp_path / "c", {"report.txt": "Alpha beta."}, {"reprot.txt": {"publisher": "P"}})
    documents, report = read_corpus(folder)
    assert documents[0].publisher is None and report.skipped == []
    assert report.notes == [
        "sources.json describes reprot.txt, which is not in the corpus folder (a misspelt file name?)."
    ]


def test_empty_corpus_says_what_to_do(tmp_path):
    with pytest.raises(EmptyCorpus, match="No readable documents"):
        read_corpus(write_corpus(tmp_path / "empty", {"blank.txt": "   \n"}))
