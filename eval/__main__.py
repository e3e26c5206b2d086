"""`python -m eval`: score the system on the eval/ question set, or on a public benchmark.

    python -m eval [--mode bm25|dense|hybrid|all] [--questions FILE] [--index DIR] [--json FILE]
    python -m eval squad --split tune|test [--data DIR] [--limit N] [--models DIR]
    python -m eval beir scifact [--split test|train] [--data DIR]
    python -m eval latency --index DIR --questions FILE [--threads N]   (one question per line; times only)
    python -m eval train-reranker [--out DIR] [--layers N] [--squad-questions N] [--own-repeats N] [--no-own]
    python -m eval reexport-reranker [--models DIR]   (the shipped reranker's weights in the current graph)
    python -m eval distill-reranker --out DIR [--teacher DIR] [--keep 0 2 4 5]   (a smaller reader taught by the full one)
    python -m eval train-scorer [--models DIR] [--no-own]   (after train-reranker; needs the SQuAD index)
    python -m eval ann [--index DIR] [--sizes N ...]   (HNSW against flat: recall@10, build and search time)
    python -m eval load --url URL [--api http|gradio] (--clients C --questions Q | --rate R --seconds S)
    python -m eval synthetic --source DIR --passages N --out DIR   (an index of recombined real sentences)

The exit code is 0 whenever the run completed, whatever the scores.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from index.config import at_least_one

METRICS = [
    ("hit@1", "Hit@1 (top quote covers the evidence)"),
    ("hit@3", "Hit@3"),
    ("mrr", "MRR"),
    ("f1@1", "token F1, top quote vs evidence"),
    ("median_quote_words", "median quote length (words)"),
    ("verbatim", "quotes verbatim at their offsets"),
    ("abstain_precision", "abstention precision"),
    ("abstain_recall", "abstention recall (unanswerable refused)"),
    ("offtopic_abstained", "off-topic questions refused"),
    ("false_abstention", "false abstentions (answerable refused)"),
    ("latency_p50_ms", "latency p50 (ms)"),
    ("latency_p95_ms", "latency p95 (ms)"),
]


def around(threshold: float) -> list[float]:
    """Thresholds around the scorer's, for the curve `make eval` prints (the best span's probability)."""
    steps = (-0.1, -0.05, -0.02, -0.01, 0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
    return sorted({min(1.0, max(0.0, round(threshold + d, 3))) for d in steps})


def question_set(args) -> int:
    from eval.questions import QUESTIONS_FILE, load_questions, unfindable
    from eval.report import fmt, table
    from eval.runner import by_kind, misses, refusals, run, summarize, sweep
    from qa.engine import Engine
    from qa.settings import Settings

    settings = Settings.from_env(index=args.index, models=args.models)
    engine = Engine.load(settings)
    engine.warm_up()
    threshold = engine.scorer.threshold
    questions = load_questions(args.questions or QUESTIONS_FILE)
    if args.limit:
        questions = questions[: args.limit]
    for problem in unfindable(questions, {d.doc_id: d.text for d in engine.stored.documents}):
        print(f"warning: {problem}", file=sys.stderr)
    modes = ["bm25", "dense", "hybrid"] if args.mode == "all" else [args.mode]
    results = {m: run(engine, questions, m, progress=not args.no_progress) for m in modes}
    summaries = {m: summarize(r, threshold) for m, r in results.items()}
    main_mode = "hybrid" if "hybrid" in modes else modes[0]

    n = summaries[main_mode]
    print(
        f"\n{n['questions']} questions ({n['answerable']} answerable, {n['unanswerable']} unanswerable), "
        f"abstention threshold {threshold} (the scorer's: the best span's probability)\n"
    )
    print(table(["metric", *modes], [[label, *(summaries[m][key] for m in modes)] for key, label in METRICS]))

    kinds = {m: by_kind(r, threshold) for m, r in results.items()}
    print("\nAnswerable questions by kind: Hit@1 per mode, and Hit@3 " + f"({main_mode})\n")
    print(
        table(
            ["kind", "questions", *(f"Hit@1 {m}" for m in modes), "Hit@3"],
            [
                [kind, s["answerable"], *(kinds[m][kind]["hit@1"] for m in modes), s["hit@3"]]
                for kind, s in kinds[main_mode].items()
            ],
        )
    )

    refused = refusals(results[main_mode], threshold)
    print(
        f"\nRefused at the threshold {threshold} ({main_mode}): "
        + "; ".join(f"{kind} {r} of {asked}" for kind, (r, asked) in refused.items())
    )
    print(f"\nAbstention curve around the threshold ({main_mode}): refused per kind of question\n")
    rows = sweep(results[main_mode], around(threshold))
    print(
        table(
            ["threshold", "answerable refused", "absent refused", "off-topic refused", "Hit@1", "Hit@3"],
            [
                [
                    f"{r['threshold']:.2f}" + (" *" if r["threshold"] == threshold else ""),
                    *(f"{a} of {b}" for a, b in refusals(results[main_mode], r["threshold"]).values()),
                    r["hit@1"],
                    r["hit@3"],
                ]
                for r in rows
            ],
        )
    )

    missed = misses(results[main_mode], threshold)
    print(f"\nMisses ({main_mode}): {len(missed)}")
    for r in missed:
        q = r.question
        print(f"\n[{q.id} {q.kind}] {q.question}")
        if r.searched != q.question:
            print(f"  searched: {r.searched}")
        print(f"  expected: {q.evidence!r} in {q.doc}" if q.answerable else "  expected: abstain")
        print(f"  probability {fmt(r.confidence)} (threshold {threshold})")
        if used := engine.synonyms_used(r.searched):
            print("  synonyms: " + "; ".join(f"{t} → {', '.join(found)}" for t, found in used.items()))
        for quote, hit in zip(r.quotes, r.hits, strict=True):
            mark = "✓" if hit else "✗"
            print(f"  {mark} score {quote.score:.3f}  {quote.locator}: {quote.text[:160]!r}")
    if args.json:
        payload = {
            "threshold": threshold,
            "summary": summaries,
            "by_kind": kinds,
            "sweep": rows,
            "results": {
                m: [
                    {
                        "question": asdict(r.question),
                        "searched": r.searched,
                        "confidence": r.confidence,
                        "hits": r.hits,
                        "verbatim": r.verbatim,
                        "latency_ms": r.latency_ms,
                        "quotes": [q.to_json() for q in r.quotes],
                    }
                    for r in rs
                ]
                for m, rs in results.items()
            },
        }
        Path(args.json).write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
        print(f"\nFull results written to {args.json}")
    return 0


def squad_command(args) -> int:
    from eval.benchmarks import squad
    from eval.report import table
    from qa.settings import Settings

    settings = Settings(models=args.models) if args.models else None
    result = squad(args.split, Path(args.data), settings, progress=not args.no_progress, limit=args.limit)
    print(table(["SQuAD v1.1 dev", args.split], [[k, v] for k, v in result.items() if k != "split"]))
    return 0


def beir_command(args) -> int:
    from eval.benchmarks import beir
    from eval.report import table

    results = beir(args.name, args.split, Path(args.data), progress=not args.no_progress)
    modes = list(results)
    print(
        table(
            [f"{args.name} {args.split}", *modes],
            [[metric, *(results[m][metric] for m in modes)] for metric in ("queries", "ndcg@10", "recall@100")],
        )
    )
    return 0


def latency_command(args) -> int:
    from eval.latency import measure, read_questions
    from eval.report import table

    result = measure(
        args.index, read_questions(args.questions), recall=not args.no_recall, models=args.models, threads=args.threads
    )
    kinds = result["vector_index"] or {}
    print(
        f"{result['documents']} documents, {result['passages']} passages, {result['sentences']} sentences "
        f"(vector search: passages {kinds.get('passages', 'flat')}, sentences {kinds.get('sentences', 'flat')}); "
        f"{result['questions']} questions, {result['timed']} searched; each network on {result['threads']} "
        f"thread{'s' if result['threads'] > 1 else ''}\n"
        f"engine loaded in {result['load_s']:.2f} s (warm-up {result['warm_up_s']:.2f} s); "
        f"resident memory after the questions {result['rss_mb']:.0f} MB: {result['anon_mb']:.0f} MB the "
        f"process's own, {result['file_mb']:.0f} MB mapped files (the index, libraries: page cache); peak {result['peak_mb']:.0f} MB\n"
    )
    rows = [[stage, *values] for stage, values in result["stages_ms"].items()]
    print(table(["answer time (ms)", "p50", "p95", "max"], rows))
    for part, recall in result["ann_recall_at_10"].items():
        print(f"HNSW recall@10 against exact search, {part}: {recall:.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


def reexport_command(args) -> int:
    from eval.train_reranker import reexport

    reexport(args.models)
    return 0


def distill_command(args) -> int:
    from eval.distill import Lessons, run
    from eval.train_reranker import SQUAD

    given = (("keep", tuple(args.keep or ())), ("squad_questions", args.squad_questions))
    lessons = Lessons(**{k: v for k, v in given if v})
    squad = Path(args.data) / "squad11_dev" if args.data else SQUAD
    run(lessons, teacher=args.teacher, out=args.out, squad=squad)
    return 0


def train_command(args) -> int:
    from dataclasses import replace

    from eval.train_reranker import OWN_SETS, SQUAD, Recipe, run

    recipe = Recipe()
    changes = {
        k: getattr(args, k)
        for k in ("layers", "squad_questions", "no_answer_questions", "own_repeats", "own_questions", "epochs")
        if getattr(args, k) is not None
    }
    recipe = replace(recipe, **changes)
    print(f"Training the reranker: {recipe}")
    run(
        recipe,
        out=args.out,
        squad=Path(args.data) / "squad11_dev" if args.data else SQUAD,
        own=() if args.no_own else OWN_SETS,
    )
    return 0


def scorer_command(args) -> int:
    from eval.scorer import THRESHOLD_SETS, Data, run

    # Without the seeds' tuning sets: neither fitted on nor used to choose the threshold.
    data = Data(own=(), threshold_sets=(("wikipedia", THRESHOLD_SETS["wikipedia"]),)) if args.no_own else Data()
    run(args.models, data, out=args.out)
    return 0


def synthetic_command(args) -> int:
    from eval.synthetic import generate

    made = generate(args.source, args.passages, args.out, args.seed)
    print(f"Serve or measure it with: python -m eval latency --index {args.out / 'index'} --questions FILE")
    return 0 if made else 1


def load_command(args) -> int:
    from eval.load import render, run_load

    if args.rate is not None and (args.clients or args.questions):
        raise ValueError("Give --rate and --seconds (open loop) or --clients and --questions (closed loop), not both.")
    if args.rate is not None and args.seconds is None:
        raise ValueError("--rate needs --seconds.")
    result = run_load(args.url, args.api, args.clients, args.questions, args.rate, args.seconds)
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


def ann_command(args) -> int:
    from eval.ann_bench import measure
    from eval.load import TUNING_FILES, eval_questions
    from eval.report import table
    from index.query_encoder import query_encoder
    from index.store import live_folder, read_index

    stored = read_index(args.index)
    real = np.asarray(stored.sentence_vectors)
    encoder = query_encoder(live_folder(args.index), stored.manifest)
    # The tuning sets' questions only: the settings this measures are chosen on it.
    questions = eval_questions(TUNING_FILES)[: args.queries]
    queries = encoder.encode(questions).astype(np.float32)
    print(f"{len(real)} real sentence vectors from {args.index}; {len(queries)} questions\n")
    rows = measure(real, queries, args.sizes)
    keys = list(rows[0])
    print("\n" + table(keys, [[r[k] for k in keys] for r in rows]))
    return 0


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--limit", type=at_least_one, help="only the first N questions")
    if argv[:1] == ["squad"]:
        parser.add_argument("benchmark")
        parser.add_argument("--split", choices=["tune", "test"], default="test")
        parser.add_argument("--data", default="../shared/datasets", help="folder of the public datasets")
        parser.add_argument("--models", type=Path, help="folder of the reranker and scorer (default: qa/models)")
        handler = squad_command
    elif argv[:1] == ["beir"]:
        parser.add_argument("benchmark")
        parser.add_argument("name", choices=["scifact"])
        parser.add_argument("--split", choices=["test", "train"], default="test")
        parser.add_argument("--data", default="../shared/datasets", help="folder of the public datasets")
        handler = beir_command
    elif argv[:1] == ["latency"]:
        parser.add_argument("benchmark")
        parser.add_argument("--index", type=Path, required=True, help="index directory")
        parser.add_argument("--questions", type=Path, required=True, help="text file, one question per line")
        parser.add_argument("--no-recall", action="store_true", help="skip the recall of approximate vector search")
        parser.add_argument("--models", type=Path, help="folder of the reranker and scorer (default: qa/models)")
        parser.add_argument("--threads", type=at_least_one, help="threads for each network (default: one per core)")
        parser.add_argument("--json", type=Path, help="also write the figures to this file")
        handler = latency_command
    elif argv[:1] == ["train-reranker"]:
        from qa.reranker import MODELS

        parser.add_argument("benchmark")
        parser.add_argument("--out", type=Path, default=MODELS, help=f"folder for the weights (default: {MODELS})")
        parser.add_argument("--data", help="folder of the public datasets (default: ../shared/datasets)")
        parser.add_argument("--layers", type=at_least_one, help="transformer layers kept from the base model")
        parser.add_argument("--squad-questions", type=int, help="SQuAD tuning-half questions to train on")
        parser.add_argument("--no-answer-questions", type=int, help="SQuAD questions with their answer taken out")
        parser.add_argument("--own-repeats", type=int, help="times each own tuning question is seen")
        parser.add_argument("--own-questions", type=int, help="only the first N own tuning questions (a quick check)")
        parser.add_argument("--epochs", type=at_least_one)
        parser.add_argument("--no-own", action="store_true", help="train on SQuAD only")
        handler = train_command
    elif argv[:1] == ["reexport-reranker"]:
        from qa.reranker import MODELS

        parser.add_argument("benchmark")
        parser.add_argument("--models", type=Path, default=MODELS, help=f"the reranker's folder (default: {MODELS})")
        handler = reexport_command
    elif argv[:1] == ["distill-reranker"]:
        from qa.reranker import MODELS

        parser.add_argument("benchmark")
        parser.add_argument(
            "--teacher", type=Path, default=MODELS, help=f"the full reranker's folder (default: {MODELS})"
        )
        parser.add_argument("--out", type=Path, required=True, help="folder for the student (not the teacher's)")
        parser.add_argument(
            "--keep", type=int, nargs="+", help="the teacher's layers the student keeps (default: 0 2 4 5)"
        )
        parser.add_argument("--squad-questions", type=at_least_one, help="SQuAD tuning questions read (default 2900)")
        parser.add_argument("--data", help="folder of the public datasets (default: ../shared/datasets)")
        handler = distill_command
    elif argv[:1] == ["train-scorer"]:
        from qa.reranker import MODELS

        parser.add_argument("benchmark")
        parser.add_argument(
            "--models", type=Path, default=MODELS, help=f"the reranker's folder, and the scorer's (default: {MODELS})"
        )
        parser.add_argument("--no-own", action="store_true", help="without the own tuning sets over the seeds")
        parser.add_argument("--out", type=Path, help="folder for scorer.json (default: the reranker's folder)")
        handler = scorer_command
    elif argv[:1] == ["ann"]:
        parser.add_argument("benchmark")
        parser.add_argument("--index", type=Path, default=Path("var/index"), help="index whose vectors to draw near")
        parser.add_argument("--sizes", type=at_least_one, nargs="+", default=[100_000, 1_000_000])
        parser.add_argument("--queries", type=at_least_one, default=500, help="questions searched (default 500)")
        handler = ann_command
    elif argv[:1] == ["synthetic"]:
        parser.add_argument("benchmark")
        parser.add_argument("--source", type=Path, required=True, help="a built index of real text to draw from")
        parser.add_argument("--passages", type=at_least_one, default=1_000_000)
        parser.add_argument("--out", type=Path, required=True, help="folder for the corpus and its index")
        parser.add_argument("--seed", type=int, default=0)
        handler = synthetic_command
    elif argv[:1] == ["load"]:
        parser.add_argument("benchmark")
        parser.add_argument("--url", required=True, help="a server on this machine, e.g. http://127.0.0.1:7860")
        parser.add_argument("--api", choices=["http", "gradio"], default="http", help="/api/ask or Gradio's /ask")
        parser.add_argument("--clients", type=at_least_one, help="closed loop: clients asking in turn (default 50)")
        parser.add_argument("--questions", type=at_least_one, help="closed loop: questions per client (default 20)")
        parser.add_argument("--rate", type=positive, help="open loop: questions sent per second")
        parser.add_argument("--seconds", type=positive, help="open loop: for this long (closed loop: at most)")
        parser.add_argument("--json", help="write the figures to this file")
        handler = load_command
    else:
        parser.add_argument("--mode", choices=["bm25", "dense", "hybrid", "all"], default="all")
        parser.add_argument("--questions", type=Path, help="question set (default: eval/questions.jsonl)")
        parser.add_argument("--index", type=Path, help="index directory (default: var/index)")
        parser.add_argument("--models", type=Path, help="folder of the reranker and scorer (default: qa/models)")
        parser.add_argument("--json", help="write the full results to this file")
        handler = question_set
    args = parser.parse_args(argv)

    from index.errors import QAError

    try:
        return handler(args)
    except (QAError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C
        print("\nInterrupted before the scores were printed.", file=sys.stderr)
        sys.exit(130)
