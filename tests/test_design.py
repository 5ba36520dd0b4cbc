"""Sequence design on the planted-motif synthetic set: maximising from random backgrounds goes beyond every
training sequence by writing in the planted activators, minimising removes them; every output honours its
constraints; the same seed gives the same designs; an oracle held out of the search scores every run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.data.errors import DataError
from seq2expr.data.sequences import encode
from seq2expr.data.synthetic import log_odds, write_synthetic
from seq2expr.design import Constraints, Objective, design, diversity, write_design_outputs
from seq2expr.inference import load_model, predict

L = 80
MOTIFS = [{"name": "REB1", "matrix_id": "MA0363.3", "effect": 2.0}, {"name": "GCN4", "matrix_id": "MA0303.3",
                                                                       "effect": -1.5}]
runner = CliRunner()


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict:
    """A 2-member ensemble trained on promoters with a planted activator (REB1) and repressor (GCN4)."""
    from seq2expr.config import RunConfig
    from seq2expr.training import train

    root = tmp_path_factory.mktemp("design")
    paths = write_synthetic(root / "data", n=3000, length=L, seed=2, motifs=MOTIFS, interaction=None,
                            p_present=0.5, noise_sd=0.2, position=(1.0, 1.0))
    cfg = RunConfig.model_validate({
        "data": {"path": str(paths["data"]), "id_column": "id", "cache_dir": str(root / "cache"),
                 "split": {"method": "random"}},
        "model": {"name": "cnn", "params": {"channels": [32], "kernel_sizes": 11, "pool_sizes": [4],
                                            "convs_per_block": 1, "dropout": 0.0, "hidden": [16],
                                            "head_dropout": 0.0}},
        "train": {"epochs": 10, "batch_size": 64, "lr": 0.005, "threads": 1, "ensemble_seeds": [0, 1],
                  "precise_bn": 0},
        "output_dir": str(root / "run")})
    model_dir = train(cfg, progress=False)
    truth = json.loads(paths["truth"].read_text())
    table = pd.read_csv(paths["data"], sep="\t")
    return {"root": root, "model": load_model(model_dir), "model_dir": model_dir, "truth": truth, "table": table}


def best_site(codes: np.ndarray, pwm: np.ndarray, gc: float) -> np.ndarray:
    """Best log-odds score of the motif (either strand) in each sequence, as a fraction of its maximum."""
    lo = log_odds(np.asarray(pwm), gc)  # (w, 4)
    w = len(lo)
    win = np.lib.stride_tricks.sliding_window_view(codes, w, axis=1)  # (n, L-w+1, w)
    clipped = np.minimum(win, 3)
    fwd = lo[np.arange(w), clipped].sum(-1)
    rev = lo[::-1, ::-1][np.arange(w), clipped].sum(-1)
    return np.maximum(fwd, rev).max(1) / lo.max(1).sum()


def test_maximise_writes_in_the_activator_and_minimise_removes_it(planted):
    model, truth = planted["model"], planted["truth"]
    gc = truth["params"]["gc"]
    train_pred = predict(model.members[0], planted["table"]["sequence"].tolist())[:, 0]
    up = design(model, "random", "max", n=6, rounds=25, seed=0)
    assert up.summary["oracle"].startswith("ensemble member 1")
    assert (up.table["design_expression"] > train_pred.max()).all(), (up.table["design_expression"], train_pred.max())
    assert (up.table["oracle_expression"] > np.quantile(train_pred, 0.99)).all()  # the oracle agrees
    reb1, gcn4 = truth["pwms"]["REB1"], truth["pwms"]["GCN4"]
    floor = truth["params"]["min_score"]  # planted sites score at least this fraction of the best possible
    assert (best_site(up.codes, reb1, gc) >= floor).all() and best_site(up.codes, reb1, gc).mean() > 0.85
    assert best_site(up.start, reb1, gc).mean() < 0.4 and (best_site(up.codes, gcn4, gc) < floor).all()
    # minimise, starting from training sequences that carry the activator
    carriers = planted["table"][best_site(encode(planted["table"]["sequence"].tolist()), reb1, gc) > 0.9].head(6)
    down = design(model, carriers["sequence"].tolist(), "min", n=6, rounds=8, seed=0)
    assert (down.table["design_expression"] < predict(model.members[0], carriers["sequence"].tolist())[:, 0]).all()
    after, before = best_site(down.codes, reb1, gc), best_site(down.start, reb1, gc)
    repressed = best_site(down.codes, gcn4, gc) >= floor
    # each design damages the activator or writes the repressor in (the model's floor is reached either way)
    assert ((after < before - 0.1) | repressed).all() and after.mean() < floor, (after, before, repressed)


@pytest.mark.parametrize("method", ["greedy", "beam", "anneal"])
def test_constraints_are_honoured_and_the_seed_repeats(planted, method):
    model = planted["model"]
    left, right = "TGCATCTTTC", "GGTTACG"
    cons = Constraints(L, left=left, right=right, protect=[(40, 46)], max_edits=6, gc=(0.3, 0.6),
                       forbid=["EcoRI", "GGTCTC"], max_homopolymer=5)
    kw = dict(n=5, rounds=6, beam=3, steps=60, seed=7)
    a = design(model, "random", "max", cons, method=method, **kw)
    b = design(model, "random", "max", cons, method=method, **kw)
    assert a.table["sequence"].tolist() == b.table["sequence"].tolist()  # same seed, same designs
    assert a.table["constraints_ok"].all(), a.table["violations"].tolist()
    for seq, start in zip(a.table["sequence"], a.start, strict=True):
        assert seq.startswith(left) and seq.endswith(right)
        assert seq[40:46] == "".join("ACGT"[c] for c in start[40:46])  # protected region unchanged
        assert "GAATTC" not in seq and "GGTCTC" not in seq and "GAGACC" not in seq  # EcoRI, BsaI both strands
        assert not any(b * 6 in seq for b in "ACGT")
    assert (a.table["n_edits"] <= 6).all() and a.table["gc"].between(0.3, 0.6).all()
    assert (a.table["design_score"] >= predict(model.members[0], a.start)[:, 0] - 1e-6).all()
    assert a.summary["candidates"] > 0 and a.summary["diversity"]["mean_hamming"] > 0


def test_target_value_difference_and_motif_insertion(planted):
    model = planted["model"]
    mid = float(np.median(predict(model.members[0], planted["table"]["sequence"].tolist()[:500])[:, 0]))
    goal = design(model, "random", Objective("target", value=mid + 1.0), n=4, rounds=8, seed=1)
    start_gap = np.abs(predict(model.members[0], goal.start)[:, 0] - (mid + 1.0))
    assert (np.abs(goal.table["design_expression"] - (mid + 1.0)) <= start_gap + 1e-6).all()
    assert np.abs(goal.table["design_expression"] - (mid + 1.0)).mean() < 0.5 * start_gap.mean()
    ins = design(model, "random", "max", method="motif", motifs=["MA0363"], n=4, seed=2)  # JASPAR's REB1 matrix
    consensus = "".join("ACGT"[i] for i in np.asarray(planted["truth"]["pwms"]["REB1"]).argmax(1))
    rc = consensus[::-1].translate(str.maketrans("ACGT", "TGCA"))
    assert ins.table["sequence"].str.contains(f"{consensus}|{rc}").all()
    assert (ins.table["design_score"] > predict(model.members[0], ins.start)[:, 0]).all()
    req = design(model, "random", "min", Constraints(L, require=["TTAGGG"]), n=3, rounds=3, seed=3)
    assert req.table["sequence"].str.contains("TTAGGG|CCCTAA").all() and req.table["constraints_ok"].all()
    with pytest.raises(DataError, match="oracle held out of the search"):
        design(model.members[0], "random", "max", n=2)
    with pytest.raises(DataError, match="no random sequence .* meets the constraints: has homopolymer > 3"):
        design(model, "random", "max", Constraints(L, left="AAAAA", max_homopolymer=3), n=1)
    with pytest.raises(DataError, match="neither a nucleotide site nor a restriction enzyme"):
        Constraints(L, forbid=["NoSuchEnzyme"])
    assert diversity(np.zeros((3, 10), np.uint8))["mean_hamming"] == 0


def test_ledidi_gradient_design(planted):
    model = planted["model"]
    out = design(model, "random", "max", method="ledidi", n=2, seed=0)
    assert (out.table["design_score"] >= predict(model.members[0], out.start)[:, 0] - 1e-6).all()
    assert out.table["n_edits"].max() > 0 and out.table["constraints_ok"].all()


def test_cli_and_outputs(planted, tmp_path):
    res = runner.invoke(app, ["design", str(planted["model_dir"]), "-o", str(tmp_path / "d"), "--n", "3",
                              "--rounds", "4", "--construct-left", "TGCA", "--max-edits", "5", "--forbid", "BsaI",
                              "--attributions", "saliency"])
    assert res.exit_code == 0, res.output
    for f in ("designs.fasta", "designs.tsv", "trajectory.tsv", "report.html", "summary.json", "img/trajectory.png"):
        assert (tmp_path / "d" / f).is_file(), f
    table = pd.read_csv(tmp_path / "d" / "designs.tsv", sep="\t")
    assert table["sequence"].str.startswith("TGCA").all() and (table["n_edits"] <= 5).all()
    assert {"design_score", "oracle_score", "disagree", "edits"} <= set(table.columns)
    bad = runner.invoke(app, ["design", str(planted["model_dir"]), "-o", str(tmp_path / "e"), "--objective", "up"])
    assert bad.exit_code == 2 and bad.output.startswith("error:") and not (tmp_path / "e").exists()
    result = design(planted["model"], "random", "max", n=2, rounds=2, seed=0)
    write_design_outputs(result, planted["model"], tmp_path / "api", attributions="none")
    assert (tmp_path / "api" / "designs.tsv").is_file()


def test_missing_oracle_names_the_cli_option(tmp_path, one_line_error):
    """Without an oracle, the command line is told its own option (--oracle none), not a Python keyword only."""
    from seq2expr.inference import SavedModelConfig, save_model
    from seq2expr.models import build_model

    params = {"channels": [4], "kernel_sizes": 3, "pool_sizes": [1], "hidden": [], "head_dropout": 0.0}
    save_model(tmp_path / "m", build_model("cnn", seq_len=20, **params).eval(),
               SavedModelConfig(model={"name": "cnn", "params": params, "seq_len": 20}, target_names=["y"]))
    one_line_error(runner.invoke(app, ["design", str(tmp_path / "m"), "-o", str(tmp_path / "out"), "--n", "2"]),
                   "--oracle none")


# --- issue 36: honest design scores (tiny hand-set linear models, no training) ---------------------------------------

def _linear_model(path, weights: list[np.ndarray], *, taxon: str | None = None, dataset: str | None = None,
                  trained_on: np.ndarray | None = None):
    """A saved linear model (an ensemble when several weight arrays), strands not averaged."""
    import torch

    from seq2expr.inference import ModelSpec, SavedModelConfig, save_model
    from seq2expr.models import build_model

    nets = []
    for w in weights:
        net = build_model("linear", seq_len=w.shape[1], n_targets=1)
        with torch.no_grad():
            net.weight.copy_(torch.tensor(w[None], dtype=torch.float32))
            net.conv.bias.fill_(0.0)
        nets.append(net.eval())
    cfg = SavedModelConfig(model=ModelSpec(name="linear", seq_len=weights[0].shape[1], n_targets=1),
                           train={"rc_average": False}, target_names=["y"], interpret={"taxon": taxon},
                           data={"dataset": dataset})
    return save_model(path, nets if len(nets) > 1 else nets[0], cfg, trained_on=trained_on)


def test_disagreement_penalty_lowers_the_member_spread(tmp_path):
    """Two members that disagree on a planted feature (G at positions 2-7 counts for one only): the penalty steers
    the search away from it, so the chosen designs' member spread is lower; every design reports its spread."""
    base = np.random.default_rng(0).normal(scale=0.1, size=(4, 16))
    planted = base.copy()
    planted[2, 2:8] += 2.0
    model = load_model(_linear_model(tmp_path / "ens", [planted, base]))
    kw = dict(n=4, rounds=6, seed=0, oracle="none")
    plain = design(model, "random", "max", **kw)
    penalised = design(model, "random", "max", penalty=("disagreement", 2.0), **kw)
    assert plain.summary["member_spread"]["members"] == 2 and plain.summary["penalty"] is None
    assert penalised.summary["penalty"] == {"disagreement": 2.0}
    assert penalised.table["member_spread"].mean() < plain.table["member_spread"].mean() - 0.5, (
        plain.table["member_spread"].tolist(), penalised.table["member_spread"].tolist())
    same = design(model, "random", "max", penalty="disagreement:2", **kw)  # the text form, parsed in one place
    assert same.table["sequence"].tolist() == penalised.table["sequence"].tolist()
    with pytest.raises(DataError, match="disagreement:LAMBDA"):
        design(model, "random", "max", penalty="spread:1", **kw)


def test_a_named_oracle_is_checked_for_shared_training_sequences(tmp_path, caplog):
    from seq2expr.data.sequences import sequence_hashes

    w = np.random.default_rng(1).normal(size=(4, 12))
    seen = sequence_hashes(np.random.default_rng(2).integers(0, 4, (10, 12)).astype(np.uint8))
    mine = _linear_model(tmp_path / "a", [w], trained_on=seen[:6])
    theirs = _linear_model(tmp_path / "b", [w], trained_on=seen[3:])
    blind = _linear_model(tmp_path / "c", [w])
    with caplog.at_level("WARNING", logger="seq2expr"):
        out = design(mine, "random", "max", oracle=theirs, n=2, rounds=1)
    assert out.summary["oracle_training_overlap"] == 3 and "shares 3 training sequences" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="seq2expr"):
        out = design(mine, "random", "max", oracle=blind, n=2, rounds=1)
    assert out.summary["oracle_training_overlap"] is None and "cannot be checked" in caplog.text
    ens = design(_linear_model(tmp_path / "e", [w, w]), "random", "max", n=2, rounds=1)
    assert "held out of the search" in ens.summary["oracle"] and "independent" not in ens.summary["oracle"].replace(
        "not independent", "")


def test_designs_default_to_the_models_own_construct(tmp_path):
    """A model trained on a registry data set with a construct designs inside its flanks unless told
    ``--construct none``; the summary says which."""
    from seq2expr.data.registry import get_entry

    left, right = get_entry("dream2022").construct
    w = np.random.default_rng(3).normal(size=(4, 110))
    path = _linear_model(tmp_path / "m", [w], dataset="dream2022")
    args = ["design", str(path), "--n", "3", "--rounds", "1", "--oracle", "none", "--attributions", "none"]
    res = runner.invoke(app, [*args, "-o", str(tmp_path / "own")])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "own" / "designs.tsv", sep="\t")
    assert table["sequence"].str.startswith(left).all() and table["sequence"].str.endswith(right).all()
    assert "dream2022" in json.loads((tmp_path / "own" / "summary.json").read_text())["construct"]
    res = runner.invoke(app, [*args, "-o", str(tmp_path / "bare"), "--construct", "none"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "bare" / "designs.tsv", sep="\t")
    assert not table["sequence"].str.startswith(left).any()
    assert json.loads((tmp_path / "bare" / "summary.json").read_text())["construct"] == "none"
    assert design(path, "random", "max", n=1, rounds=0, oracle="none").table["sequence"][0].startswith(left)


def test_motif_names_resolve_within_the_models_taxon(tmp_path):
    """ABF1 names a yeast (MA0265) and an Arabidopsis (MA0570) matrix: a fungal model gets the yeast one; without
    a taxon the name is refused, listing both with their species."""
    from seq2expr.design.algorithms.motif import motif_sequence
    from seq2expr.interpret.motifs import consensus, jaspar_motifs

    yeast = next(v for k, v in jaspar_motifs(taxon="fungi").items() if k.startswith("MA0265."))
    assert motif_sequence("ABF1", "fungi") == consensus(yeast) != motif_sequence("MA0570")
    with pytest.raises(DataError, match=r"MA0265\.\d \(Saccharomyces cerevisiae\).*MA0570\.\d \(Arabidopsis"):
        motif_sequence("ABF1")
    w = np.random.default_rng(4).normal(size=(4, 30))
    fungal = _linear_model(tmp_path / "f", [w], taxon="fungi")
    out = design(fungal, "random", "max", method="motif", motifs=["ABF1"], n=2, oracle="none")
    assert len(out.table) == 2
    with pytest.raises(DataError, match="names 2 JASPAR matrices"):
        design(_linear_model(tmp_path / "any", [w]), "random", "max", method="motif", motifs=["ABF1"], n=2,
               oracle="none")


def test_ledidi_never_ends_in_a_silent_no_op(tmp_path, caplog):
    w = np.random.default_rng(5).normal(size=(4, 12))
    model = _linear_model(tmp_path / "m", [w, w * 0.9])
    with caplog.at_level("WARNING", logger="seq2expr"):
        out = design(model, "random", "max", Constraints(12, max_edits=1), method="ledidi", n=2, seed=0,
                     oracle="none")
    assert "ledidi has no edit budget" in caplog.text
    assert (out.table["n_edits"] > 0).any() or "changed none of the 2 starts" in caplog.text
    assert out.summary["unchanged"] == int((out.table["n_edits"] == 0).sum())


def test_start_table_ids_are_kept_threads_and_the_output_lock(tmp_path, one_line_error):
    import torch

    from seq2expr.atomic import folder_lock

    w = np.random.default_rng(6).normal(size=(4, 12))
    path = _linear_model(tmp_path / "m", [w, w * 0.9])
    starts = tmp_path / "starts.tsv"
    starts.write_text("id\tsequence\npromA\tACGTACGTACGT\npromB\tTTTTACGTAAGG\n")
    args = ["design", str(path), "--start", str(starts), "--rounds", "1", "--attributions", "none",
            "--threads", "1"]
    threads = torch.get_num_threads()
    try:
        res = runner.invoke(app, [*args, "-o", str(tmp_path / "d")])
        assert res.exit_code == 0, res.output
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert pd.read_csv(tmp_path / "d" / "designs.tsv", sep="\t")["start_id"].tolist() == ["promA", "promB"]
    with folder_lock(tmp_path / "busy", "design run"):
        line = one_line_error(runner.invoke(app, [*args, "-o", str(tmp_path / "busy")]), "another design run")
    assert "PID" in line and not (tmp_path / "busy" / "designs.tsv").exists()
