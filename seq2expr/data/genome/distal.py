"""The distal input of a gene data set: windows of the regions a gene's loops reach, and the leakage they carry.

:func:`add_interactions` adds to a built gene table (``seq2expr data genes --interactions``):

* ``gene_id``; ``distal_sequence``: the distal input (``slots`` windows, ``slot_spacer`` Ns between them, each read
  in the gene's orientation: reverse-complemented for a minus-strand gene; an empty slot is all N);
* ``dual_sequence``: ``sequence + spacer Ns + distal_sequence``, the input of model ``dual``
  (``branch_lengths = [len(sequence), len(distal_sequence)]``, recorded in the report under ``dual``);
* ``has_distal`` (the mask: False when the distal input is all N), ``distal_slots`` (windows filled),
  ``interactions`` (the gene's distal regions before the ``max_distal`` cut), ``distal_score`` (the best used),
  ``distal_regions`` (``chrom:start-end`` of each used window, ``;``-separated, in slot order) and ``loops`` (their
  loop names, or ``gene1~gene2`` for gene pairs).

With ``policy="per-interaction"`` each gene and distal region is a row of its own (``id`` = ``GENE|chrom:start-end``),
as DeepCBA trained. Promoter-only and promoter + distal models train on the same rows (``sequence`` and
``dual_sequence``), so their comparison is like for like. Every row keeps its gene's ``chromosome`` (and ``fold``):
a chromosome split holds out both anchors with the gene, and :func:`distal_leakage` counts the distal regions that
rows of different groups still share (reported per chromosome and per fold by the build).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.data.errors import DataError
from seq2expr.data.genome.fasta import Genome, padded_slice
from seq2expr.data.genome.interactions import InteractionOptions, gene_links
from seq2expr.data.genome.windows import WindowSpec
from seq2expr.data.sequences import reverse_complement

DISTAL_COLUMN, DUAL_COLUMN = "distal_sequence", "dual_sequence"


def region_names(links: pd.DataFrame) -> np.ndarray:
    """``chrom:start-end`` of each link's distal window (0-based, half-open)."""
    return (links["chrom"].astype(str) + ":" + links["start"].astype(str) + "-" + links["end"].astype(str)).to_numpy()


def distal_windows(genome: Genome, links: pd.DataFrame, strands: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Each link's window, reverse-complemented where its gene is on the minus strand; and whether it was N-padded
    (it ran off a chromosome end). Read one chromosome at a time."""
    seqs: list[str] = [""] * len(links)
    padded = np.zeros(len(links), dtype=bool)
    order = np.argsort(links["chrom"].to_numpy(), kind="stable")
    chrom, start, end = (links[c].to_numpy() for c in ("chrom", "start", "end"))
    for i in order:
        seq = genome.sequence(chrom[i])
        s, e = int(start[i]), int(end[i])
        text = padded_slice(seq, s, e)
        padded[i] = s < 0 or e > len(seq)
        seqs[i] = reverse_complement(text) if strands[i] == "-" else text
    return seqs, padded


def _slot_rows(table: pd.DataFrame, links: pd.DataFrame, seqs: list[str], opts: InteractionOptions) -> pd.DataFrame:
    """One row per gene: its ``max_distal`` best regions in that many slots."""
    n = len(table)
    rank = links.groupby("row", sort=False).cumcount().to_numpy()
    used = rank < opts.slots
    empty = "N" * opts.window
    slots = [[empty] * opts.slots for _ in range(n)]
    regions: list[list[str]] = [[] for _ in range(n)]
    loops: list[list[str]] = [[] for _ in range(n)]
    names = region_names(links)
    for i in np.flatnonzero(used):
        r = int(links["row"].iat[i])
        slots[r][rank[i]] = seqs[i]
        regions[r].append(names[i])
        loops[r].append(str(links["loop"].iat[i]))
    counts = links.groupby("row").size().reindex(range(n), fill_value=0).to_numpy()
    best = links[used].groupby("row")["score"].max().reindex(range(n)).to_numpy()
    filled = np.array([len(x) for x in regions], dtype=np.int64)
    return table.assign(
        distal_sequence=[("N" * opts.slot_spacer).join(s) for s in slots], has_distal=filled > 0,
        distal_slots=filled, interactions=counts, distal_score=best,
        distal_regions=[";".join(x) for x in regions], loops=[";".join(x) for x in loops])


def _interaction_rows(table: pd.DataFrame, links: pd.DataFrame, seqs: list[str], opts: InteractionOptions
                      ) -> pd.DataFrame:
    """One row per gene and distal region (genes without one: a row with an all-N distal input)."""
    counts = links.groupby("row").size()
    rows = links["row"].to_numpy()
    names = region_names(links)
    linked = table.iloc[rows].reset_index(drop=True).assign(
        id=table["id"].to_numpy()[rows] + "|" + names, distal_sequence=seqs, has_distal=True, distal_slots=1,
        interactions=counts.loc[rows].to_numpy(), distal_score=links["score"].to_numpy(), distal_regions=names,
        loops=links["loop"].astype(str).to_numpy())
    alone = table[~np.isin(np.arange(len(table)), rows)].assign(
        distal_sequence="N" * opts.window, has_distal=False, distal_slots=0, interactions=0, distal_score=np.nan,
        distal_regions="", loops="")
    out = pd.concat([linked, alone], ignore_index=True)
    order = np.lexsort((np.arange(len(out)), pd.Categorical(out["gene_id"], categories=table["id"]).codes))
    return out.iloc[order].reset_index(drop=True)


def distal_leakage(table: pd.DataFrame, groups: np.ndarray | pd.Series) -> dict:
    """Distal regions that rows of different ``groups`` share (e.g. a chromosome split's train and test genes):
    ``regions`` used by rows of more than one group and the ``rows`` using such a region. A region shared inside
    one group is no leakage."""
    regions = table["distal_regions"].fillna("").astype(str).str.split(";")
    long = pd.DataFrame({"group": np.asarray(groups)[np.repeat(np.arange(len(table)), regions.str.len())],
                         "region": np.concatenate(regions.to_numpy()) if len(table) else np.array([], str),
                         "row": np.repeat(np.arange(len(table)), regions.str.len())})
    long = long[long["region"] != ""]
    spread = long.groupby("region")["group"].nunique()
    shared = spread.index[spread > 1]
    return {"regions": int(len(shared)), "rows": int(long.loc[long["region"].isin(shared), "row"].nunique())}


def _leakage_report(table: pd.DataFrame) -> dict:
    regions = table["distal_regions"].fillna("").astype(str).str.split(";").explode()
    regions = regions[regions != ""]
    out = {"distinct_regions": int(regions.nunique()),
           "regions_of_several_genes": int((table.loc[regions.index, "gene_id"].groupby(regions.to_numpy())
                                            .nunique() > 1).sum()),
           "across_chromosomes": distal_leakage(table, table["chromosome"].astype(str).to_numpy())}
    if "fold" in table.columns:
        out["across_folds"] = distal_leakage(table, table["fold"].astype(str).to_numpy())
    return out


def add_interactions(table: pd.DataFrame, genome: str | Path | Genome, annotated: pd.DataFrame, spec: WindowSpec,
                     opts: InteractionOptions, *, cache: str | Path | None = None) -> tuple[pd.DataFrame, dict]:
    """The table with its distal input (module docstring) and the report's ``interactions`` entry.

    ``table``: a built gene table (``id, sequence, chromosome, strand, tss`` on the genome's names);
    ``annotated``: every annotated gene on the genome (partners of gene pairs).
    """
    opts.check()
    fa = genome if isinstance(genome, Genome) else Genome(genome, cache=cache)
    genes = pd.DataFrame({"gene_id": table["id"].to_numpy(), "chrom": table["chromosome"].astype(str).to_numpy(),
                          "strand": table["strand"].to_numpy(), "tss": table["tss"].to_numpy()})
    links, report = gene_links(genes, annotated, fa.names, spec, opts)
    seqs, padded = distal_windows(fa, links, genes["strand"].to_numpy()[links["row"].to_numpy()])
    table = table.assign(gene_id=table["id"].to_numpy())
    out = (_slot_rows if opts.policy == "slots" else _interaction_rows)(table, links, seqs, opts)
    without = ~out["has_distal"].to_numpy()
    genes_without = int(out.loc[without, "gene_id"].nunique())
    if opts.no_interaction == "drop":
        out = out[~without].reset_index(drop=True)
        if out.empty:
            raise DataError("no gene has an interaction and --no-interaction drop is set", source=str(opts.path))
    out[DUAL_COLUMN] = out["sequence"] + "N" * opts.spacer + out[DISTAL_COLUMN]
    trans = links["chrom"].to_numpy() != genes["chrom"].to_numpy()[links["row"].to_numpy()]
    report.update({
        "genes_with_interactions": int(len(table) - genes_without),
        "genes_without_interactions": genes_without,
        "genes_without_interactions_" + ("dropped" if opts.no_interaction == "drop" else "kept_empty"): genes_without,
        "trans_links": int(trans.sum()), "distal_windows_padded": int(padded.sum()),
        "slots_filled": {str(k): int(v) for k, v in out["distal_slots"].value_counts().sort_index().items()},
        "rows": len(out), "leakage": _leakage_report(out)})
    return out, report


def dual_layout(table: pd.DataFrame, opts: InteractionOptions) -> dict:
    """What model ``dual`` needs to read ``dual_sequence``: its column, branch lengths and spacer."""
    first = int(table["sequence"].str.len().iloc[0]) if len(table) else 0
    return {"column": DUAL_COLUMN, "branch_lengths": [first, opts.distal_length], "spacer": opts.spacer,
            "seq_len": first + opts.spacer + opts.distal_length}
