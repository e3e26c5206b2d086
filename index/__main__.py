"""`python -m index build [--corpus PATH] [--out DIR]`: rebuild the index and say what changed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from index.config import DEFAULT_CORPUS, env_paths
from index.store import PQ_THRESHOLD
from index.vector_index import ANN_THRESHOLD


def main(argv: list[str] | None = None) -> int:
    corpus_env, index_default = env_paths()
    corpus_default = corpus_env or DEFAULT_CORPUS
    parser = argparse.ArgumentParser(prog="python -m index", description="Build the question-answering index.")
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="read the corpus and (re)build the index")
    build_cmd.add_argument(
        "--corpus",
        type=Path,
        default=corpus_default,
        help=f"folder of documents or one .jsonl collection (default: {corpus_default})",
    )
    build_cmd.add_argument(
        "--out", type=Path, default=index_default, help=f"index directory (default: {index_default})"
    )
    build_cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    build_cmd.add_argument(
        "--wordnet", type=Path, help="WordNet database folder for synonyms (default: var/wordnet, /usr/share/wordnet)"
    )
    build_cmd.add_argument(
        "--model",
        choices=["minilm", "mpnet"],
        help="sentence-transformers model to embed with: all-MiniLM-L6-v2 or all-mpnet-base-v2 "
        "(default: the model of the index already there, else minilm)",
    )
    build_cmd.add_argument(
        "--vector-index",
        choices=["flat", "ann", "auto"],
        default="auto",
        help="vector search: flat (exact), ann (HNSW, approximate), or auto: flat below "
        f"{ANN_THRESHOLD:,} vectors, ann above (default: auto)",
    )
    build_cmd.add_argument(
        "--word-pieces",
        choices=["int8", "pq", "auto"],
        default="auto",
        help="word-piece vectors: int8 codes, or pq (product quantisation, 8x smaller), or auto: pq from "
        f"{PQ_THRESHOLD:,} pieces (default: auto)",
    )
    build_cmd.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="embed as a Ray Data job: on a Ray started here, or on the cluster at ADDRESS (needs '.[scale]')",
    )
    build_cmd.add_argument("--ray-workers", type=int, default=2, help="Ray actors embedding at once (default: 2)")
    build_cmd.add_argument(
        "--if-stale", action="store_true", help="do nothing when the index already matches the corpus and the model"
    )
    args = parser.parse_args(argv)

    from index.build import BuildParams, RayJob, build
    from index.checks import check_current
    from index.errors import QAError
    from index.query_encoder import manifest_model
    from index.store import read_index, read_manifest

    try:  # a rebuild keeps the model the index was built with unless told otherwise
        before = manifest_model(read_manifest(args.out))
    except (QAError, OSError, ValueError, KeyError, TypeError):
        before = None
    model = args.model or before
    if args.if_stale and model in (None, before):
        try:  # reading the whole index also catches a damaged one
            check_current(read_index(args.out).manifest, args.out, args.corpus)
            print(f"The index at {args.out} is up to date.")
            return 0
        except QAError:
            pass  # missing or stale: build it
    try:
        params = BuildParams(vector_index=args.vector_index, word_pieces=args.word_pieces)
        ray = None
        if args.ray is not None:
            try:
                import ray as _  # noqa: F401
            except ImportError:
                raise QAError("--ray needs Ray: pip install -e '.[scale]'.") from None
            ray = RayJob(args.ray or None, max(1, args.ray_workers))
        summary = build(
            args.corpus, args.out, progress=not args.quiet, wordnet=args.wordnet, model=model, params=params, ray=ray
        )
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the disk filled up, a folder vanished: the previous index is still in use
        print(f"error: the index could not be written at {args.out} ({exc.strerror or exc}).", file=sys.stderr)
        return 2
    for line in summary.lines():
        print(line)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C: the new build is left unfinished, the one in use stays
        print("\nInterrupted; the index in use is unchanged.", file=sys.stderr)
        sys.exit(130)
