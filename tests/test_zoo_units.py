"""Every zoo card states the units and the range of its outputs, and the range is the one its model's predictions on
held-out data fall in (the real-data mirror): predicted by the shipped project models, read from the authors'
published predictions (Camformer) or, where the published weights are not on this machine, the held-out measurements
the card says its outputs are on the scale of."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from seq2expr.cli.main import app
from seq2expr.inference import load_model, predict
from seq2expr.zoo import converted_dir, list_cards, package_dir

N = 200  # held-out sequences per model
DREAM = "dream2022/test_71103_with_camformer_predictions.csv.gz"


def _dream_private(mirror: Path) -> pd.DataFrame:
    """DREAM test rows outside the public leaderboard (the project DREAM models trained on the public ones)."""
    test = pd.read_csv(mirror / DREAM)
    public = {int(k) for k in json.loads((mirror / "dream2022/public_leaderboard_ids/ground.json").read_text())}
    return test[~test.index.isin(public)]


def _yeast_held_out(mirror: Path, name: str) -> list[str]:
    """Gene windows of the held-out chromosomes XV and XVI, cut as the model's card says."""
    from seq2expr.data.genome.fasta import Genome
    from seq2expr.variants.place import GeneWindows, load_genes

    genome = Genome(mirror / "yeast_genome" / "Saccharomyces_cerevisiae.R64-1-1.dna.toplevel.fa.gz")
    src = load_model(f"zoo:{name}").config.windows
    table, _ = load_genes(src, genome, genes=package_dir() / "weights" / name / "genes.tsv.gz")
    place = GeneWindows(table, src.windows)
    held = np.flatnonzero(table["chrom"].isin(["XV", "XVI"]).to_numpy())[:N]
    return [place.ref_window(genome, int(i)) for i in held]


def _inside(values: np.ndarray, span, what: str) -> None:
    lo, hi = span
    values = np.asarray(values, np.float64)
    assert np.isfinite(values).all(), what
    assert lo is None or values.min() >= lo, f"{what}: min {values.min():.3g} below the stated {lo}"
    assert hi is None or values.max() <= hi, f"{what}: max {values.max():.3g} above the stated {hi}"


def test_every_card_states_the_range_its_held_out_outputs_fall_in(mirror):
    private = _dream_private(mirror).sample(N, random_state=0)
    published = {"camformer": "orig_model_expr", "camformer-mini": "mini_model_expr"}  # the authors' predictions
    measured = {"legnet-complex": "Native_complex", "legnet-defined": "Native_defined"}  # Vaishnav 2022 held out
    checked = set()
    for card in list_cards():
        t = card.targets[0]
        assert t.range is not None and t.units, card.name
        if "0-17" in t.units.split("not the")[0]:  # a card on the bin scale spans it
            assert t.range[0] >= 0 and t.range[1] >= 17, (card.name, t.range)
        if "standardised" in t.units:
            assert t.range[1] < 17 / 2, (card.name, t.range)  # never the bin scale's span
        if card.source == "project":
            seqs = _yeast_held_out(mirror, card.name) if card.genome else private["seq"].tolist()
            _inside(predict(load_model(f"zoo:{card.name}"), seqs)[:, 0], t.range, f"{card.name} predictions")
            if not card.genome:  # the data it was trained on: measured on the same scale
                _inside(private["true_expr"], t.range, f"{card.name} held-out measurements")
        elif (converted_dir(card) / "config.json").is_file():  # the authors' weights, converted on this machine
            seqs = private["seq"].tolist() if card.input.length == 110 else None
            if seqs is None:
                continue
            _inside(predict(load_model(f"zoo:{card.name}"), seqs)[:, 0], t.range, f"{card.name} predictions")
        elif card.name in published:
            _inside(pd.read_csv(mirror / DREAM)[published[card.name]], t.range, f"{card.name} published predictions")
        elif card.name in measured:
            table = pd.read_csv(mirror / "vaishnav2022" / f"{measured[card.name]}.csv.gz")
            _inside(table["Measured Expression"], t.range, f"{card.name} held-out measurements")
        else:
            continue
        checked.add(card.name)
    assert {c.name for c in list_cards() if c.source == "project"} | {"camformer", "camformer-mini"} <= checked


def test_models_list_says_origin_kind_and_one_metric_naming():
    """`models list --json/--tsv`: whole values for scripts; published imports and project-trained entries told
    apart; a classifier shown as a probability; every held-out metric under evaluate's names."""
    res = CliRunner().invoke(app, ["models", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)}
    assert rows["dream2022-legnet"]["origin"] == "project-trained"
    assert rows["legnet-dream2022"]["origin"] == "published import"
    assert rows["yeast-high-low"]["predicts"].startswith("probability of high (vs low)")
    assert "log_tpm" not in rows["yeast-high-low"]["predicts"]
    assert rows["dream2022-cnn"]["predicts"] == "expression in [-2, 2]"
    held = " ".join(r["held-out"] for r in rows.values())
    assert "pearson_r " in held and "spearman_rho" in held
    assert "pearson_r2" not in held and "spearman " not in held
    tsv = CliRunner().invoke(app, ["models", "list", "--tsv"])
    lines = tsv.output.strip().split("\n")
    assert tsv.exit_code == 0 and lines[0].split("\t")[:3] == ["name", "version", "origin"]
    assert len(lines) == len(rows) + 1 and all(len(line.split("\t")) == 8 for line in lines)
    info = CliRunner().invoke(app, ["models", "info", "zoo:dream2022-cnn", "--json"])
    card = json.loads(info.output)
    assert card["origin"].startswith("project-trained") and card["targets"][0]["range"] == [-2.0, 2.0]
    assert "0-17" not in card["targets"][0]["units"].split("not the")[0]
    info_tsv = CliRunner().invoke(app, ["models", "info", "zoo:camformer", "--tsv"]).output
    assert "origin\tpublished import" in info_tsv and "\n" not in info_tsv.split("citation\t")[1].split("\n")[0]


@pytest.mark.parametrize("args", [["models", "list", "--json", "--tsv"]])
def test_one_format_at_a_time(args):
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "--json or --tsv" in res.output
