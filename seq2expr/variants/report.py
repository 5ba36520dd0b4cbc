"""The HTML report of a variant run: effect histograms, the top variants, and attribution logos of their
reference and alternative windows around the variant."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from seq2expr.report_html import fmt, render
from seq2expr.variants.place import CentredWindows, GeneWindows
from seq2expr.variants.score import VariantScorer
from seq2expr.zoo import card_data

LOGO_FLANK = 30  # bases either side of the variant in the logos


def _windows_of(scorer: VariantScorer, row: dict) -> tuple[str, str, int]:
    """Reference and alternative window of a scored row, and the variant's index in them."""
    p0, ref, alt = int(row["pos"]) - 1, row["ref"], row["alt"]
    chrom = scorer._chroms.get(row["chrom"], row["chrom"])
    place = scorer.place
    if isinstance(place, GeneWindows):
        g = int(np.flatnonzero(place.genes["gene_id"].to_numpy() == row["gene_id"])[0])
        index = next((int(i[0]) for k in range(place.start.shape[1])
                      for i in [place.substitution_index(np.array([g]), np.array([p0]), k)[0]] if i[0] >= 0), 0)
        return place.ref_window(scorer.genome, g), place.alt_window(scorer.genome, g, p0, ref, alt), index
    assert isinstance(place, CentredWindows)
    seq = scorer.genome.sequence(chrom)
    return (place.ref_window(seq, p0, ref), place.alt_window(seq, p0, ref, alt),
            len(place.left) + (place.variable - len(ref)) // 2)


def variant_label(row: dict) -> str:
    """``"rs123 GENE C>T"``: the variant's ID, its gene (name, else ID, when it has one) and its alleles."""
    gene = next((fmt(row.get(k)) for k in ("gene_name", "gene_id") if fmt(row.get(k)) not in ("", "-")), "")
    return " ".join(x for x in (str(row["id"]), gene, f"{row['ref']}>{row['alt']}") if x)


def top_logos(scorer: VariantScorer, tops: list[dict], tmp: Path, method: str) -> list[tuple[str, str]]:
    """Attributions of the top variants' reference and alternative windows: one figure each, ref above alt on one
    y scale, the variant shaded; returns ``(label, file)``."""
    from seq2expr.inference import encode_for
    from seq2expr.interpret.attribute import attribute
    from seq2expr.interpret.ism import ism
    from seq2expr.interpret.logos import ref_alt_logo

    wins = [_windows_of(scorer, row) for row in tops]
    codes = encode_for(scorer.saved, [w for r, a, _ in wins for w in (r, a)], source="variant windows")
    centre = np.repeat([i for _, _, i in wins], 2)
    # the output the top variants are ranked by (the run's readout, first output), strand-averaged as scored
    readout = scorer.readout.first_output(scorer.saved)
    if method == "ism":
        lo, hi = max(0, int(centre.min()) - LOGO_FLANK), min(codes.shape[1], int(centre.max()) + LOGO_FLANK)
        hyp = ism(scorer.saved, codes, readout=readout, start=lo, end=hi, center=True)
        from seq2expr.inference import as_onehot

        attr = hyp * as_onehot(codes, scorer.saved).numpy()
    else:
        attr, _ = attribute(scorer.saved, codes, method=method, readout=readout, n_shuffles=10, batch_size=64)
    np.savez_compressed(tmp / "attributions.npz", attributions=attr.astype(np.float32), codes=codes,
                        variant_index=centre, ids=np.asarray([str(r["id"]) for r in tops for _ in (0, 1)]))
    img = tmp / "img"
    img.mkdir(exist_ok=True)
    out = []
    for k, row in enumerate(tops):
        label = variant_label(row)
        f = ref_alt_logo(attr[2 * k], attr[2 * k + 1], img / f"top{k}.png", ref_centre=int(centre[2 * k]),
                         alt_centre=int(centre[2 * k + 1]), flank=LOGO_FLANK, title=label,
                         widths=(max(1, len(str(row["ref"]))), max(1, len(str(row["alt"])))))
        out.append((label, f.name))
    return out


def histograms(effects: dict[str, np.ndarray], tmp: Path) -> list[str]:
    from matplotlib.ticker import MaxNLocator

    from seq2expr.interpret.logos import plt, save_figure

    (tmp / "img").mkdir(exist_ok=True)
    names = []
    for t, e in effects.items():
        if not len(e):
            continue
        fig, ax = plt.subplots(figsize=(5, 2.8), layout="constrained")
        ax.hist(e[np.isfinite(e)], bins=60, color="#4472c4")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))  # few ticks: long effect values do not collide
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.set_xlabel(f"predicted effect on {t} (alt - ref, original scale)")
        ax.set_ylabel("alleles x windows")
        f = save_figure(fig, tmp / "img" / f"effects_{re.sub(r'[^0-9A-Za-z_.-]', '_', t)}.png")
        names.append(f.name)
    return names


def report_html(summary: dict, tops: list[dict], targets: list[str], logos: list, hists: list[str]) -> str:
    """The run's page: summary, model card, skipped alleles, effect histograms, top variants and their logos."""
    cols = [c for c in ("id", "chrom", "pos", "ref", "alt", "kind", "gene_id", "gene_name", "tss_distance")
            if tops and c in tops[0]] + [c for t in targets for c in (f"effect_{t}", f"percentile_{t}")
                                          if tops and c in tops[0]]
    return render("variants.html.j2", title="seq2expr variant effects", s=summary,
                  card=card_data(summary.get("model_card"), summary.get("model_lineage")),
                  notes=[summary[k] for k in ("model_truncated",) if summary.get(k)],
                  skipped=list(summary["skipped"].items()), reason=summary["skip_reasons"], hists=hists,
                  target=targets[0] if targets else "", columns=cols,
                  rows=[[row.get(c) for c in cols] for row in tops], logos=logos)
