"""Variant effects: each allele's predicted effect on every window it falls in, streamed chunk by chunk.

:class:`VariantScorer` holds the model, the genome and the placement (gene or centred mode) and scores chunks
of alleles from :func:`seq2expr.data.io.vcf.read_variants`: REF checked against the genome, chromosome
names matched (exactly, or reconciled with ``match_chromosomes``), each reference window predicted once
however many variants share it (gene windows are cached for the whole run), alternative windows built in
blocks (SNVs and MNVs written into the encoded reference, indels rebuilt from the genome) and predicted
through :func:`seq2expr.inference.predict` with one :class:`~seq2expr.inference.Readout` (by default every target,
original scale, strands averaged as trained). Memory is bounded by the chunk and block sizes, not by the number
of variants.

Per allele x window and readout output ``T`` (a target, or the readout's transform of targets): ``ref_T``,
``alt_T``, ``effect_T`` (alt - ref, on the readout's scale), ``log2fc_T`` (log2(alt / ref) on the linear scale,
only where one is known: :mod:`seq2expr.variants.foldchange`) and ``percentile_T``: the share of a background of
random SNVs in the same kind of windows (a seeded sample of every possible one) whose |effect| is not larger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from seq2expr.data.errors import DataError
from seq2expr.data.genome.fasta import Genome, reconcile_chromosomes
from seq2expr.data.io.vcf import SCORED_KINDS, SKIP_REASONS, read_variants
from seq2expr.inference import (
    Compute,
    Readout,
    SavedModel,
    UniqueIds,
    as_readout,
    check_sizes,
    compute_of,
    encode_for,
    load_model,
    predict,
    resolve_construct,
)
from seq2expr.interpret.methods import method_names
from seq2expr.variants.foldchange import column_scales, fold_changes
from seq2expr.variants.place import CentredWindows, GeneWindows, load_genes, substitute
from seq2expr.variants.strategy import BLOCK, CentredStrategy, GeneStrategy

Mode = Literal["auto", "gene", "centred"]
# the report's logos (a registered attribution method), or none
LOGO_METHODS = (*method_names(), "none")


@dataclass(frozen=True)
class ScoreOptions:
    """How :class:`VariantScorer` scores (the typed form of ``seq2expr variants``' options).

    ``mode``: ``gene`` (every gene window holding the variant; needs a model trained on ``data genes`` windows,
    its gene table, or ``genes``/``annotation``), ``centred`` (a window centred on the variant, inside
    ``construct``'s flanks: a pair, a registry data set's name or ``none``, as
    :func:`~seq2expr.inference.resolve_construct` reads them), or ``auto`` (gene when the model has gene
    windows). ``background``: random SNVs behind the percentiles (0: none). ``readout``: what is scored (a
    :class:`~seq2expr.inference.Readout` or its text; default every target as :func:`~seq2expr.inference.predict`
    returns it).
    """

    mode: Mode = "auto"
    genes: str | Path | None = None
    annotation: str | Path | None = None
    tss_bed: str | Path | None = None
    tss_names: str | Path | None = None
    construct: tuple[str, str] | str | None = None
    match_chromosomes: bool = False
    on_ref_mismatch: Literal["error", "skip"] = "error"
    on_unknown_chromosome: Literal["error", "skip"] = "error"
    background: int = 10_000
    batch_size: int = 512
    device: str | None = None
    seed: int = 0
    precision: str | None = None
    readout: Readout | str | None = None
    chunk_size: int = 100_000
    engine: str = "torch"  # or onnxruntime (CPU, float32): inference.predict's engine
    # the written report (write_variant_outputs; `variants --attributions/--top`): logos of the top variants by
    # deeplift_shap | saliency | integrated_gradients | ism | none; the scores table is the same whatever they are
    attributions: str = "deeplift_shap"
    top: int = 8

    def __post_init__(self) -> None:
        if self.attributions not in LOGO_METHODS:
            raise ValueError(f"attributions must be one of {', '.join(LOGO_METHODS)}, not {self.attributions!r}")


class VariantScorer:
    """Scores alleles with one saved model on one genome (see the module docstring). ``options``
    (:class:`ScoreOptions`, e.g. ``ScoreOptions(mode="centred")``) say how."""

    def __init__(self, model: SavedModel | str | Path, genome: Genome | str | Path,
                 options: ScoreOptions | None = None):
        opts = options or ScoreOptions()
        self.options = opts
        # the files this scorer reads: no output may replace them (seq2expr.outputs.check_output)
        self.inputs = [model, getattr(genome, "source", genome), opts.genes, opts.annotation, opts.tss_bed,
                       opts.tss_names]
        check_sizes(batch_size=opts.batch_size)
        self.saved = load_model(model)
        cfg = self.saved.config
        self.genome = genome if isinstance(genome, Genome) else Genome(genome)
        self.genes_report: dict = {}
        self.strategy = self._strategy(opts)
        # substitutions go straight into the encoded reference when the policy does not resize windows
        self.fast = cfg.policy.length in (None, self.strategy.length) and self.strategy.length == cfg.seq_len
        # resolved once: every prediction of this scorer runs on one device at one precision
        self.compute = Compute(device=opts.device, precision=opts.precision, batch_size=opts.batch_size,
                               engine=opts.engine).resolve(self.saved)
        self.readout = as_readout(opts.readout)
        self.bound = self.readout.resolve(self.saved)
        self.targets = self.bound.names()
        self.summary: Counter = Counter()
        self.skipped: Counter = Counter()
        self.kinds: Counter = Counter()
        self._chroms: dict[str, str | None] = {}
        self.background: np.ndarray | None = None  # (n, T) sorted |effect| of random SNVs
        self.background_reused = False  # taken from the cache (seq2expr.variants.background)
        self.chrom_report: dict = {}

    def _strategy(self, opts: ScoreOptions) -> GeneStrategy | CentredStrategy:
        """The placement strategy the options and the model call for."""
        cfg = self.saved.config
        mode = opts.mode
        genes = opts.genes
        if mode == "auto":
            mode = "gene" if cfg.windows is not None or genes is not None or opts.annotation is not None \
                else "centred"
        if mode == "centred":
            return CentredStrategy(CentredWindows(cfg.seq_len, *resolve_construct(opts.construct).pair))
        if mode != "gene":
            raise ValueError(f"mode must be auto, gene or centred, not {mode!r}")
        src = cfg.windows
        if src is None and genes is None and opts.annotation is None:
            raise DataError("gene mode needs a model trained on `seq2expr data genes` windows, or --genes/"
                            "--annotation with a window spec")
        if src is None:
            raise DataError("the model records no gene window spec (it was not trained on `seq2expr data "
                            "genes` windows): score it in centred mode")
        if src.distal is not None:
            return self._loop_strategy(src, genes, opts)
        if genes is None and opts.annotation is None and src.table and self.saved.path is not None \
                and (self.saved.path / src.table).is_file():  # a zoo model ships its gene table beside it
            genes = self.saved.path / src.table
        table, self.genes_report = load_genes(src, self.genome, genes=genes, annotation=opts.annotation,
                                              tss_bed=opts.tss_bed, tss_names=opts.tss_names)
        place = GeneWindows(table, src.windows)
        if place.length != cfg.seq_len and cfg.policy.length is None:
            raise DataError(f"the model's windows are {place.length} bp but it takes {cfg.seq_len} bp")
        return GeneStrategy(place)

    def _loop_strategy(self, src, genes: str | Path | None, opts: ScoreOptions) -> GeneStrategy:
        """Gene mode for a promoter + distal model: its inputs are the rows of its gene table (the loops)."""
        from seq2expr.variants.loops import LoopWindows, load_loop_rows

        if opts.annotation is not None:
            raise DataError("a promoter + distal model scores on the rows of its gene table (they hold the loops); "
                            "pass --genes with a table built by `seq2expr data genes --interactions`, not --annotation")
        table, self.genes_report = load_loop_rows(src, self.genome, genes=genes)
        place = LoopWindows(table, src.windows, distal=src.distal)
        if place.length != self.saved.config.seq_len and self.saved.config.policy.length is None:
            raise DataError(f"the model's promoter + distal inputs are {place.length} bp but it takes "
                            f"{self.saved.config.seq_len} bp")
        return GeneStrategy(place)

    @property
    def mode(self) -> str:
        """``gene`` or ``centred``."""
        return self.strategy.mode

    @property
    def place(self) -> GeneWindows | CentredWindows:
        """The windows the strategy scores in."""
        return self.strategy.place

    # ------------------------------------------------------------------------------------------- inputs
    def _map_chromosomes(self, chroms: pd.Series, source: str) -> pd.Series:
        new = [c for c in chroms.unique() if c not in self._chroms]
        if new:
            if self.options.match_chromosomes:
                mapping, rep = reconcile_chromosomes(new, self.genome.names)
                self.chrom_report.setdefault("renamed", {}).update(rep["renamed"])
            else:
                mapping = {c: c for c in new if c in self.genome.lengths}
            for c in new:
                self._chroms[c] = mapping.get(c)
            if not any(v is not None for v in self._chroms.values()):
                hint = "" if self.options.match_chromosomes else " (--match-chromosomes reconciles chrI/I, chr1/1 ...)"
                raise DataError(f"no chromosome of the variants is in the genome{hint}: variants have "
                                f"{sorted(self._chroms)[:12]}, the genome has {self.genome.names[:12]}",
                                source=source)
        return chroms.map(self._chroms)

    def _check(self, df: pd.DataFrame, source: str) -> pd.DataFrame:
        """Alleles that can be scored: kinds counted, unknown chromosomes and REF mismatches handled."""
        self.kinds.update(df["kind"].to_numpy())
        ok = df["kind"].isin(SCORED_KINDS).to_numpy()
        self.skipped.update(df.loc[~ok, "kind"].to_numpy())
        df = df[ok].copy()
        df["gchrom"] = self._map_chromosomes(df["chrom"], source)
        unknown = df["gchrom"].isna().to_numpy()
        if unknown.any():
            if self.options.on_unknown_chromosome == "error":
                r = df[unknown].iloc[0]
                raise DataError(f"chromosome {r.chrom!r} is not in the genome (genome: {self.genome.names[:12]}); "
                                "--on-unknown-chromosome skip to skip such variants", source=source,
                                record=_where(r))
            self.skipped["unknown_chromosome"] += int(unknown.sum())
            df = df[~unknown]
        df["p0"] = df["pos"].to_numpy() - 1
        genome_ref = np.empty(len(df), dtype=object)
        for chrom, idx in df.groupby("gchrom", sort=False).indices.items():
            seq = self.genome.sequence(chrom)
            sub = df.iloc[idx]
            genome_ref[idx] = [seq[p:p + len(r)] for p, r in zip(sub["p0"], sub["ref"], strict=True)]
        bad = genome_ref != df["ref"].to_numpy()
        if bad.any():
            if self.options.on_ref_mismatch == "error":
                r = df[bad].iloc[0]
                got = genome_ref[np.flatnonzero(bad)[0]] or "(past the chromosome end)"
                raise DataError(f"REF {r.ref!r} but the genome has {got!r} at {r.gchrom}:{r.pos} (ALT {r.alt!r}); "
                                "--on-ref-mismatch skip to skip such variants", source=source, record=_where(r))
            self.skipped["ref_mismatch"] += int(bad.sum())
            df = df[~bad]
        return df.reset_index(drop=True)

    # ------------------------------------------------------------------------------------------- model
    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        """The readout of encoded windows (the one prediction path)."""
        return predict(self.saved, codes, readout=self.readout, compute=self.compute)

    def encode(self, windows: list[str]) -> np.ndarray:
        return encode_for(self.saved, windows, source="variant windows")

    # ------------------------------------------------------------------------------------------- scoring
    def score(self, alleles: pd.DataFrame, source: str = "variants") -> pd.DataFrame:
        """Scores of one chunk of alleles (rows of :func:`read_variants`); skipped ones are counted."""
        self.summary["alleles"] += len(alleles)
        df = self._check(alleles, source)
        out = self.strategy.score(self, df)
        self.summary["scored_alleles"] += int(out["_row"].nunique()) if len(out) else 0
        self.summary["rows"] += len(out)
        return out.drop(columns=["_row"])

    # ------------------------------------------------------------------------------------------- background
    def background_identity(self) -> dict | None:
        """What, besides the windows, decides an SNV background (a cache key's parts); None for a model held only
        in memory (no weights file to identify it)."""
        from seq2expr.inference.saved import WEIGHTS
        from seq2expr.variants.background import file_identity, weights_identity

        if self.saved.path is None or not (Path(self.saved.path) / WEIGHTS).is_file():
            return None

        return {"weights": weights_identity(self.saved.path), "genome": file_identity(self.genome.source),
                "readout": repr(self.readout), "precision": self.compute.precision,
                "engine": self.compute.engine, "device": str(self.compute.device.type), "n": self.options.background,
                "seed": self.options.seed}

    def snv_background(self, ref: np.ndarray, ref_pred: np.ndarray, rng: np.random.Generator, lo: int = 0,
                       hi: int | None = None) -> np.ndarray:
        """Sorted |effect| of one random SNV in each of the windows ``ref`` (positions ``lo <= p < hi``)."""
        n, length = ref.shape
        hi = length if hi is None else hi
        pos = rng.integers(lo, hi, n)
        base = ref[np.arange(n), pos]
        keep = base < 4  # N positions (spacer, padding, masks) have no SNV
        alt = ((base + rng.integers(1, 4, n)) % 4).astype(np.uint8)
        pred = np.concatenate([self.predict_codes(substitute(ref[s:s + BLOCK][keep[s:s + BLOCK]],
                                                             pos[s:s + BLOCK][keep[s:s + BLOCK]],
                                                             alt[s:s + BLOCK][keep[s:s + BLOCK]]))
                               for s in range(0, n, BLOCK)])
        return np.sort(np.abs(pred - ref_pred[keep]), axis=0)

    # ------------------------------------------------------------------------------------------- output
    def empty(self) -> pd.DataFrame:
        return self.table(pd.DataFrame(columns=["record", "line", "id", "chrom", "pos", "ref", "alt", "kind"]),
                           np.zeros(0, np.int64), pd.DataFrame(), np.zeros((0, len(self.targets))),
                           np.zeros((0, len(self.targets))))

    def table(self, v: pd.DataFrame, rows: np.ndarray, info: pd.DataFrame, ref: np.ndarray,
               alt: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame({"_row": rows, "record": v["record"].to_numpy(), "line": v["line"].to_numpy(),
                            "id": v["id"].to_numpy(), "chrom": v["chrom"].to_numpy(), "pos": v["pos"].to_numpy(),
                            "ref": v["ref"].to_numpy(), "alt": v["alt"].to_numpy(), "kind": v["kind"].to_numpy()})
        out = pd.concat([out, info.reset_index(drop=True)], axis=1)
        effect = alt - ref
        fold = {k.removeprefix("log2fc_"): v for k, v in fold_changes(self.bound, ref, alt).items()}
        cols = {}
        for t, name in enumerate(self.targets):
            cols[f"ref_{name}"] = ref[:, t]
            cols[f"alt_{name}"] = alt[:, t]
            cols[f"effect_{name}"] = effect[:, t]
            if name in fold:  # log2(alt / ref) on the linear scale, where one is known (variants.foldchange)
                cols[f"log2fc_{name}"] = fold[name]
            if self.background is not None and len(self.background):
                bg = self.background[:, t]
                cols[f"percentile_{name}"] = 100.0 * np.searchsorted(bg, np.abs(effect[:, t]), side="right") / len(bg)
        return pd.concat([out, pd.DataFrame(cols)], axis=1)

    def report(self) -> dict:
        """Counts of the run: alleles read, scored, rows written, skipped by reason, kinds seen."""
        return {"mode": self.mode, "records": int(self.summary["records"]), "alleles": int(self.summary["alleles"]),
                "scored_alleles": int(self.summary["scored_alleles"]), "rows": int(self.summary["rows"]),
                "skipped": {k: int(n) for k, n in self.skipped.items() if n},
                "skip_reasons": {k: SKIP_REASONS[k] for k, n in self.skipped.items() if n},
                "kinds": {k: int(n) for k, n in self.kinds.items()}, "precision": self.compute.precision,
                "background_snvs": 0 if self.background is None else int(len(self.background)),
                "background_reused": self.background_reused,
                "chromosomes_renamed": self.chrom_report.get("renamed", {}), "genes": self.genes_report,
                "columns": column_scales(self.bound, self.background is not None and len(self.background) > 0)}

    def run(self, variants: str | Path | pd.DataFrame, *, chunk_size: int = 100_000, keep_records: bool = False,
            records: tuple[int, int] | None = None) -> Iterator[tuple[pd.DataFrame, list | None]]:
        """Scores chunk by chunk for a variant file (VCF/BCF/table) or a DataFrame of alleles; ``records=(lo, hi)``
        scores only the input records ``lo <= i < hi`` (0-based, see :func:`count_records`; a shard's part)."""
        if isinstance(variants, pd.DataFrame):
            yield self.score(_as_alleles(variants)), None
            return
        for alleles, recs in read_variants(variants, chunk_size=chunk_size, keep_records=keep_records):
            if records is not None and len(alleles):
                lo, hi = records
                first = int(alleles["record"].iloc[0])  # a chunk holds whole, consecutive records
                if recs is not None:
                    recs = [r for k, r in enumerate(recs) if lo <= first + k < hi]
                alleles = alleles[(alleles["record"] >= lo) & (alleles["record"] < hi)].reset_index(drop=True)
                if not len(alleles):
                    continue
            self.summary["records"] += int(alleles["record"].nunique()) if len(alleles) else 0
            yield self.score(alleles, str(variants)), recs


def count_records(variants: str | Path, chunk_size: int = 100_000) -> int:
    """Input records (VCF records or table rows) of a variant file: a first pass for ``--shard``."""
    n = 0
    for alleles, _ in read_variants(variants, chunk_size=chunk_size):
        if len(alleles):
            n = max(n, int(alleles["record"].max()) + 1)
    return n


def _where(r) -> str:
    return f"line {int(r.line)}" if r.line is not None and r.line == r.line else f"record {int(r.record) + 1}"


def _as_alleles(df: pd.DataFrame) -> pd.DataFrame:
    """A caller's DataFrame (chrom, pos, ref, alt[, id]) as allele rows."""
    from seq2expr.data.io.vcf import allele_kind

    missing = {"chrom", "pos", "ref", "alt"} - set(df.columns)
    if missing:
        raise DataError(f"variants need columns chrom, pos, ref, alt (and optionally id); missing {sorted(missing)}")
    ref, alt = df["ref"].astype(str).str.upper(), df["alt"].astype(str).str.upper()
    return pd.DataFrame({"record": np.arange(len(df)), "line": None, "chrom": df["chrom"].astype(str),
                         "pos": df["pos"].astype(np.int64), "id": df["id"].astype(str) if "id" in df else
                         df["chrom"].astype(str) + ":" + df["pos"].astype(str), "ref": ref, "alt": alt,
                         "kind": [allele_kind(r, a) for r, a in zip(ref, alt, strict=True)]})


def score_variants(model: SavedModel | str | Path, variants: str | Path | pd.DataFrame, genome: str | Path | Genome,
                   options: ScoreOptions | None = None) -> pd.DataFrame:
    """Predicted effects of variants (a VCF/BCF, a table ``chrom, pos, ref, alt[, id]`` or such a DataFrame) on
    the windows they fall in, one row per allele x window; ``options`` (:class:`ScoreOptions`) say how. The run's
    counts are in ``result.attrs["summary"]``."""
    scorer = VariantScorer(model, genome, options)
    parts = [table for table, _ in scorer.run(variants, chunk_size=scorer.options.chunk_size)]
    out = pd.concat(parts, ignore_index=True) if parts else scorer.empty().drop(columns=["_row"])
    out.attrs["summary"] = scorer.report()
    return out


def score_pairs(model: SavedModel | str | Path, pairs: pd.DataFrame, *, ref_column: str = "ref_sequence",
                alt_column: str = "alt_sequence", id_column: str | None = "id", batch_size: int | None = None,
                device: str | None = None, source: str = "pairs", precision: str | None = None,
                allow_duplicates: bool = False, readout: Readout | str | None = None, engine: str | None = None,
                compute: Compute | None = None) -> pd.DataFrame:
    """Sequence-pair mode (e.g. MPRA SNV designs): ``ref_T, alt_T, effect_T`` (and ``log2fc_T`` where a linear
    scale is known) for each row's two sequences, encoded with the model's own policy, per output of ``readout``
    (default: every target, as :func:`predict`).
    IDs must be unique (the first repeat is an error) unless ``allow_duplicates``."""
    saved = load_model(model)
    ctx = compute_of(compute, batch_size=batch_size, device=device, precision=precision, engine=engine).resolve(saved)
    readout = as_readout(readout)
    bound = readout.resolve(saved)
    names = bound.names()
    for col in (ref_column, alt_column):
        if col not in pairs.columns:
            raise DataError(f"no column {col!r} (found {list(pairs.columns)})", source=source, record="header")
    ids = pairs[id_column].astype(str).to_numpy() if id_column and id_column in pairs else \
        np.arange(len(pairs)).astype(str)
    if not allow_duplicates:
        UniqueIds(source).add(ids)
    labels = [f"line {i + 2} (id {x})" for i, x in enumerate(ids)]
    ref = predict(saved, encode_for(saved, pairs[ref_column].tolist(), ids=labels, source=source), readout=readout,
                  compute=ctx)
    alt = predict(saved, encode_for(saved, pairs[alt_column].tolist(), ids=labels, source=source), readout=readout,
                  compute=ctx)
    out = {"id": ids}
    for t, name in enumerate(names):
        out[f"ref_{name}"], out[f"alt_{name}"], out[f"effect_{name}"] = ref[:, t], alt[:, t], alt[:, t] - ref[:, t]
    return pd.DataFrame({**out, **fold_changes(bound, ref, alt)})
