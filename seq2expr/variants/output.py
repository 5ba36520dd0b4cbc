"""Outputs of a variant run, written into a folder that appears only when complete (atomic rename):

* ``variants.tsv`` (or ``.parquet``): one row per allele x window, streamed chunk by chunk;
* ``variants.vcf.gz`` (VCF input): the input records with one INFO field per target, declared in the header,
  holding ``ALT|GENE|EFFECT|PERCENTILE`` for every scored allele x gene;
* ``summary.json``: alleles read, scored, skipped by reason, kinds, timings;
* ``report.html`` (+ ``img/``): the effect distribution per target, the top variants, and attribution logos of
  their reference and alternative windows around the variant (``attributions.npz`` holds them).

The files are written by :mod:`seq2expr.variants.writers`, the page by :mod:`seq2expr.variants.report`; the
shards of one job are joined by :mod:`seq2expr.variants.merge`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from seq2expr.atomic import atomic_path, write_json
from seq2expr.data.io.vcf import is_vcf
from seq2expr.evaluation import model_notes
from seq2expr.files import fault_point
from seq2expr.inference import Readout, SavedModel, check_sizes, read_config
from seq2expr.inference.shard import Shard, write_sidecar
from seq2expr.outputs import check_output, write_marker
from seq2expr.variants.report import histograms, report_html, top_logos
from seq2expr.variants.score import VariantScorer, count_records
from seq2expr.variants.writers import AnnotatedVcf, Reservoir, Table, empty_reason, note_chunk, tabix


def write_variant_outputs(scorer: VariantScorer, variants: str | Path, out_dir: str | Path, *,
                          table_format: str = "tsv", chunk_size: int = 100_000, top: int | None = None,
                          attributions: str | None = None, progress=None, shard: Shard | str | None = None,
                          force: bool = False) -> dict:
    """Score ``variants`` with ``scorer`` and write every output into ``out_dir`` (atomically); returns the
    summary. ``attributions``: deeplift_shap | saliency | integrated_gradients | ism | none (for the ``top``
    variants' logos; default: the scorer's :class:`~seq2expr.variants.ScoreOptions`).
    ``shard="K/N"``: only the K-th of N contiguous parts of the input records (joined by :func:`merge_variant_outputs`;
    see :mod:`seq2expr.inference.shard`). ``out_dir``: a new folder, or with ``force`` a previous ``variants``
    output; never one holding an input (:func:`seq2expr.outputs.check_output`). When nothing is scored the summary
    says why (``empty``)."""
    check_output(out_dir, [variants, *scorer.inputs], command="variants", folder=True, force=force)
    opts = replace(scorer.options, **{k: v for k, v in (("top", top), ("attributions", attributions))
                                      if v is not None})  # checked as the options are
    top, attributions = opts.top, opts.attributions
    check_sizes(chunk_size=chunk_size)
    t0 = time.perf_counter()
    variants = Path(variants)
    part = Shard.parse(shard)
    total = count_records(variants, chunk_size) if part is not None else None
    span = part.range(total) if part is not None else None
    vcf_in = is_vcf(variants)
    out_dir = Path(out_dir)
    targets = scorer.targets
    with atomic_path(out_dir, is_dir=True) as tmp:
        write_marker(tmp, "variants")
        table = Table(tmp / f"variants.{'parquet' if table_format == 'parquet' else 'tsv'}")
        vcf = AnnotatedVcf(variants, tmp / "variants.vcf.gz", targets, scorer.mode == "gene") if vcf_in else None
        best: list = []  # heap of (|effect|, n, row) for the top variants
        effects = {t: Reservoir(seed=k) for k, t in enumerate(targets)}  # bounded sample for the histograms
        n_seen = span[0] if span else 0
        try:
            for scores, records in scorer.run(variants, chunk_size=chunk_size, keep_records=vcf_in, records=span):
                table.write(scores)
                fault_point("chunk")  # a test hook: a kill or a signal with part of the output written
                if vcf is not None and records:
                    vcf.write(records, scores, n_seen)  # records are numbered from 0 in input order
                    n_seen += len(records)
                note_chunk(scores, targets, effects, best, scorer.summary["rows"], top)
                if progress is not None:
                    progress(scorer.summary["alleles"])
        finally:
            table.close()
            if vcf is not None:
                vcf.close()
        indexed = vcf is not None and tabix(tmp / "variants.vcf.gz")
        tops = [row for _, _, row in sorted(best, key=lambda b: -b[0])]
        elapsed = time.perf_counter() - t0
        summary = {**scorer.report(), **model_notes(scorer.saved.config), "input": str(variants), "targets": targets,
                   "vcf_indexed": indexed,
                   "seconds": round(elapsed, 2)}
        if vcf is not None and vcf.undeclared:
            summary["undeclared_in_header"] = vcf.undeclared  # declared in the annotated copy
        if part is not None:
            summary["shard"] = {"index": part.index, "count": part.count, "records": [span[0], span[1]],
                                "of": total}
        if not summary["scored_alleles"]:
            summary["empty"] = empty_reason(summary)
        summary["alleles_per_second"] = rate(summary["alleles"], elapsed)
        logos = top_logos(scorer, tops, tmp, attributions) if tops and attributions != "none" else []
        hists = histograms({t: r.values() for t, r in effects.items()}, tmp)
        (tmp / "report.html").write_text(report_html(summary, tops, targets, logos, hists))
        summary["files"] = sorted(p.name for p in tmp.iterdir() if not p.name.startswith("."))
        write_json(tmp / "summary.json", summary)
    if part is not None:
        write_sidecar(out_dir, part, input=str(variants), records=total, lo=span[0], hi=span[1],
                      rows=summary["rows"])
    return summary


def rate(n: int, seconds: float) -> float:
    """``n / seconds`` to 3 significant digits (a slow run's 0.004/s stays 0.004, not 0.0)."""
    return float(f"{n / max(seconds, 1e-9):.3g}")


def read_pairs(path: str | Path) -> pd.DataFrame:
    """A table of sequence pairs (TSV/CSV, .gz ok, or parquet)."""
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="," if ".csv" in path.name.lower() else "\t", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, UnicodeDecodeError) as err:
        from seq2expr.data.errors import DataError

        raise DataError(f"cannot read the pair table ({' '.join(str(err).split())})", source=str(path)) from None


def write_pair_outputs(model, pairs: str | Path, out_dir: str | Path, *, ref_column: str = "ref_sequence",
                       alt_column: str = "alt_sequence", id_column: str | None = "id", batch_size: int = 512,
                       device: str | None = None, table_format: str = "tsv", precision: str | None = None,
                       force: bool = False, allow_duplicates: bool = False, engine: str = "torch",
                       readout: Readout | str | None = None) -> dict:
    """Sequence-pair mode: ``variants.tsv|parquet`` (id, ref_T, alt_T, effect_T per output of ``readout``: default
    every target) and ``summary.json``; ``out_dir`` as in :func:`write_variant_outputs`; a repeated ID is an error
    unless ``allow_duplicates``."""
    from seq2expr.variants.score import score_pairs

    check_output(out_dir, [model, pairs], command="variants", folder=True, force=force)
    t0 = time.perf_counter()
    table = score_pairs(model, read_pairs(pairs), ref_column=ref_column, alt_column=alt_column, id_column=id_column,
                        batch_size=batch_size, device=device, source=str(pairs), precision=precision,
                        allow_duplicates=allow_duplicates, engine=engine, readout=readout)
    with atomic_path(out_dir, is_dir=True) as tmp:
        write_marker(tmp, "variants")
        writer = Table(tmp / f"variants.{'parquet' if table_format == 'parquet' else 'tsv'}")
        try:
            writer.write(table)
        finally:
            writer.close()
        cfg = model.config if isinstance(model, SavedModel) else read_config(model)
        summary = {"mode": "pairs", "input": str(pairs), "pairs": len(table), **model_notes(cfg),
                   "seconds": round(time.perf_counter() - t0, 2)}
        write_json(tmp / "summary.json", summary)
    return summary
