"""The Gradio app, built around the plain functions of `ui.handler` by a factory."""

from __future__ import annotations

import os

from qa.engine import Engine
from ui.engines import EnginePool
from ui.handler import ANSWER_QUOTES, Conversation, ask_api, quote_choices, respond, show_in_source
from ui.render import corpus_html

EXAMPLES = [
    "How long has the Lachin corridor been blocked?",
    "What about the gas?",
    "How many children are stranded in Armenia?",
    "Why is the author usually quiet on the conflict?",
    "What does the article propose about a humanitarian airlift?",
    "What intimidation tactics do the protesters use?",
    "Which city was shelled according to the thread?",
]
SCROLL_TO_HIGHLIGHT = """() => { setTimeout(() => {
  const mark = document.getElementById('qa-highlight');
  if (mark) mark.scrollIntoView({block: 'center'});
}, 50); }"""
SOURCE_HINT = "<p>Choose a quote and press “Show in source”.</p>"
CSS = """
.qa-doc-text { max-height: 60vh; overflow-y: auto; line-height: 1.5; }
#qa-highlight { background: #ffe066; }
.qa-lead-in { background: #f1f1f1; }
.qa-context { color: #666; }
blockquote.qa-quote { border-left: 3px solid #999; margin: 0.4em 0; padding-left: 0.8em; }
"""


def launch_options() -> dict:
    """Theme (system fonts: nothing fetched from the internet) and CSS, which Gradio takes at launch."""
    import gradio as gr

    fonts = ["ui-sans-serif", "system-ui", "sans-serif"]
    return {"theme": gr.themes.Default(font=fonts, font_mono=["ui-monospace", "monospace"]), "css": CSS}


def build_app(engine: Engine | EnginePool):
    """The chat over an engine, or over the pool of engine processes a server answers with (`ui.engines`)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    def on_ask(question, history, conversation):
        history, conversation, _ = respond(engine, question, history, conversation)
        choices = quote_choices(conversation)
        picked = 0 if choices else None
        _, copied = show_in_source(engine, conversation, picked)
        picker_label, copy_label = conversation.labels()
        return (
            history,
            conversation,
            "",
            gr.update(choices=choices, value=picked, label=picker_label),
            gr.update(value=copied, label=copy_label),
            SOURCE_HINT,
        )

    def on_show(index, conversation):
        return show_in_source(engine, conversation, index)

    def on_clear():
        picker_label, copy_label = Conversation().labels()
        return (
            [],
            Conversation(),
            "",
            gr.update(choices=[], value=None, label=picker_label),
            gr.update(value="", label=copy_label),
            SOURCE_HINT,
        )

    def api(question: str, previous: str = "") -> dict:
        """Answer a question with verbatim quotes and citations (JSON)."""
        return ask_api(engine, question, previous or None)

    with gr.Blocks(title="Corpus QA — quotes with citations", analytics_enabled=False) as app:
        conversation = gr.State(Conversation())
        gr.Markdown(
            "## Ask the corpus\nEvery answer is a verbatim quote with its source. "
            "When the corpus does not answer, the app says so."
        )
        with gr.Row():
            with gr.Column(scale=3):
                # No "share" button: it posts to Hugging Face Spaces discussions, which this app never reaches.
                chatbot = gr.Chatbot(
                    label="Answers", height=520, sanitize_html=True, buttons=["copy", "copy_all"], elem_id="qa-chat"
                )
                question = gr.Textbox(
                    label="Your question",
                    placeholder="Ask about the documents…",
                    lines=1,
                    max_lines=4,
                    submit_btn=True,
                    elem_id="qa-question",
                )
                clear = gr.Button("Clear conversation", variant="secondary", elem_id="qa-clear")
                gr.Examples(EXAMPLES, inputs=question, label="Example questions")
            with gr.Column(scale=2):
                picker = gr.Radio(label=ANSWER_QUOTES[0], choices=[], elem_id="qa-picker")
                show = gr.Button("Show in source", elem_id="qa-show")
                copy = gr.Textbox(
                    label=ANSWER_QUOTES[1], lines=4, interactive=False, buttons=["copy"], elem_id="qa-copy"
                )
                source = gr.HTML(SOURCE_HINT, elem_id="qa-source")
                with gr.Accordion("The corpus", open=False):
                    gr.HTML(corpus_html(engine.documents.listing()), elem_id="qa-corpus")

        question.submit(
            on_ask,
            [question, chatbot, conversation],
            [chatbot, conversation, question, picker, copy, source],
            api_visibility="private",
        )
        show.click(on_show, [picker, conversation], [source, copy], api_visibility="private").then(
            None, None, None, js=SCROLL_TO_HIGHLIGHT
        )
        picker.input(on_show, [picker, conversation], [source, copy], api_visibility="private").then(
            None, None, None, js=SCROLL_TO_HIGHLIGHT
        )
        cleared = [chatbot, conversation, question, picker, copy, source]
        clear.click(on_clear, None, cleared, api_visibility="private")
        # The chat's own trash icon forgets the conversation too: a follow-up then stands alone.
        chatbot.clear(on_clear, None, cleared, api_visibility="private")
        gr.api(api, api_name="ask")
    return app
