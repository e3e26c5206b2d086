import pytest

from index.build import build
from index.embed import content_pieces, question_pieces
from index.errors import BadQuestion
from index.lead_in import points_back
from index.types import Document
from qa.engine import NOT_ANSWERED, Engine
from qa.question import NOTHING_ASKED, OTHER_SCRIPT
from qa.settings import Settings
from qa.sources import SourceNames
from tests.conftest import ARTICLE, THREAD, write_corpus


def metadata_only(doc_id, **meta):
    """A document with no text, described as `sources.json` would describe it."""
    fields = {"title": doc_id, "author": None, "publisher": None, "url": None, "kind": None} | meta
    return Document(doc_id=doc_id, text="", **fields)


def seed_like_sources():
    """The thread and the article, as the seeds' `sources.json` records them (ids "t" and "a")."""
    thread = metadata_only(
        "t", author="Rebecca Vincent (@rebecca_vincent)", kind="social media thread, 14 numbered posts"
    )
    article = metadata_only("a", publisher="EVN Report", kind="analysis article with section headings")
    return thread, article


def test_a_question_names_a_source_by_kind_publisher_or_author():
    doc = metadata_only
    thread, article = seed_like_sources()
    names = SourceNames([thread, article, doc("plain.txt")])
    assert names.named("Which city was shelled according to the thread?") == {"t"}
    assert names.named("What does Rebecca Vincent say?") == {"t"}
    assert names.named("Who are the protesters, according to the EVN Report article?") == {"a"}
    assert names.named("Who are the protesters?") == set()
    assert names.named("What was reported about the mines?") == set()  # words, not stems
    # Only the thread's author is known, so "the writer" or "the author" means the thread.
    assert names.named("Why was the writer thrown out of the nation?") == {"t"}
    assert names.named("What did the authorities decide?") == set()
    authored = SourceNames([thread, doc("a2", author="Someone Else", kind="analysis article")])
    assert authored.named("What does the author believe?") == set()  # both have authors: no restriction
    both = SourceNames([thread, article])
    assert both.named("How does the thread differ from the article?") == set()  # naming all restricts nothing
    assert both.named("What does the author of the article propose?") == set()  # "author" + "article": both
    assert SourceNames([doc("x"), doc("y")]).named("the article") == set()  # no metadata, no names


def test_the_phrase_naming_a_source_is_not_searched_for():
    names = SourceNames(list(seed_like_sources()))
    assert names.unnamed("What is Nakhichevan according to the article?") == "What is Nakhichevan?"
    assert names.unnamed("Who are the protesters, according to the EVN Report article?") == "Who are the protesters?"
    assert names.unnamed("According to the thread, why was the author expelled?") == "Why was the author expelled?"
    assert names.unnamed("Who, according to Rebecca Vincent, is the problem?") == "Who is the problem?"
    # Words that name no document are what the question is about; a bare phrase is left as it is.
    kept = "What happened according to Human Rights Watch?"
    assert names.unnamed(kept) == kept
    assert names.unnamed("According to the article?") == "According to the article?"
    assert names.unnamed("Who is the problem?") == "Who is the problem?"
    unnamed = SourceNames([metadata_only("x")])
    assert unnamed.unnamed("What is X according to the article?") == "What is X according to the article?"


@pytest.mark.parametrize(
    "sentence, expected",
    [
        ("She has also stated that the Russian side is actively working to reduce the escalation.", True),
        ("They use and broadcast intimidation tactics, such as loud music.", True),
        ("In that case, the UN, EU and U.S. should consider sanctions against Azerbaijan.", True),
        ("It has no other connection with the world – neither by land nor by air.", True),
        ("It is also an attempt to accuse Armenia of blocking the borders.", True),
        ("“This is not only a way to defend an illegitimate action.", True),
        ("Moreover, they started presenting allegations.", True),
        ("It is important to note that they have been deprived of most other natural resources.", False),
        ("It is worth recalling that Azerbaijan has one of the lowest democracy rankings.", False),
        ("There is overwhelming evidence that the protest is not a genuine grassroot movement.", False),
        ("Italy and Thailand sent observers.", False),  # "It…", "Th…" inside a word do not count
        ("Here the thread ends.", False),
        ("7/ They blocked the road again.", True),  # a post number first, as some threads put it
        ("7/ It is worth recalling that the road was open.", False),
        ("Meanwhile, Nagorno-Karabakh is an enclave that was shelled for 44 days in 2020.", False),
        ("At the same time, Azerbaijan seems to be aiming to establish checkpoints.", False),
        ("However, even if a humanitarian airlift is initiated, it will resolve only short-term needs.", True),
        ("Maria Zakharova, the spokesperson of the Russian Foreign Ministry, has expressed concern.", False),
    ],
)
def test_a_sentence_that_opens_by_pointing_back_is_recognised(sentence, expected):
    assert points_back(sentence) is expected


# --- answering with the real model and corpus ------------------------------------------------------


def check_verbatim(engine, answer):
    texts = {d.doc_id: d.text for d in engine.stored.documents}
    for quote in [*answer.quotes, *answer.related]:
        assert texts[quote.doc_id][quote.start : quote.end] == quote.text


@pytest.mark.parametrize(
    "question, doc, evidence",
    [
        ("How many children are stranded in Armenia?", ARTICLE, "including 270 children"),
        ("How many days was Nagorno-Karabakh shelled in 2020?", ARTICLE, "shelled for 44 days in 2020"),
        ("Where did the author visit an IDP settlement?", THREAD, "near Imishli"),
        ("What does the author believe about most people?", THREAD, "most people are fundamentally good"),
    ],
)
def test_answers_are_verbatim_cited_quotes(engine, question, doc, evidence):
    answer = engine.answer(question)
    assert not answer.abstained and 1 <= len(answer.quotes) <= 3
    check_verbatim(engine, answer)
    assert any(q.doc_id == doc and evidence in q.text for q in answer.quotes)
    top = answer.quotes[0]
    assert top.locator and top.title and (top.publisher or top.author)


@pytest.mark.parametrize(
    "question, evidence",
    [
        # Post 1 matches "the thread" and "shelled" as a whole; piece by piece, "city" meets "Ganja".
        ("Which city was shelled according to the thread?", "Ganja, which was shelled today"),
        ("What does Rule 53 of customary humanitarian law concern?", "Starvation of the Civilian Population"),
        # The country is named in one sentence, its trade in the next ("It has trade ..."): the pair,
        # scored as one span, covers the question where neither sentence does alone.
        ("With which countries does Nakhichevan have trade?", "It has trade not only with Azerbaijan"),
    ],
)
def test_the_top_quote_holds_the_answer(engine, question, evidence):
    answer = engine.answer(question)
    assert evidence in answer.quotes[0].text


def test_the_sentence_that_continues_a_quote_is_quoted(engine):
    # The question matches "If Azerbaijani authorities refuse, …"; the answer is the sentence that
    # continues it, "In that case, …".
    answer = engine.answer("What should happen if the Azerbaijani authorities refuse a humanitarian airlift?")
    assert any("the UN, EU and U.S. should consider sanctions against Azerbaijan" in q.text for q in answer.quotes)


def test_a_quote_that_points_back_comes_with_the_sentence_before_it(engine):
    answer = engine.answer("What intimidation tactics do the protesters use?")
    top = answer.quotes[0]
    assert top.text.startswith("They ") and "They use and broadcast intimidation tactics" in top.text
    text = engine.documents[top.doc_id].text
    context = top.context
    # Who "they" are: the sentence before the quote ("They are evidently state-sponsored …", when the
    # quote starts at "They use …", points back too, and brings the one before it).
    assert context.text.startswith("There is overwhelming evidence that the protest is not a genuine")
    assert text[context.start : context.end] == context.text and text[context.end : top.start].strip() == ""
    assert context.text not in top.text  # apart from the quote, which stays the span that was scored
    for quote in answer.quotes[1:]:
        assert (quote.context is None) == (not points_back(quote.text))
    plain = engine.answer("What did the spokesperson of the Russian Foreign Ministry say?").quotes[0]
    assert plain.text.startswith("Maria Zakharova") and plain.context is None


def test_context_never_reaches_across_a_heading_or_into_another_document(tmp_path, encoder):
    article = (
        "# Glaciers\n\n"
        "The Rhone glacier feeds Lake Geneva with meltwater every summer.\n\n"
        "## Retreat\n\n"
        "It has lost a third of its length since 1850 because summers grew warmer.\n\n"
        "## Tourism\n\n"
        "Visitors walk through an ice grotto that guides cut into the Rhone glacier every spring, a tunnel "
        "lit in blue that runs a hundred metres into the ice. "
        "They pay an entrance fee of twelve francs, and the money funds the white blankets that cover the "
        "grotto all summer, so that its ice melts more slowly than the rest of the glacier around it."
    )
    folder = write_corpus(tmp_path / "corpus", {"glaciers.md": article, "other.txt": "It rains a lot in Bergen."})
    build(folder, tmp_path / "index", encoder)
    engine = Engine.load(Settings(index=tmp_path / "index", corpus=folder), encoder)
    answers = {
        q: engine.answer(q, threshold=float("-inf")).quotes
        for q in (
            "How much length has the glacier lost?",
            "Who pays an entrance fee for the grotto?",
            "Where does it rain a lot?",
        )
    }
    lost = next(q for q in answers["How much length has the glacier lost?"] if q.text.startswith("It has lost"))
    assert lost.context is None  # the sentence before it sits under another heading
    fee = next(q for q in answers["Who pays an entrance fee for the grotto?"] if "entrance fee" in q.text)
    assert fee.text.startswith("They pay") and fee.context.text.startswith("Visitors walk through an ice grotto")
    rain = next(q for q in answers["Where does it rain a lot?"] if q.doc_id == "other.txt")
    assert rain.context is None  # first sentence of its document


def test_quotes_do_not_overlap_and_stay_short(engine):
    answer = engine.answer("What should the international peacekeeping operation consist of?")
    spans = sorted((q.doc_id, q.start, q.end) for q in answer.quotes)
    for (d1, _, e1), (d2, s2, _) in zip(spans, spans[1:], strict=False):
        assert d1 != d2 or e1 <= s2
    assert all(len(q.text.split()) <= 80 for q in answer.quotes)


@pytest.mark.parametrize(
    "question",
    [
        "How do I bake sourdough bread?",
        "Which planet is closest to the sun?",
    ],
)
def test_off_topic_questions_abstain(engine, question):
    answer = engine.answer(question)
    assert answer.abstained and answer.quotes == [] and answer.notice == NOT_ANSWERED
    check_verbatim(engine, answer)  # the closest passages, shown apart, are still verbatim


def test_the_asking_word_is_kept_among_the_question_pieces():
    # Word pieces as the model's tokenizer gives them (lower-cased, [CLS] first).
    whom = ["[CLS]", "whom", "does", "the", "author", "recommend", "reading", "?", "[SEP]"]
    assert question_pieces(whom, asking_weight=0) == content_pieces(whom) == [4, 5, 6]
    assert question_pieces(whom, asking_weight=3) == [1, 1, 1, 4, 5, 6]
    for_how_long = ["[CLS]", "for", "how", "long", "?", "[SEP]"]
    assert question_pieces(for_how_long, asking_weight=1) == [2, 3]
    # "what" asks for nothing in particular, and a "who" deep in the question does not ask.
    what = ["[CLS]", "what", "is", "the", "man", "who", "left", "called", "?", "[SEP]"]
    assert question_pieces(what, asking_weight=3) == content_pieces(what)
    # A follow-up searched after the question before it asks with its own opening.
    chain = ["[CLS]", "who", "is", "blocking", "it", "?", "since", "when", "?", "[SEP]"]
    assert [chain[i] for i in question_pieces(chain, asking_weight=2)] == ["blocking", "since", "when", "when"]


def test_settings_refuse_weights_that_cannot_work():
    with pytest.raises(ValueError, match="asking_weight"):
        Settings(asking_weight=-1)
    with pytest.raises(ValueError, match="at least 1"):
        Settings(reread=0)


@pytest.mark.parametrize(
    "question, evidence",
    [
        ("Whom does the author recommend reading on the conflict?", "@Tom_deWaal"),
    ],
)
def test_the_asking_word_finds_the_answer(engine, question, evidence):
    # "Whom" meets the name, "how quickly" the time it takes.
    assert any(evidence in q.text for q in engine.answer(question).quotes)


def test_a_question_sharing_no_word_with_the_corpus_is_refused(engine):
    sky = engine.answer("Why is the sky blue?")
    # Its best sentence has a cosine of 0.31 ("… blocked the operation of the airport"), but not one of
    # its words is in the corpus: the scorer's probability stays under the threshold.
    assert engine.question_terms("Why is the sky blue?")[1] == 0
    assert sky.abstained and sky.quotes == [] and sky.notice == NOT_ANSWERED


@pytest.mark.parametrize(
    "question, evidence",
    [
        ("Who could fly in relief supplies?", "World Food Programme"),
        ("Which UK-listed firm acquired gold deposits?", "Anglo-Asian Mining PLC"),
    ],
)
def test_paraphrased_answerable_questions_do_not_abstain(engine, question, evidence):
    answer = engine.answer(question)  # no content word shared with the evidence
    assert not answer.abstained and any(evidence in q.text for q in answer.quotes)


@pytest.mark.parametrize(
    "question, message",
    [
        ("", "Please type a question."),
        ("   \t\n ", "Please type a question."),
        ("?!?", "Please ask a question in words."),
        ("x" * 1001, "under 1,000 characters"),
    ],
)
def test_bad_questions_get_one_clear_sentence(engine, question, message):
    with pytest.raises(BadQuestion, match=message):
        engine.answer(question)


def test_control_characters_and_other_scripts_are_handled(engine):
    answer = engine.answer("How many children\x00 are\x1b stranded\u200b in Armenia?")
    assert answer.question == "How many children are stranded in Armenia?" and not answer.abstained
    other = engine.answer("Сколько детей застряло в Армении?")
    assert other.abstained and other.notice == OTHER_SCRIPT
    # Bytes that are not UTF-8, piped in, reach Python as lone surrogates ("b\\xe9b\\xe9s" in Latin-1).
    babies = engine.answer("How many b\udce9b\udce9s and children are stranded in Armenia?")
    assert babies.question == "How many b b s and children are stranded in Armenia?" and babies.quotes


def test_a_question_with_nothing_to_look_for_is_not_answered_with_guesses(engine):
    vague = engine.answer("What is it?")
    assert vague.abstained and not vague.quotes and not vague.related and vague.notice == NOTHING_ASKED
    # A follow-up made only of such words is searched with the question before it.
    follow = engine.answer(
        "And what about them?", search="How many Armenians are isolated by the blockade? And what about them?"
    )
    assert not follow.abstained


@pytest.mark.parametrize(
    "question, doc",
    [
        ("What is the article about?", ARTICLE),
        ("Who wrote the article?", ARTICLE),
        ("What does the EVN Report say?", ARTICLE),
        ("What does the thread say?", THREAD),
    ],
)
def test_a_question_about_a_whole_document_gets_its_citation_not_a_random_quote(engine, question, doc):
    answer = engine.answer(question)
    document = engine.documents[doc]
    assert answer.abstained and answer.quotes == [] and answer.related == []
    assert answer.notice.startswith("Quotes cannot describe a whole document; please ask what you want to know")
    assert f"“{document.title}”" in answer.notice and (document.author or document.publisher) in answer.notice
    # Asking something of it is answered from it, and so is asking for a stance it may state.
    assert engine.answer(question.rstrip("?") + " about the blockade of the Lachin corridor?").quotes
    # (Its top quote, that is: the reranker's low logit for so vague a question puts it under the threshold.)
    assert "I deeply believe" in engine.answer("What does the author believe?", threshold=float("-inf")).quotes[0].text


@pytest.mark.parametrize(
    "question, doc",
    [
        ("Which city was shelled according to the thread?", THREAD),
        ("What does the EVN Report say about mines?", ARTICLE),
        # The writer of the thread is the only author sources.json records.
        ("What language has the writer mastered?", THREAD),
    ],
)
def test_a_named_source_is_the_only_one_quoted(engine, question, doc):
    answer = engine.answer(question, threshold=float("-inf"))  # every quote read, none refused
    assert answer.quotes and {q.doc_id for q in answer.quotes} == {doc}
    assert answer.only_from == [engine.documents[doc].title]
    assert engine.answer("Which city was shelled?").only_from == []


def test_according_to_the_article_restricts_but_is_not_searched_for(engine):
    named = engine.answer("What is Nakhichevan according to the article?")
    plain = engine.answer("What is Nakhichevan?")
    assert named.question == "What is Nakhichevan according to the article?" and named.searched is None
    assert named.only_from == [engine.documents[ARTICLE].title] and plain.only_from == []
    assert engine.sources.unnamed(named.question) == plain.question  # the same text is searched
    assert any("Nakhichevan is not an enclave but an exclave" in q.text for q in named.quotes)


def test_follow_up_is_searched_with_the_previous_question(engine):
    from qa.followup import resolve

    search = resolve("And how many of them were children?", "How many Armenians are isolated by the blockade?")
    answer = engine.answer("And how many of them were children?", search=search)
    assert answer.searched == search and not answer.abstained
    assert "30,000 children" in answer.quotes[0].text
    assert resolve("Who is Maria Zakharova?", "Who is Hikmet Hajiyev?") is None
    # A long chain drops its earliest questions rather than have a short follow-up refused as too long.
    chain = (
        "Why are schools closed in Nagorno-Karabakh this winter? " * 17 + "How many kids are stranded in Armenia now?"
    )
    searched = resolve("And why?", chain, max_chars=1000)
    assert len(chain) + len(" And why?") > 1000 and len(searched) <= 1000
    assert searched.startswith("Why are schools") and searched.endswith("stranded in Armenia now? And why?")
    assert not engine.answer("And why?", search=searched).abstained
    # The follow-up's own opening says what kind of answer it wants: "When?" wants a date.
    when = engine.answer("When?", search=resolve("When?", "What did the UN Security Council do?"))
    assert when.quotes[0].text.startswith("On December 14, the UN Security Council gave the floor")
    # Short, but whole questions (they have a verb of their own) stand alone; fragments do not.
    assert resolve("Who are the protesters?", "What is the Lachin corridor?") is None
    assert resolve("Why aren’t schools open?", "What is the Lachin corridor?") is None
    assert resolve("On whose initiative?", "When was the resolution adopted?").endswith("On whose initiative?")
    assert resolve("Who did?", "Which country blocked the corridor?").endswith("Who did?")
