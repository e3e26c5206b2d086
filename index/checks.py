"""Whether an index on disk can be used as it is: built from this corpus and model, with the synonyms of
the WordNet found now and the network for encoding questions. Each check raises `IndexMismatch` with one
sentence that names the command to run."""

from __future__ import annotations

from pathlib import Path

from index.embed import model_hash, model_path
from index.errors import IndexMismatch, QAError
from index.ingest import corpus_fingerprint, file_hash
from index.models import spec
from index.store import damaged, live_folder, rebuild_command
from index.wordnet import find_wordnet, wordnet_digest


def check_index(manifest: dict, out: Path, corpus: Path | None = None) -> None:
    """Refuse an index built from another corpus or model, naming the command that fixes it."""
    command = rebuild_command(out, corpus)
    key = manifest["model"].get("key", "minilm")  # indexes from before the choice used MiniLM
    try:
        installed = model_hash(model_path(key))
    except QAError as exc:
        raise IndexMismatch(f"The index at {out} needs the model {key}, which cannot be loaded: {exc}") from exc
    if manifest["model"]["sha256"] != installed:
        raise IndexMismatch(
            f"The index at {out} was built with other model weights than the installed "
            f"{spec(key).name}; rebuild it with: {command}."
        )
    corpus = Path(corpus) if corpus else (Path(out) / manifest["corpus"]["path"]).resolve()
    if not corpus.exists():
        raise IndexMismatch(
            f"The corpus the index at {out} was built from ({corpus}) is gone; rebuild it with: {command}."
        )
    now = corpus_fingerprint(corpus)
    then = manifest["corpus"]["files"]
    if now != then:
        diff = sorted(set(now) ^ set(then) | {k for k in now if k in then and now[k] != then[k]})
        raise IndexMismatch(
            f"The index at {out} is stale: {', '.join(diff[:5])} changed since it was built; "
            f"rebuild it with: {command}."
        )


def check_synonyms(manifest: dict, out: Path, corpus: Path | None = None) -> None:
    """Before serving or benchmarking: refuse an index whose synonyms do not come from the WordNet found
    now (built before it was fetched, or from another copy), so that it gets rebuilt. Loading it still
    works, and an index whose WordNet has gone keeps its synonyms."""
    wordnet = find_wordnet()
    if wordnet is None:
        return
    then = (manifest.get("synonyms") or {}).get("wordnet_sha256")
    if wordnet_digest(wordnet) != then:
        how = "without synonyms" if then is None else "with synonyms from another WordNet"
        raise IndexMismatch(
            f"The index at {out} was built {how}, and WordNet is now at {wordnet}; "
            f"rebuild it with: {rebuild_command(out, corpus)}."
        )


def check_query_model(manifest: dict, out: Path, corpus: Path | None = None) -> None:
    """Refuse, so that it gets rebuilt, an index built before builds exported the network for answering
    without torch (`index.query_encoder`). Loading it still works (with torch), and so does an index whose
    export failed (its manifest says "query_model": null: rebuilding would fail the same way). Also refuse
    one whose file is not the one the build wrote (loading checks only its size)."""
    if "query_model" not in manifest:
        raise IndexMismatch(
            f"The index at {out} has no model for answering without torch; "
            f"rebuild it with: {rebuild_command(out, corpus)}."
        )
    exported = manifest["query_model"]
    if exported and file_hash(live_folder(out) / exported["file"]) != exported.get("sha256"):
        raise damaged(out, f"{exported['file']} has changed", corpus)


def check_current(manifest: dict, out: Path, corpus: Path | None = None) -> None:
    """Whether `make run`, `index build --if-stale` and the benchmarks can use the index as it is: it
    matches the corpus and the model (`check_index`), has the synonyms of the WordNet found now and the
    network for encoding questions."""
    check_index(manifest, out, corpus)
    check_synonyms(manifest, out, corpus)
    check_query_model(manifest, out, corpus)
