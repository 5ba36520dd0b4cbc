"""Join the output folders of every ``--shard K/N`` run of one variant job (``seq2expr merge``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from seq2expr.atomic import atomic_path, write_json
from seq2expr.data.errors import DataError
from seq2expr.data.io.vcf import open_vcf
from seq2expr.inference.shard import append_tsv, read_shards
from seq2expr.outputs import check_output, write_marker
from seq2expr.variants.report import histograms, report_html
from seq2expr.variants.writers import Reservoir, empty_reason, note_chunk, tabix

_COUNTS = ("records", "alleles", "scored_alleles", "rows", "seconds")  # summed over shards


def merge_variant_outputs(out_dir: str | Path, parts: list[str | Path], *, top: int = 8,
                          force: bool = False) -> dict:
    """Join the output folders of every ``--shard K/N`` run of one variant job into ``out_dir`` (atomically): the
    table and annotated VCF in input order, summed counts, and a report (histograms, top variants; no logos, which
    need the model). Returns the merged summary. ``out_dir``: a new folder, or with ``force`` a previous ``merge``
    output; never one of the parts or a folder holding them."""
    import pysam

    check_output(out_dir, parts, command="merge", folder=True, force=force)
    ordered = read_shards(parts)
    first = Path(ordered[0][0])
    table_name = next((n for n in ("variants.tsv", "variants.parquet") if (first / n).is_file()), None)
    if table_name is None:
        raise DataError("no variants.tsv or variants.parquet inside: not a variant output folder", source=str(first))
    summaries = [json.loads((Path(p) / "summary.json").read_text()) for p, _ in ordered]
    summary = {k: v for k, v in summaries[0].items() if k not in ("shard", "files")}
    for k in _COUNTS:
        summary[k] = sum(s.get(k, 0) for s in summaries)
    for k in ("skipped", "kinds"):
        summary[k] = {name: sum(s[k].get(name, 0) for s in summaries) for name in
                      dict.fromkeys(n for s in summaries for n in s[k])}
    summary["skip_reasons"] = {k: v for s in summaries for k, v in s["skip_reasons"].items()}
    summary["background_snvs"] = summaries[0].get("background_snvs", 0)  # the same seeded sample in every shard
    summary["merged_from"] = [str(p) for p, _ in ordered]
    targets = summary["targets"]
    if not summary["scored_alleles"]:
        summary["empty"] = empty_reason(summary)
    with atomic_path(out_dir, is_dir=True) as tmp:
        write_marker(tmp, "merge")
        effects = {t: Reservoir(seed=k) for k, t in enumerate(targets)}
        best: list = []
        n, header = 0, None
        with open(tmp / table_name, "wb") as dst:  # tables joined as they are (bytes), read a chunk at a time
            pq_writer = None
            for p, _ in ordered:
                src = Path(p) / table_name
                if table_name.endswith("parquet"):
                    import pyarrow.parquet as pq

                    pf = pq.ParquetFile(src)
                    pq_writer = pq_writer or pq.ParquetWriter(dst, pf.schema_arrow)
                    for batch in pf.iter_batches(65_536):
                        pq_writer.write_batch(batch)
                    chunks = (b.to_pandas() for b in pf.iter_batches(65_536))
                else:
                    header, _ = append_tsv(dst, src, header)
                    chunks = pd.read_csv(src, sep="\t", chunksize=65_536)
                for chunk in chunks:
                    note_chunk(chunk, targets, effects, best, n, top)
                    n += len(chunk)
            if pq_writer is not None:
                pq_writer.close()
        if (first / "variants.vcf.gz").is_file():
            src = [open_vcf(Path(p) / "variants.vcf.gz") for p, _ in ordered]
            out = pysam.VariantFile(str(tmp / "variants.vcf.gz"), "wz", header=src[0].header)
            try:
                for vf in src:
                    for rec in vf:
                        out.write(rec)
            finally:
                out.close()
                for vf in src:
                    vf.close()
            summary["vcf_indexed"] = tabix(tmp / "variants.vcf.gz")
        tops = [row for _, _, row in sorted(best, key=lambda b: -b[0])]
        hists = histograms({t: r.values() for t, r in effects.items()}, tmp)
        (tmp / "report.html").write_text(report_html(summary, tops, targets, [], hists))
        summary["files"] = sorted(p.name for p in tmp.iterdir() if not p.name.startswith("."))
        write_json(tmp / "summary.json", summary)
    return summary
