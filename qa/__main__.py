"""`python -m qa ask [QUESTION] [--json] [--index DIR]`: answer with verbatim quotes and citations.

With no QUESTION it reads one question per line from standard input and answers each in turn,
loading the model once. With --json it prints one JSON line per input line, blank lines included (as
an error object), so scripts can pair questions and answers by line number. As text, piped questions
are each printed above their answer ("Q: …"), since no one typed them at a prompt.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from index.config import at_least_one
from qa.types import contexts_shown


def render_text(answer) -> str:
    lines = []
    if answer.searched:
        lines.append(f"(searched for: {answer.searched})")
    if answer.only_from:
        lines.append("(quoting only: " + "; ".join(f"“{t}”" for t in answer.only_from) + ")")
    if answer.abstained:
        lines.append(answer.notice or "The corpus does not answer this.")
        if answer.related:
            lines.append("")
            lines.append("Closest passages (not answers):")
    shown = answer.quotes or answer.related
    for number, (quote, context) in enumerate(zip(shown, contexts_shown(shown), strict=True), 1):
        lines.append("")
        indent = f"{number}. "
        if context:  # the sentence the quote points back to ("She has also stated …"), apart
            before = f"(just before it: “{context.text}”)"
            lines.append(textwrap.fill(before, width=100, initial_indent=indent, subsequent_indent="   "))
            indent = "   "
        lines.append(textwrap.fill(f"“{quote.text}”", width=100, initial_indent=indent, subsequent_indent="   "))
        lines.append(f"   — {quote.citation()}")
    return "\n".join(lines)


def readable(text: str) -> str:
    """The text with what Python kept of bytes that are not UTF-8 (lone surrogates, from standard input or
    an argument) shown as "�", so that it can be printed and sent as JSON."""
    try:  # the bytes Python could not decode, back as they came: one "�" each
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # other lone surrogates
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa", description="Answer questions with quotes from the corpus.")
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="answer a question (or one per line of standard input)")
    ask.add_argument("question", nargs="?", help="the question; omit it to read questions from standard input")
    ask.add_argument("--json", action="store_true", help="print JSON (one object per line for standard input)")
    ask.add_argument("--index", type=Path, help="index directory (default: var/index, or QA_INDEX)")
    ask.add_argument(
        "--corpus", type=Path, help="corpus to check the index against (default: the one it was built from)"
    )
    ask.add_argument("--mode", choices=["bm25", "dense", "hybrid"], help="retrieval mode (default: hybrid)")
    ask.add_argument("-k", type=at_least_one, help="at most this many quotes (default: 3)")
    args = parser.parse_args(argv)

    from index.errors import BadQuestion, QAError
    from qa.engine import Engine
    from qa.settings import Settings

    try:
        settings = Settings.from_env(index=args.index, corpus=args.corpus, mode=args.mode, quotes=args.k)
        engine = Engine.load(settings)
    except (QAError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def respond(question: str, echo: bool = False) -> int:
        question = readable(question)
        if echo:  # a piped question: say which question the answer below is for
            print(textwrap.fill(f"Q: {question.strip()}", width=100, subsequent_indent="   "), flush=True)
        try:
            answer = engine.answer(question)
        except BadQuestion as exc:
            if args.json:
                print(json.dumps({"question": question, "error": str(exc)}, ensure_ascii=False), flush=True)
            else:
                print(f"error: {exc}" + ("\n" if echo else ""), flush=True)
            return 1
        if args.json:
            print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
        else:
            print(render_text(answer) + "\n", flush=True)
        return 0

    if args.question is not None:
        return respond(args.question)
    interactive = sys.stdin.isatty() and not args.json
    if interactive:
        print("Ask a question about the corpus (an empty line or Ctrl-D ends).", flush=True)
    engine.warm_up()
    # A line that is not UTF-8 is answered (its bad bytes shown as "�"), not a UnicodeDecodeError.
    sys.stdin.reconfigure(errors="surrogateescape")
    status = 0
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line or (interactive and not line.strip()):
            break
        # JSON lines answer line for line, a blank line with its error, so output line i is input line i.
        if line.strip() or args.json:
            status = max(status, respond(line.rstrip("\n"), echo=not interactive and not args.json))
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C
        print("\nInterrupted.", file=sys.stderr)
        sys.exit(130)
