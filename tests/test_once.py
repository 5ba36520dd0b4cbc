"""Each job done by one function (issue 35, "each job once"): the helpers every caller shares, pinned here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from seq2expr.config import unknown_key
from seq2expr.data.errors import DataError
from seq2expr.data.inputs import dataset_input, read_inputs
from seq2expr.data.registry import get_entry
from seq2expr.data.sequences import complement_codes, decode, encode_one, reverse_complement, reverse_complement_codes
from seq2expr.data.targets import TargetTransform
from seq2expr.download import ChecksumError, Pin, first_folder, obtain_files
from seq2expr.embeddings.kmer import KmerSentences
from seq2expr.inference import (
    Construct,
    ModelSpec,
    SavedModel,
    SavedModelConfig,
    column_options,
    construct_spec,
    model_scale_label,
    resolve_construct,
    scale_label,
    trained_construct,
)
from seq2expr.models import check_params
from seq2expr.suggest import closest, did_you_mean


def test_did_you_mean_names_the_closest_known_name_or_nothing():
    assert closest("epoch", ["epochs", "lr", "batch_size"]) == "epochs"
    assert closest("zzz", ["epochs", "lr"]) is None
    assert closest("x", []) is None
    assert did_you_mean("chanels", ["channels", "kernel"]) == "; did you mean 'channels'?"
    assert did_you_mean("qqqq", ["channels", "kernel"]) == ""
    assert did_you_mean("pth", iter(["path", "policy"])) == "; did you mean 'path'?"  # any iterable of names


def test_config_and_model_messages_use_the_one_hint():
    assert unknown_key("modle", ["data", "model"], "top-level key") == (
        "unknown top-level key 'modle'; did you mean 'model'? (known: data, model)")
    with pytest.raises(ValueError, match=r"not a parameter of model 'cnn'; did you mean 'channels'\? \(its parameters"):
        check_params("cnn", {"chanels": [8]})


def test_reverse_complement_is_one_rule_for_strings_and_codes():
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("acGTn") == "nACgt"  # case kept
    assert reverse_complement("") == ""
    seq = "GATTACANNCCG"
    assert reverse_complement(reverse_complement(seq)) == seq
    codes = encode_one(seq)
    assert decode(reverse_complement_codes(codes)) == [reverse_complement(seq)]
    assert complement_codes(np.array([0, 1, 2, 3, 4], dtype=np.uint8)).tolist() == [3, 2, 1, 0, 4]


def test_kmer_sentences_use_the_one_reverse_complement():
    sentences = list(KmerSentences(["AACGTTTG"], k=3, both_strands=True))
    assert sentences == [["AAC", "ACG", "CGT", "GTT", "TTT", "TTG"], ["CAA", "AAA", "AAC", "ACG", "CGT", "GTT"]]
    assert "".join(w[0] for w in sentences[1]) + sentences[1][-1][1:] == reverse_complement("AACGTTTG")


def _config(task: str = "regression", transform: TargetTransform | None = None) -> SavedModelConfig:
    return SavedModelConfig(model=ModelSpec(name="cnn", seq_len=20, n_targets=1), train={"task": task},
                            target_transform=transform)


def test_scale_label_is_the_one_wording_of_each_scale():
    plain, logged = _config(), _config(transform=TargetTransform(kind="log1p", standardize=True, mean=[0.0], std=[1.0]))
    clf = _config("classification")
    assert scale_label(plain) == scale_label(logged) == "original scale"
    assert scale_label(plain, "model") == "original scale" and model_scale_label(plain) is None
    assert scale_label(logged, "model") == model_scale_label(logged) == (
        "model scale (log1p, then z-scored with the training rows' mean/std)")
    zscored = _config(transform=TargetTransform(kind="none", standardize=True, mean=[0.0], std=[1.0]))
    assert scale_label(zscored, "model") == "model scale (z-scored with the training rows' mean/std)"
    assert (scale_label(clf), scale_label(clf, "model"), model_scale_label(clf)) == ("probability of class 1", "logit",
                                                                                      None)
    with pytest.raises(ValueError, match="scale must be 'original' or 'model'"):
        scale_label(plain, "raw")


def _trained_on(dataset: str | None, seq_len: int = 110) -> SavedModel:
    cfg = SavedModelConfig(model=ModelSpec(name="cnn", seq_len=seq_len, n_targets=1), data={"dataset": dataset})
    return SavedModel(nn.Identity(), cfg)


def test_construct_spec_gives_flanks_given_as_such_the_precedence():
    assert construct_spec("dream2022", "AC", "") == ("AC", "")
    assert construct_spec("none", "", "GT") == ("", "GT")
    assert construct_spec("dream2022") == "dream2022" and construct_spec(None, "", "") is None


def test_resolve_construct_reads_a_name_a_pair_none_or_the_models_own():
    dream = get_entry("dream2022").construct
    assert resolve_construct(("AAA", "CC")) == Construct("AAA", "CC")
    assert resolve_construct("none") == resolve_construct("NONE") == resolve_construct(None) == Construct()
    named = resolve_construct("dream2022")
    assert named.pair == dream and named.label == "dream2022" and not named.own
    with pytest.raises(DataError, match=r"^data set 'vaishnav2022' defines no construct \(fixed flanks\)$"):
        resolve_construct("vaishnav2022")
    with pytest.raises(DataError, match="unknown data set 'nope'"):
        resolve_construct("nope")
    own = resolve_construct(model=_trained_on("dream2022"))
    assert own.pair == dream and own.own and own.label == "dream2022 (the model's own)"
    assert trained_construct(_trained_on("dream2022")) == ("dream2022", *dream)
    # a named construct or "none" overrides the model's own; no data set, one without flanks, an unknown one, or
    # flanks that leave no variable region: none
    assert resolve_construct("none", model=_trained_on("dream2022")) == Construct()
    for model in (_trained_on(None), _trained_on("vaishnav2022"), _trained_on("gone"), _trained_on("dream2022", 30)):
        assert resolve_construct(model=model) == Construct()
    assert trained_construct(_trained_on("gone")) is None


def _pin(text: str) -> Pin:
    return Pin(sha256=hashlib.sha256(text.encode()).hexdigest(), size=len(text))


def _put(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def test_obtain_files_takes_local_copies_in_order_then_the_cache_then_downloads(tmp_path):
    mirror, other, cache = tmp_path / "mirror", tmp_path / "other", tmp_path / "cache"
    pins = {"a.txt": _pin("A"), "b.txt": _pin("B"), "c.txt": _pin("C")}
    folders = [("mirror", mirror), ("other", other), ("cache", cache)]
    _put(mirror, "a.txt", "A")
    _put(other, "a.txt", "A")
    _put(other, "b.txt", "B")
    got: list[str] = []

    def get(name: str, target: Path) -> None:
        got.append(name)
        _put(target.parent, target.name, name[0].upper())

    assert first_folder(["a.txt"], folders) == (mirror, "mirror")
    assert first_folder(["a.txt", "b.txt"], folders) == (other, "other")
    assert first_folder([], folders) == (None, "missing")
    # one file at a time: each from the first folder holding it, the missing one downloaded into the cache
    out = obtain_files(pins, folders, cache, get)
    assert out == {"a.txt": (mirror / "a.txt", "mirror"), "b.txt": (other / "b.txt", "other"),
                   "c.txt": (cache / "c.txt", "downloaded")} and got == ["c.txt"]
    # together: no folder holds all three, so the cache's own copy is kept and the rest downloaded
    got.clear()
    out = obtain_files(pins, folders, cache, get, together=True)
    assert out["c.txt"] == (cache / "c.txt", "cache") and got == ["a.txt", "b.txt"]
    got.clear()
    assert {w for _, w in obtain_files(pins, folders, cache, get, together=True).values()} == {"cache"} and not got
    # force: everything again, whatever copy exists
    assert {w for _, w in obtain_files(pins, folders, cache, get, force=True).values()} == {"downloaded"}
    assert got == ["a.txt", "b.txt", "c.txt"]


def test_obtain_files_refuses_a_damaged_copy_rather_than_skip_it(tmp_path):
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    _put(mirror, "a.txt", "X")  # right size, wrong bytes
    _put(cache, "a.txt", "A")
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        obtain_files({"a.txt": _pin("A")}, [("mirror", mirror), ("cache", cache)], cache, lambda n, t: None)


def test_read_inputs_takes_a_data_set_name_unless_a_file_has_it(tmp_path, monkeypatch, mirror):
    table = tmp_path / "in.tsv"
    table.write_text("name\tseq\nr1\tACGT\nr2\tGGCC\n")
    rec = read_inputs(table, lambda path: {"sequence_column": "seq", "id_column": "name"}, require_targets=False)
    assert list(rec.ids) == ["r1", "r2"] and list(rec.sequences) == ["ACGT", "GGCC"]
    assert dataset_input(table) is None
    demo = read_inputs("dream2022_demo_train")  # a registry data set: its own columns, no file options asked
    assert len(demo.sequences) > 0 and demo.dataset == "dream2022_demo_train"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dream2022_demo_train").write_text(">s1\nACGTAC\n")  # a file of that name wins: it is read
    assert dataset_input("dream2022_demo_train") is None
    with pytest.raises(DataError, match="dream2022_demo_train: unknown file type"):
        read_inputs("dream2022_demo_train", require_targets=False)
    with pytest.raises(DataError, match="has no subset 'nope'"):
        read_inputs("dream2022_demo_train:nope")


def test_column_options_are_the_models_columns_when_a_file_has_them(tmp_path):
    cfg = SavedModelConfig(model=ModelSpec(name="cnn", seq_len=4, n_targets=1),
                           data={"sequence_column": "Seq", "id_column": "ID"})
    with_run_columns, plain = tmp_path / "a.tsv", tmp_path / "b.tsv"
    with_run_columns.write_text("ID\tSeq\nx\tACGT\n")
    plain.write_text("id\tsequence\nx\tACGT\n")
    assert column_options(cfg)(with_run_columns) == {"sequence_column": "Seq", "id_column": "ID"}
    assert column_options(cfg)(plain) == {"sequence_column": "sequence", "id_column": "id"}
    assert column_options(cfg, "s", "i")(plain) == {"sequence_column": "s", "id_column": "i"}
