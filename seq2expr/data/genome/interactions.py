"""Genes and the regions their chromatin loops reach: the distal input of a promoter + distal data set (DeepCBA).

:func:`gene_links` turns an interaction file (:mod:`seq2expr.data.io.interactions`) into one row per gene and
distal region. A loop's anchor that overlaps a gene's promoter window (the TSS part of its window) gives the
other anchor as a distal region of that gene, in both directions; a gene pair gives each gene the partner gene's
promoter window. Each distal region becomes a window of ``window`` bases centred on its anchor, read later in the
gene's orientation (:mod:`seq2expr.data.genome.distal`). Every record that gives no link is counted by reason:

* ``unplaced``: an anchor on chromosome ``.`` (BEDPE); ``self``: a gene paired with itself;
* ``unknown_chromosome``: an anchor's chromosome is not in the genome (names are matched as for the annotation:
  ``chrI`` = ``I``); ``unknown_gene``: a gene ID (or name) the annotation does not have;
* ``no_promoter_anchor``: neither anchor overlaps the promoter of a gene in the table (a loop between distal
  regions, or to a gene without expression); ``within_promoter``: the partner anchor overlaps the same promoter;
* ``duplicate``: a gene pair again (either order), or a loop giving a gene the same distal region again (the
  highest score is kept).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from seq2expr.data.errors import DataError
from seq2expr.data.genome.fasta import reconcile_chromosomes
from seq2expr.data.genome.windows import WindowSpec, tss_interval
from seq2expr.data.io.interactions import read_interactions

Policy = Literal["slots", "per-interaction"]
NoInteraction = Literal["empty", "drop"]
LINK_COLUMNS = ["row", "chrom", "start", "end", "score", "loop", "order"]


@dataclass(frozen=True)
class InteractionOptions:
    """The distal input of ``seq2expr data genes --interactions``.

    ``window``: bases of each distal region (centred on its anchor). ``policy="slots"``: the ``max_distal``
    highest-scoring regions of a gene fill that many slots of the distal input (``slot_spacer`` Ns between them,
    empty slots all N); ``"per-interaction"``: one sample per gene and region, as DeepCBA trained. ``no_interaction``:
    genes without a region keep an all-N distal input (``empty``, flagged ``has_distal = False``) or are dropped.
    ``spacer``: Ns between the gene's window and the distal input in the ``dual_sequence`` column.
    """

    path: str | Path
    fmt: Literal["auto", "bedpe", "pairs"] = "auto"
    window: int = 1000
    max_distal: int = 1
    policy: Policy = "slots"
    no_interaction: NoInteraction = "empty"
    spacer: int = 20
    slot_spacer: int = 20

    def check(self) -> None:
        """Raise ``ValueError`` for settings out of range (before anything is read)."""
        if self.window < 1 or self.max_distal < 1 or self.spacer < 0 or self.slot_spacer < 0:
            raise ValueError(f"distal window ({self.window}) and max distal ({self.max_distal}) must be >= 1, spacers "
                             f"({self.spacer}, {self.slot_spacer}) >= 0")
        if self.policy not in ("slots", "per-interaction"):
            raise ValueError(f"distal policy must be slots or per-interaction, not {self.policy!r}")
        if self.no_interaction not in ("empty", "drop"):
            raise ValueError(f"no-interaction must be empty or drop, not {self.no_interaction!r}")
        if self.fmt not in ("auto", "bedpe", "pairs"):
            raise ValueError(f"interaction format must be auto, bedpe or pairs, not {self.fmt!r}")

    @property
    def slots(self) -> int:
        """Distal windows in one sample's distal input."""
        return 1 if self.policy == "per-interaction" else self.max_distal

    @property
    def distal_length(self) -> int:
        """Bases of the distal input (every slot and the spacers between them)."""
        return self.slots * self.window + (self.slots - 1) * self.slot_spacer

    def settings(self) -> dict:
        """The settings as the build report records them."""
        return {**{k: v for k, v in asdict(self).items() if k != "path"}, "slots": self.slots,
                "distal_length": self.distal_length}


def promoter_intervals(genes: pd.DataFrame, spec: WindowSpec) -> pd.DataFrame:
    """``chrom, start, end, row``: the promoter (TSS) part of each gene's window; ``row`` is the gene's position."""
    se = [tss_interval(int(t), s, spec) for t, s in zip(genes["tss"], genes["strand"], strict=True)]
    start, end = (np.array([x[k] for x in se], dtype=np.int64) for k in (0, 1))
    return pd.DataFrame({"chrom": genes["chrom"].astype(str).to_numpy(), "start": start, "end": end,
                         "row": np.arange(len(genes))})


def _overlap(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Index pairs ``(i, j)`` of intervals of ``a`` and ``b`` that overlap (bioframe)."""
    import bioframe

    if a.empty or b.empty:
        return pd.DataFrame({"i": np.zeros(0, np.int64), "j": np.zeros(0, np.int64)})
    left = a[["chrom", "start", "end"]].assign(i=np.arange(len(a)))
    right = b[["chrom", "start", "end"]].assign(j=np.arange(len(b)))
    with warnings.catch_warnings():  # bioframe's own use of pandas' deprecated inplace= keyword
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        hits = bioframe.overlap(left, right, how="inner", suffixes=("", "_b"), return_index=False)
    return pd.DataFrame({"i": hits["i"].to_numpy(np.int64), "j": hits["j_b"].to_numpy(np.int64)})


def _centred(start: np.ndarray, end: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    s = (np.asarray(start, np.int64) + np.asarray(end, np.int64)) // 2 - window // 2
    return s, s + window


def _bedpe_links(loops: pd.DataFrame, genes: pd.DataFrame, fasta_names: list[str], spec: WindowSpec,
                 opts: InteractionOptions, skipped: dict[str, int]) -> tuple[pd.DataFrame, dict]:
    """Links from BEDPE loops (see the module docstring)."""
    cmap, crep = reconcile_chromosomes(pd.concat([loops["chrom1"], loops["chrom2"]]).unique(), fasta_names)
    if not cmap:
        raise DataError(f"none of the loops' chromosomes (e.g. {crep['unmatched'][:5]}) is in the genome (FASTA "
                        f"names e.g. {fasta_names[:5]})", source=loops.attrs.get("source"))
    loops = loops.assign(chrom1=loops["chrom1"].map(cmap), chrom2=loops["chrom2"].map(cmap))
    off = loops["chrom1"].isna() | loops["chrom2"].isna()
    skipped["unknown_chromosome"] = int(off.sum())
    loops = loops[~off].reset_index(drop=True)
    promoters = promoter_intervals(genes, spec)
    parts, used = [], np.zeros(len(loops), dtype=bool)
    for near, far in (("1", "2"), ("2", "1")):
        anchor = loops.rename(columns={f"chrom{near}": "chrom", f"start{near}": "start", f"end{near}": "end"})
        hits = _overlap(anchor, promoters)
        used[hits["i"].to_numpy()] = True
        lp = loops.iloc[hits["i"].to_numpy()]
        s, e = lp[f"start{far}"].to_numpy(), lp[f"end{far}"].to_numpy()
        parts.append(pd.DataFrame({"row": promoters["row"].to_numpy()[hits["j"].to_numpy()],
                                   "chrom": lp[f"chrom{far}"].to_numpy(), "astart": s, "aend": e,
                                   "score": lp["score"].to_numpy(), "loop": lp["name"].to_numpy(),
                                   "order": hits["i"].to_numpy()}))
    skipped["no_promoter_anchor"] = int((~used).sum())
    links = pd.concat(parts, ignore_index=True)
    # a partner anchor on the gene's own promoter is no distal region
    own = promoters.iloc[links["row"].to_numpy()]
    inside = (own["chrom"].to_numpy() == links["chrom"].to_numpy()) & (
        links["astart"].to_numpy() < own["end"].to_numpy()) & (links["aend"].to_numpy() > own["start"].to_numpy())
    skipped["within_promoter"] = int(inside.sum())
    links = links[~inside]
    start, end = _centred(links["astart"].to_numpy(), links["aend"].to_numpy(), opts.window)
    return links.assign(start=start, end=end)[LINK_COLUMNS], crep


def _pair_links(pairs: pd.DataFrame, genes: pd.DataFrame, annotated: pd.DataFrame, spec: WindowSpec,
                opts: InteractionOptions, skipped: dict[str, int]) -> pd.DataFrame:
    """Links from gene pairs: each gene of the table gets its partner's promoter window (both directions)."""
    from seq2expr.data.genome.expression import match_gene_ids

    ids = pd.Index(pd.unique(pd.concat([pairs["gene1"], pairs["gene2"]])))
    try:
        mapped, _ = match_gene_ids(ids, annotated, source=pairs.attrs.get("source"))
    except DataError:
        raise DataError(f"no gene IDs in common with the annotation: the pairs name genes like {ids[:4].tolist()}, "
                        f"the annotation has IDs like {annotated['gene_id'].head(4).tolist()}",
                        source=pairs.attrs.get("source")) from None
    g1, g2 = pairs["gene1"].map(mapped), pairs["gene2"].map(mapped)
    unknown = (g1.isna() | g2.isna()).to_numpy()
    skipped["unknown_gene"] = int(unknown.sum())
    skipped["unknown_gene_examples"] = pd.unique(pd.concat([pairs.loc[g1.isna(), "gene1"],
                                                            pairs.loc[g2.isna(), "gene2"]]))[:5].tolist()
    same = (g1 == g2).to_numpy() & ~unknown  # an ID and a name of one gene
    skipped["self"] = skipped.get("self", 0) + int(same.sum())
    keep = ~unknown & ~same
    p = pairs[keep].assign(g1=g1[keep].to_numpy(), g2=g2[keep].to_numpy())
    key = np.where(p["g1"] < p["g2"], p["g1"] + "\t" + p["g2"], p["g2"] + "\t" + p["g1"])  # A-B = B-A
    p = p.assign(key=key).sort_values(["score", "line"], ascending=[False, True], kind="stable")
    dup = p["key"].duplicated()
    skipped["duplicate"] = int(dup.sum())
    p = p[~dup].sort_values("line", kind="stable")
    where = annotated.drop_duplicates("gene_id").set_index("gene_id")
    prom = promoter_intervals(where, spec).set_index(where.index)
    row_of = pd.Series(np.arange(len(genes)), index=genes["gene_id"].to_numpy())
    row_of = row_of[~row_of.index.duplicated()]
    parts = []
    for me, partner in (("g1", "g2"), ("g2", "g1")):
        rows = p[me].map(row_of)
        q = p[rows.notna().to_numpy()]
        anchor = prom.loc[q[partner].to_numpy()]
        start, end = _centred(anchor["start"].to_numpy(), anchor["end"].to_numpy(), opts.window)
        parts.append(pd.DataFrame({"row": rows.dropna().to_numpy(np.int64), "chrom": anchor["chrom"].to_numpy(),
                                   "start": start, "end": end, "score": q["score"].to_numpy(),
                                   "loop": (q["gene1"] + "~" + q["gene2"]).to_numpy(), "order": q["line"].to_numpy()}))
    links = pd.concat(parts, ignore_index=True)
    in_table = p["g1"].isin(row_of.index) | p["g2"].isin(row_of.index)
    skipped["no_promoter_anchor"] = int((~in_table).sum())
    return links[LINK_COLUMNS]


def gene_links(genes: pd.DataFrame, annotated: pd.DataFrame, fasta_names: list[str], spec: WindowSpec,
               opts: InteractionOptions) -> tuple[pd.DataFrame, dict]:
    """One row per gene (``row``: its position in ``genes``) and distal window (``chrom, start, end`` on the
    genome's names), with the loop's ``score``, name (``loop``) and file ``order``, duplicates removed; and the
    report: records read, links, skipped records by reason, the chromosome renaming.

    ``genes``: the table's genes (``gene_id, chrom, strand, tss``); ``annotated``: every annotated gene on the
    genome (``gene_id, gene_name, chrom, strand, tss``), where gene pairs look up partners.
    """
    kind, records = read_interactions(opts.path, opts.fmt)
    skipped: dict = dict(records.attrs.get("skipped", {}))
    report: dict = {"source": str(opts.path), "format": kind, "records": int(records.attrs.get("records", 0)),
                    "score_column": records.attrs.get("score_column")}
    if kind == "bedpe":
        links, report["chromosomes"] = _bedpe_links(records, genes, fasta_names, spec, opts, skipped)
    else:
        links = _pair_links(records, genes, annotated, spec, opts, skipped)
    links = links.sort_values(["row", "score", "order"], ascending=[True, False, True], kind="stable")
    dup = links.duplicated(["row", "chrom", "start"])
    skipped["duplicate"] = skipped.get("duplicate", 0) + int(dup.sum())
    links = links[~dup].reset_index(drop=True)
    examples = skipped.pop("unknown_gene_examples", None)
    report["skipped"] = {k: v for k, v in skipped.items() if v}
    if examples:
        report["unknown_gene_examples"] = list(map(str, examples))
    report["links"] = len(links)
    if links.empty:
        raise DataError(f"no interaction reaches the promoter of a gene in the table (skipped: {report['skipped']})",
                        source=str(opts.path))
    return links, report
