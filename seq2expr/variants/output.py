"""Outputs of a variant run, written into a folder that appears only when complete (atomic rename):

* ``variants.tsv`` (or ``.parquet``): one row per allele x window, streamed chunk by chunk;
* ``variants.vcf.gz`` (VCF input): the input records with one INFO field per target, declared in the header,
  holding ``ALT|GENE|EFFECT|PERCENTILE`` for every scored allele x gene;
* ``summary.json``: alleles read, scored, skipped by reason, kinds, timings;
* ``report.html`` (+ ``img/``): the effect distribution per target, the top variants, and attribution logos of
  their reference and alternative windows around the variant (``attributions.npz`` holds them).
"""

from __future__ import annotations

import heapq
import html
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.atomic import atomic_path, write_json
from seq2expr.data.errors import DataError
from seq2expr.evaluation import model_notes
from seq2expr.files import fault_point
from seq2expr.inference import SavedModel, check_sizes, read_config
from seq2expr.inference.shard import Shard, append_tsv, read_shards, write_sidecar
from seq2expr.outputs import check_output, write_marker
from seq2expr.report_html import html_page
from seq2expr.tsv import TsvWriter
from seq2expr.variants.alleles import declare, is_vcf, open_vcf, undeclared
from seq2expr.variants.place import CentredWindows, GeneWindows
from seq2expr.variants.score import VariantScorer, count_records
from seq2expr.zoo import card_html

INFO_PREFIX = "S2E_"
LOGO_FLANK = 30  # bases either side of the variant in the logos


def info_key(target: str) -> str:
    """A VCF INFO ID for a target name (letters, digits, ``_`` and ``.``; not starting with a digit)."""
    return INFO_PREFIX + re.sub(r"[^0-9A-Za-z_.]", "_", target)


class _Table:
    """Chunks of a DataFrame appended to a TSV or a parquet file."""

    def __init__(self, path: Path):
        self.path, self.parquet, self.writer, self.fh, self.tsv = path, path.suffix == ".parquet", None, None, None

    def write(self, df: pd.DataFrame) -> None:
        if self.parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.path, table.schema)
            self.writer.write_table(table.cast(self.writer.schema))
        else:
            if self.tsv is None:
                self.fh = open(self.path, "w", newline="")  # noqa: SIM115 - closed by close()
                self.tsv = TsvWriter(self.fh)
            self.tsv.write(df)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.fh is not None:
            self.fh.close()


class _AnnotatedVcf:
    """The input VCF's records, re-written with the scores as INFO fields."""

    def __init__(self, source: Path, path: Path, targets: list[str], gene_mode: bool):
        import pysam

        self.targets = targets
        vcf = open_vcf(source)
        # tags the records use but the header does not declare: the reader declares them (read_variants with
        # keep_records), or htslib's copy of a record would end the process without a word; so does this header
        self.undeclared = undeclared(source, vcf.header)
        header = vcf.header.copy()
        vcf.close()
        declare(header, self.undeclared)
        what = "GENE" if gene_mode else "."
        for t in targets:
            header.info.add(info_key(t), ".", "String",
                            f"seq2expr predicted effect on {t} (alt - ref, original scale) per scored allele and "
                            f"window: ALT|{what}|EFFECT|PERCENTILE")
        self.out = pysam.VariantFile(str(path), "wz", header=header)

    def write(self, records: list, scores: pd.DataFrame, first_record: int) -> None:
        by_record: dict[int, dict[str, list[str]]] = {}
        gene = scores["gene_id"] if "gene_id" in scores else pd.Series(".", index=scores.index)
        for t in self.targets:
            pct = scores.get(f"percentile_{t}", pd.Series(np.nan, index=scores.index))
            for rec, alt, g, e, p in zip(scores["record"], scores["alt"], gene, scores[f"effect_{t}"], pct,
                                         strict=True):
                value = f"{alt}|{g}|{e:.4g}|{'.' if p != p else f'{p:.3g}'}"
                by_record.setdefault(int(rec), {}).setdefault(t, []).append(value)
        for k, rec in enumerate(records):
            rec.translate(self.out.header)
            for t, values in by_record.get(first_record + k, {}).items():
                rec.info[info_key(t)] = tuple(values)
            self.out.write(rec)

    def close(self) -> None:
        self.out.close()


def write_variant_outputs(scorer: VariantScorer, variants: str | Path, out_dir: str | Path, *,
                          table_format: str = "tsv", chunk_size: int = 100_000, top: int = 8,
                          attributions: str = "deeplift_shap", progress=None, shard: Shard | str | None = None,
                          force: bool = False) -> dict:
    """Score ``variants`` with ``scorer`` and write every output into ``out_dir`` (atomically); returns the
    summary. ``attributions``: deeplift_shap | saliency | ism | none (for the ``top`` variants' logos).
    ``shard="K/N"``: only the K-th of N contiguous parts of the input records (joined by :func:`merge_variant_outputs`;
    see :mod:`seq2expr.inference.shard`). ``out_dir``: a new folder, or with ``force`` a previous ``variants``
    output; never one holding an input (:func:`seq2expr.outputs.check_output`). When nothing is scored the summary
    says why (``empty``)."""
    check_output(out_dir, [variants, *scorer.inputs], command="variants", folder=True, force=force)
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
        table = _Table(tmp / f"variants.{'parquet' if table_format == 'parquet' else 'tsv'}")
        vcf = _AnnotatedVcf(variants, tmp / "variants.vcf.gz", targets, scorer.mode == "gene") if vcf_in else None
        best: list = []  # heap of (|effect|, n, row) for the top variants
        effects = {t: _Reservoir(seed=k) for k, t in enumerate(targets)}  # bounded sample for the histograms
        n_seen = span[0] if span else 0
        try:
            for scores, records in scorer.run(variants, chunk_size=chunk_size, keep_records=vcf_in, records=span):
                table.write(scores)
                fault_point("chunk")  # a test hook: a kill or a signal with part of the output written
                if vcf is not None and records:
                    vcf.write(records, scores, n_seen)  # records are numbered from 0 in input order
                    n_seen += len(records)
                _note_chunk(scores, targets, effects, best, scorer.summary["rows"], top)
                if progress is not None:
                    progress(scorer.summary["alleles"])
        finally:
            table.close()
            if vcf is not None:
                vcf.close()
        indexed = vcf is not None and _tabix(tmp / "variants.vcf.gz")
        tops = [row for _, _, row in sorted(best, key=lambda b: -b[0])]
        summary = {**scorer.report(), **model_notes(scorer.saved.config), "input": str(variants), "targets": targets,
                   "vcf_indexed": indexed,
                   "seconds": round(time.perf_counter() - t0, 2)}
        if vcf is not None and vcf.undeclared:
            summary["undeclared_in_header"] = vcf.undeclared  # declared in the annotated copy
        if part is not None:
            summary["shard"] = {"index": part.index, "count": part.count, "records": [span[0], span[1]],
                                "of": total}
        if not summary["scored_alleles"]:
            summary["empty"] = empty_reason(summary)
        summary["alleles_per_second"] = round(summary["alleles"] / max(summary["seconds"], 1e-9), 1)
        logos = _top_logos(scorer, tops, tmp, attributions) if tops and attributions != "none" else []
        hists = _histograms({t: r.values() for t, r in effects.items()}, tmp)
        (tmp / "report.html").write_text(_html(summary, tops, targets, logos, hists))
        summary["files"] = sorted(p.name for p in tmp.iterdir() if not p.name.startswith("."))
        write_json(tmp / "summary.json", summary)
    if part is not None:
        write_sidecar(out_dir, part, input=str(variants), records=total, lo=span[0], hi=span[1],
                      rows=summary["rows"])
    return summary


_COUNTS = ("records", "alleles", "scored_alleles", "rows", "seconds")  # summed over shards


def empty_reason(summary: dict) -> str:
    """Why a run scored no variant, in words (for ``summary.json`` and the command's message)."""
    if not summary.get("records"):
        where = "this shard of the input" if summary.get("shard") else "the input"
        return f"{where} holds no variant records (a header only?)"
    skipped = summary.get("skipped") or {}
    if skipped:
        return "every allele was skipped: " + "; ".join(f"{n} {summary['skip_reasons'].get(k, k)}"
                                                         for k, n in skipped.items())
    return "no allele could be scored"


def _note_chunk(scores: pd.DataFrame, targets: list[str], effects: dict, best: list, offset: int, top: int) -> None:
    """Add a chunk of scored rows to the per-target effect samples and to the heap of the ``top`` largest
    |effect| rows (first target); ``offset`` numbers the chunk's rows for stable ties."""
    for t in targets:
        effects[t].add(scores[f"effect_{t}"].to_numpy(np.float32))
    key = np.abs(scores[f"effect_{targets[0]}"].to_numpy())
    for i in np.argsort(-key, kind="stable")[:top]:
        item = (float(key[i]), offset + int(i), scores.iloc[int(i)].to_dict())
        (heapq.heappushpop if len(best) >= top else heapq.heappush)(best, item)


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
        effects = {t: _Reservoir(seed=k) for k, t in enumerate(targets)}
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
                    _note_chunk(chunk, targets, effects, best, n, top)
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
            summary["vcf_indexed"] = _tabix(tmp / "variants.vcf.gz")
        tops = [row for _, _, row in sorted(best, key=lambda b: -b[0])]
        hists = _histograms({t: r.values() for t, r in effects.items()}, tmp)
        (tmp / "report.html").write_text(_html(summary, tops, targets, [], hists))
        summary["files"] = sorted(p.name for p in tmp.iterdir() if not p.name.startswith("."))
        write_json(tmp / "summary.json", summary)
    return summary


class _Reservoir:
    """A uniform random sample of at most ``size`` values from a stream (memory flat in the stream's length)."""

    def __init__(self, size: int = 200_000, seed: int = 0):
        self.size, self.seen, self.rng = size, 0, np.random.default_rng(seed)
        self.buf = np.empty(0, np.float32)

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32)
        room = self.size - len(self.buf)
        if room > 0:
            self.buf = np.concatenate([self.buf, x[:room]])
            self.seen += min(room, len(x))
            x = x[room:]
        if not len(x):
            return
        # each later value replaces a random slot with probability size / (number seen so far)
        j = (self.rng.random(len(x)) * (self.seen + np.arange(1, len(x) + 1))).astype(np.int64)
        hit = j < self.size
        self.buf[j[hit]] = x[hit]
        self.seen += len(x)

    def values(self) -> np.ndarray:
        return self.buf


def _tabix(path: Path) -> bool:
    """Index the annotated VCF (.tbi) when its records are sorted, as tabix needs; False when they are not."""
    import pysam

    try:
        pysam.tabix_index(str(path), preset="vcf", force=True)
    except OSError:
        return False
    return True


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


def _top_logos(scorer: VariantScorer, tops: list[dict], tmp: Path, method: str) -> list[tuple[str, str, str]]:
    """Attributions of the top variants' reference and alternative windows; logo files around the variant."""
    from seq2expr.inference import encode_for
    from seq2expr.interpret.gradients import attribute
    from seq2expr.interpret.ism import ism
    from seq2expr.interpret.logos import attribution_logo

    wins = [_windows_of(scorer, row) for row in tops]
    codes = encode_for(scorer.saved, [w for r, a, _ in wins for w in (r, a)], source="variant windows")
    centre = np.repeat([i for _, _, i in wins], 2)
    if method == "ism":
        lo, hi = max(0, int(centre.min()) - LOGO_FLANK), min(codes.shape[1], int(centre.max()) + LOGO_FLANK)
        hyp = ism(scorer.saved, codes, start=lo, end=hi, center=True)
        from seq2expr.inference import as_onehot

        attr = hyp * as_onehot(codes, scorer.saved).numpy()
    else:
        attr, _ = attribute(scorer.saved, codes, method=method, n_shuffles=10, batch_size=64)
    np.savez_compressed(tmp / "attributions.npz", attributions=attr.astype(np.float32), codes=codes,
                        variant_index=centre, ids=np.asarray([str(r["id"]) for r in tops for _ in (0, 1)]))
    img = tmp / "img"
    img.mkdir(exist_ok=True)
    out = []
    for k, row in enumerate(tops):
        files = []
        for j, which in enumerate(("ref", "alt")):
            c = int(centre[2 * k + j])
            f = attribution_logo(attr[2 * k + j], img / f"top{k}_{which}.png", start=max(0, c - LOGO_FLANK),
                                 end=min(attr.shape[-1], c + LOGO_FLANK + 1),
                                 title=f"{row['id']} {row['ref']}>{row['alt']} ({which}), variant at {c}")
            files.append(f.name)
        out.append((str(row["id"]), *files))
    return out


def _histograms(effects: dict[str, np.ndarray], tmp: Path) -> list[str]:
    from seq2expr.interpret.logos import plt, save_figure

    (tmp / "img").mkdir(exist_ok=True)
    names = []
    for t, e in effects.items():
        if not len(e):
            continue
        fig, ax = plt.subplots(figsize=(5, 2.6))
        ax.hist(e[np.isfinite(e)], bins=60, color="#4472c4")
        ax.set_yscale("log")
        ax.set_xlabel(f"predicted effect on {t} (alt - ref, original scale)")
        ax.set_ylabel("alleles x windows")
        f = save_figure(fig, tmp / "img" / f"effects_{re.sub(r'[^0-9A-Za-z_.-]', '_', t)}.png")
        names.append(f.name)
    return names


def _html(summary: dict, tops: list[dict], targets: list[str], logos: list, hists: list[str]) -> str:
    e = html.escape
    skipped = "".join(f"<li>{e(k)}: {n} ({e(summary['skip_reasons'].get(k, ''))})</li>"
                      for k, n in summary["skipped"].items()) or "<li>none</li>"
    parts = [f"<h1>Variant effects</h1><p>{e(summary['input'])}: {summary['alleles']} alleles read, "
             f"{summary['scored_alleles']} scored ({summary['rows']} allele x window rows, {e(summary['mode'])} mode)"
             f" in {summary['seconds']} s. Effects are alt - ref on each target's original scale; the percentile "
             f"ranks |effect| among {summary['background_snvs']} random SNVs in the same kind of windows.</p>",
             card_html(summary.get("model_card")),
             *[f"<p><b>Warning: {e(summary[k])}</b></p>" for k in ("model_truncated",) if summary.get(k)],
             f"<h2>Skipped</h2><ul>{skipped}</ul><h2>Effect distribution</h2>",
             *[f"<img src='img/{e(h)}'>" for h in hists]]
    if tops:
        cols = [c for c in ("id", "chrom", "pos", "ref", "alt", "kind", "gene_id", "gene_name", "tss_distance")
                if c in tops[0]] + [c for t in targets for c in (f"effect_{t}", f"percentile_{t}") if c in tops[0]]
        parts.append(f"<h2>Top {len(tops)} by |effect on {e(targets[0])}|</h2><table><tr>"
                     + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>")
        for row in tops:
            parts.append("<tr>" + "".join(f"<td>{e(_fmt(row.get(c)))}</td>" for c in cols) + "</tr>")
        parts.append("</table>")
    for vid, ref_img, alt_img in logos:
        parts.append(f"<h3>{e(vid)}</h3><img src='img/{e(ref_img)}'><br><img src='img/{e(alt_img)}'>")
    parts.append("<p>Files: variants table, summary.json, attributions.npz (top variants), and for VCF input "
                 "variants.vcf.gz (INFO fields per target).</p>")
    return html_page("seq2expr variant effects", parts)


def _fmt(v) -> str:
    if isinstance(v, float | np.floating):
        return f"{v:.4g}"
    return "" if v is None else str(v)


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
                       force: bool = False, allow_duplicates: bool = False) -> dict:
    """Sequence-pair mode: ``variants.tsv|parquet`` (id, ref_T, alt_T, effect_T) and ``summary.json``; ``out_dir``
    as in :func:`write_variant_outputs`; a repeated ID is an error unless ``allow_duplicates``."""
    from seq2expr.variants.score import score_pairs

    check_output(out_dir, [model, pairs], command="variants", folder=True, force=force)
    t0 = time.perf_counter()
    table = score_pairs(model, read_pairs(pairs), ref_column=ref_column, alt_column=alt_column, id_column=id_column,
                        batch_size=batch_size, device=device, source=str(pairs), precision=precision,
                        allow_duplicates=allow_duplicates)
    with atomic_path(out_dir, is_dir=True) as tmp:
        write_marker(tmp, "variants")
        writer = _Table(tmp / f"variants.{'parquet' if table_format == 'parquet' else 'tsv'}")
        try:
            writer.write(table)
        finally:
            writer.close()
        cfg = model.config if isinstance(model, SavedModel) else read_config(model)
        summary = {"mode": "pairs", "input": str(pairs), "pairs": len(table), **model_notes(cfg),
                   "seconds": round(time.perf_counter() - t0, 2)}
        write_json(tmp / "summary.json", summary)
    return summary
