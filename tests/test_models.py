"""The models an index can be built with: found in their packages, the split one joined and checked."""

import pytest

import index.models as models
from index.errors import QAError
from index.ingest import file_hash


def test_mpnet_is_joined_from_its_five_packages_and_has_the_published_hash():
    folder = models.model_folder("mpnet")
    assert file_hash(folder / models.WEIGHTS_FILE) == models.MODELS["mpnet"].weights_sha256
    assert (folder / "tokenizer.json").is_file() and (folder / "modules.json").is_file()
    assert (models.model_folder("minilm") / models.WEIGHTS_FILE).is_file()


def test_a_damaged_copy_of_the_joined_model_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_MODELS", str(tmp_path))
    folder = models.model_folder("mpnet")
    assert folder.parent == tmp_path
    weights = folder / models.WEIGHTS_FILE
    with weights.open("r+b") as handle:  # one byte changed, size and all else the same
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert models.model_folder("mpnet") == folder
    assert file_hash(weights) == models.MODELS["mpnet"].weights_sha256


def test_parts_that_are_not_the_model_are_refused_in_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_MODELS", str(tmp_path / "home"))
    junk = tmp_path / "part"
    junk.write_bytes(b"not a zip" * 100)
    monkeypatch.setattr(models, "_part_file", lambda package: junk)
    with pytest.raises(
        QAError, match=r"^The five parts of all-mpnet-base-v2 do not make a zip file; reinstall them\.$"
    ):
        models.model_folder("mpnet")


def test_a_missing_part_or_an_unknown_model_is_one_sentence():
    with pytest.raises(QAError, match=r"The package nothing-here is not installed .*make install"):
        models._part_file("nothing-here")
    with pytest.raises(QAError, match=r"There is no model 'bert'; choose one of minilm, mpnet\."):
        models.model_folder("bert")
