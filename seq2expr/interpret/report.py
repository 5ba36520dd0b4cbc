"""One-call interpretation report: attributions -> TF-MoDISco motifs -> JASPAR matches -> global importance.

``write_report`` writes, atomically (a temporary folder renamed at the end), ``report.html`` with the
top-predicted sequences' attribution logos, the motif table (CWM logos beside their best JASPAR match)
and global-importance plots of the matched motifs, plus the raw material: ``attributions.npz``
(onehot, attributions, hypothetical, ids, predictions), ``motif_matches.tsv``, ``patterns.tsv``,
``patterns.meme``, ``sites.tsv``, ``global_importance.tsv`` and ``summary.json``.
The output explained is one readout's (a target, or ``mean:``/``diff:`` of targets, at a track model's positions);
for classification models its logit is explained.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from seq2expr.atomic import atomic_path, write_json
from seq2expr.data.errors import DataError
from seq2expr.evaluation import model_notes
from seq2expr.inference import (
    Compute,
    Readout,
    SavedModel,
    as_onehot,
    column_options,
    encode_for,
    load_model,
    predict,
    scale_label,
)
from seq2expr.interpret import global_importance as gi
from seq2expr.interpret import logos
from seq2expr.interpret.attribute import attribute
from seq2expr.interpret.caveats import accuracy_text, held_out_accuracy, opposite_sign_tfs
from seq2expr.interpret.modisco import SUMMARY_COLUMNS, Pattern, pattern_motifs, run_modisco, summary, to_meme
from seq2expr.interpret.motifs import match_motifs, motif_collections, scan
from seq2expr.interpret.pathways import Pathway, model_pathways, pathway_of, pathway_patterns
from seq2expr.outputs import check_output, write_marker
from seq2expr.progress import staged, step
from seq2expr.report_html import render
from seq2expr.zoo import card_data

log = logging.getLogger(__name__)


@dataclass
class Inputs:
    """Sequences to explain: ids and one-hot ``(N, 4, L)``."""

    ids: list[str]
    onehot: np.ndarray


def load_inputs(source, saved: SavedModel, *, sequence_column: str | None = None,
                id_column: str | None = None) -> Inputs:
    """Sequences from a table/FASTA path or a registry data set ``NAME[:SUBSET]``
    (:func:`seq2expr.data.inputs.read_inputs`), a Records-like object (``ids``, ``sequences``), or a one-hot
    array, encoded for ``saved`` by the inference layer (its policy and input length)."""
    if isinstance(source, np.ndarray):
        x = as_onehot(source, saved).numpy()
        return Inputs([str(i) for i in range(len(x))], x)
    if isinstance(source, (str, Path)):
        from seq2expr.data.inputs import read_inputs

        source = read_inputs(source, column_options(saved, sequence_column, id_column), require_targets=False)
    ids = [str(i) for i in source.ids]
    codes = encode_for(saved, list(source.sequences), ids=ids, source=getattr(source, "source", None) or None)
    return Inputs(ids, as_onehot(codes, saved).numpy())


def best_matches(matches: pd.DataFrame, max_q: float) -> pd.DataFrame:
    """Each pattern's significant best match: the rank-1 rows of :func:`~seq2expr.interpret.motifs.match_motifs`'s
    table with a q-value of at most ``max_q`` (the report's motif calls; the rest stay in ``motif_matches.tsv``)."""
    if matches.empty:
        return matches
    best = matches[matches["rank"] == 1]
    return best[best["q_value"] <= max_q]


@dataclass(frozen=True)
class ReportOptions:
    """What :func:`write_report` explains and how (the typed form of ``seq2expr interpret``'s options).

    ``method``: deeplift_shap | ism | saliency | integrated_gradients (from a zero baseline). ``taxon``: JASPAR
    CORE group(s) searched: one, several (a list or
    ``"plants,vertebrates"``) or ``"all"``; None: the run's ``interpret.taxon``, else all groups, unless
    ``motifs_file`` is given. ``motifs_file``: one or several MEME files, searched instead of JASPAR (with it
    when ``taxon`` is given too). ``max_seqs``: sequences explained (a seeded random subset when there are more).
    ``max_gi_motifs``: matched TFs whose global importance is measured (each costs two background batches).
    ``sequence_column``/``id_column``: for a table path; default to the training run's (``input_columns``).
    ``target``: the output explained: a target name or index, or a :class:`~seq2expr.inference.Readout` (or its
    text, a command's ``--target``) with one output: ``mean:A,B``, ``diff:A,B`` (A - B), ``NAME@centre:3``; strands
    as the model was trained.
    ``precision``: of the predictions, ISM and global importance (gradients stay fp32). ``engine``: torch |
    onnxruntime for the predictions and ISM's batched mutants (gradient methods need torch).
    """

    method: str = "deeplift_shap"
    n_top: int = 8
    taxon: str | Sequence[str] | None = None
    motifs_file: str | Path | Sequence[str | Path] | None = None
    max_seqs: int = 2000
    target: int | str | Readout = 0
    n_shuffles: int = 10
    seed: int = 0
    max_q: float = 0.05
    n_background: int = 200
    batch_size: int = 128
    device: str | None = None
    modisco_args: dict | None = None
    max_gi_motifs: int = 12
    sequence_column: str | None = None
    id_column: str | None = None
    precision: str | None = None
    engine: str = "torch"

    @property
    def compute(self) -> Compute:
        """The run's compute context (device, precision, engine; ``batch_size``: sequences per attribution batch)."""
        return Compute(device=self.device, precision=self.precision, batch_size=self.batch_size, engine=self.engine)

    def readout(self, saved: SavedModel) -> Readout:
        """The readout explained (original scale: what ranks the sequences), checked to give one output."""
        t = self.target
        chosen = t if isinstance(t, Readout) else Readout.parse(str(t))
        names = chosen.resolve(saved).names()
        if len(names) != 1:
            raise DataError(f"interpret explains one output, and the readout {t!r} gives {len(names)} "
                            f"({', '.join(names)}): name one target, or mean:A,B / diff:A,B")
        return replace(chosen, scale="original")

    @property
    def files(self) -> list[str | Path]:
        """The MEME files searched (none, one or several)."""
        f = self.motifs_file
        return [f] if isinstance(f, (str, Path)) else list(f or [])


@dataclass
class _Explained:
    """The explained sequences and what the report shows of them."""

    ids: list[str]
    x: np.ndarray
    pred: np.ndarray  # every target's prediction (attributions.npz)
    attr: np.ndarray
    hyp: np.ndarray
    readout: Readout  # the output explained, on the model's scale (attributions, global importance)
    name: str  # its name
    score: np.ndarray  # its prediction (original scale): what ranks the sequences
    pathways: list[Pathway] | None = None  # a model of several input segments (dual): each explained on its own


@dataclass
class MotifResults:
    """TF-MoDISco patterns, their database matches and the sites found: what :func:`report_page` and
    ``summary.json`` say of the motifs (low-complexity patterns, TF calls, TFs matched with both signs)."""

    patterns: list[Pattern]
    matches: pd.DataFrame
    best: pd.DataFrame  # each pattern's significant best match
    database: dict
    collections: list[dict]
    sites: pd.DataFrame

    @property
    def searched(self) -> str:
        return _collections_text(self.collections)

    @property
    def low_complexity(self) -> dict[str, str]:
        """``{pattern: why}`` of the low-complexity patterns."""
        return {p.name: p.complexity for p in self.patterns if p.complexity}

    @property
    def calls(self) -> pd.DataFrame:
        """The best matches that are TF calls: those of patterns that are not low-complexity."""
        return self.best[~self.best["pattern"].isin(self.low_complexity)] if len(self.best) else self.best

    @property
    def opposite(self) -> dict[str, dict[str, list[str]]]:
        """TFs best-matched by a raising and a lowering pattern."""
        return opposite_sign_tfs(self.best, {p.name: p.sign for p in self.patterns})


@staged(5, "interpret")  # predict, attribute, TF-MoDISco, Tomtom + scan, logos + global importance
def write_report(model_or_dir, inputs, out_dir: str | Path, options: ReportOptions | None = None, *,
                 force: bool = False) -> Path:
    """Explain ``inputs`` with the saved model; return the path of ``out_dir/report.html``.

    ``options`` (:class:`ReportOptions`, e.g. ``ReportOptions(method="saliency")``) say what and how. The report
    and ``summary.json`` say which collections were searched and how many matrices each held. Top sequences are
    ranked by :func:`seq2expr.inference.predict` with the model's own settings: the values ``seq2expr predict``
    writes (original scale, or probabilities; strand-averaged as trained). ``out_dir``: a new folder, or with
    ``force`` a previous ``interpret`` output; never one holding an input (:func:`seq2expr.outputs.check_output`).
    """
    opts = options or ReportOptions()
    check_output(out_dir, [model_or_dir, inputs, *opts.files], command="interpret", folder=True, force=force)
    saved = load_model(model_or_dir)
    cfg = saved.config
    ctx = opts.compute.resolve(saved)  # once: predictions, attributions and global importance share it
    ex = _explain(saved, inputs, opts, ctx)
    step()
    mo = _find_motifs(ex, cfg, opts)
    step()
    out_dir = Path(out_dir)
    with atomic_path(out_dir, is_dir=True) as tmp:
        write_marker(tmp, "interpret")
        img = tmp / "img"
        img.mkdir()
        _write_tables(tmp, ex, mo)
        seq_rows = _top_sequences(ex, cfg, img, opts.n_top)
        pat_rows = _pattern_rows(mo, img)
        gi_table, gi_imgs = _global_importance(saved, ex, mo, opts, ctx, tmp, img)
        name = ex.name
        acc = held_out_accuracy(cfg)
        write_json(tmp / "summary.json", {
            "model": cfg.model.name, "task": cfg.task, "prediction_scale": scale_label(cfg),
            "effect_scale": scale_label(cfg, "model"), "target": name, "method": opts.method,
            "n_sequences": len(ex.x), "n_patterns": len(mo.patterns),
            "matched_tfs": sorted(set(mo.calls["tf"])) if len(mo.calls) else [],
            "low_complexity_patterns": mo.low_complexity, "opposite_sign_tfs": mo.opposite,
            "held_out_accuracy": acc, "accuracy_caution": accuracy_text(acc)[1],
            "database": mo.searched, "collections": mo.collections, "n_matrices": len(mo.database),
            "precision": ctx.precision, **model_notes(cfg),
            **({"pathways": {n: {"start": s, "end": e, "patterns": [p.name for p in mo.patterns
                                                                   if pathway_of(p, ex.pathways) == n]}
                             for n, s, e in ex.pathways}} if ex.pathways else {})})
        (tmp / "report.html").write_text(report_page(cfg, name, opts.method, len(ex.x), seq_rows, pat_rows,
                                                     gi_table, gi_imgs, mo, acc))
    return out_dir / "report.html"


def _explain(saved: SavedModel, inputs, opts: ReportOptions, ctx: Compute) -> _Explained:
    """A seeded subset of the inputs, its predictions and attributions of the readout explained."""
    shown = opts.readout(saved)
    explained = replace(shown, scale="model")
    data = load_inputs(inputs, saved, sequence_column=opts.sequence_column, id_column=opts.id_column)
    rng = np.random.default_rng(opts.seed)
    n = len(data.ids)
    keep = np.sort(rng.choice(n, opts.max_seqs, replace=False)) if n > opts.max_seqs else np.arange(n)
    x = data.onehot[keep]
    log.info("explaining %d sequences with %s", len(x), opts.method)
    every = replace(ctx, batch_size=None)  # opts.batch_size is the attributions' batch
    pred = predict(saved, x, compute=every)
    score = predict(saved, x, readout=shown, compute=every)[:, 0]
    step()
    # the saved model, not its bare network: attributions read the output strand-averaged as it was trained
    attr, hyp = attribute(saved, x, method=opts.method, readout=explained, n_shuffles=opts.n_shuffles,
                          seed=opts.seed, compute=ctx)
    return _Explained([data.ids[i] for i in keep], x, pred, attr, hyp, explained, shown.resolve(saved).names()[0],
                      score, model_pathways(saved))


def _find_motifs(ex: _Explained, cfg, opts: ReportOptions) -> MotifResults:
    """TF-MoDISco on the hypothetical attributions, Tomtom against the collections, a scan for the matches."""
    taxon, files = opts.taxon, opts.files
    if taxon is None:
        taxon = cfg.interpret.taxon if cfg.interpret.taxon is not None else (() if files else "all")
    database, collections = motif_collections(taxon, files)
    log.info("TF-MoDISco on %d attribution maps%s", len(ex.x), " per pathway" if ex.pathways else "")
    patterns: list[Pattern] = (pathway_patterns(ex.x, ex.hyp, ex.pathways, **(opts.modisco_args or {}))
                               if ex.pathways else run_modisco(ex.x, ex.hyp, **(opts.modisco_args or {})))
    step()
    pat_pwms = pattern_motifs(patterns)  # the informative cores
    log.info("%d patterns; Tomtom against %s", len(patterns), _collections_text(collections))
    matches = match_motifs(pat_pwms, database, n_top=5)
    mo = MotifResults(patterns, matches, best_matches(matches, opts.max_q), database, collections, pd.DataFrame())
    for name, why in mo.low_complexity.items():
        log.info("%s is low-complexity (%s): its matches are not TF calls", name, why)
    scan_set = {**pat_pwms, **{r.motif: database[r.motif] for r in mo.calls.itertuples()}}
    mo.sites = scan(ex.x, scan_set, threshold=1e-4, ids=ex.ids)
    return mo


def _write_tables(tmp: Path, ex: _Explained, mo: MotifResults) -> None:
    """The raw material beside the report."""
    x = ex.x
    np.savez_compressed(tmp / "attributions.npz", onehot=x.astype(np.uint8) if np.isin(x, (0, 1)).all() else x,
                        attributions=ex.attr.astype(np.float32), hypothetical=ex.hyp.astype(np.float32),
                        ids=np.asarray(ex.ids), predictions=ex.pred.astype(np.float32))
    mo.matches.to_csv(tmp / "motif_matches.tsv", sep="\t", index=False)
    pd.DataFrame(summary(mo.patterns), columns=SUMMARY_COLUMNS).to_csv(tmp / "patterns.tsv", sep="\t", index=False)
    to_meme(mo.patterns, tmp / "patterns.meme")
    mo.sites.to_csv(tmp / "sites.tsv", sep="\t", index=False)


def _top_sequences(ex: _Explained, cfg, img: Path, n_top: int) -> list[tuple[str, float, str]]:
    """Attribution logos of the top-predicted sequences."""
    rows = []
    parts = ex.pathways or [("", 0, ex.x.shape[-1])]
    for k, i in enumerate(np.argsort(-ex.score, kind="stable")[:n_top]):
        for name, s, e in parts:  # one logo row per pathway
            label = f"{ex.ids[i]} · {name}" if name else ex.ids[i]
            f = logos.attribution_logo(ex.attr[i], img / f"seq_{k}{'_' + name if name else ''}.png", start=s, end=e,
                                       title=f"{label}  predicted {ex.score[i]:.3g} ({scale_label(cfg)}); "
                                             f"attribution of the {scale_label(cfg, 'model')}")
            rows.append((label, float(ex.score[i]), f.name))
    return rows


def _pattern_rows(mo: MotifResults, img: Path) -> list[tuple]:
    """Each pattern's CWM logo beside its best match (Tomtom compared the core: its offset is moved to the
    window shown)."""
    rows = []
    for p in mo.patterns:
        m = mo.best[mo.best["pattern"] == p.name]
        top = mo.matches[mo.matches["pattern"] == p.name].head(3)
        mpwm, label, off, rev = None, "no significant match", 0, False
        if len(m):
            r = m.iloc[0]
            mpwm, label = mo.database[r.motif], f"{r.motif} (q={r.q_value:.2g})"
            off, rev = int(r.offset) - (p.core or (0, 0))[0], r.orientation == "-"
        f = logos.pattern_vs_match(p.cwm, mpwm, img / f"{p.name}.png", offset=off, reverse=rev,
                                   title=f"{p.name} ({p.sign}, {p.n_seqlets} seqlets)", match_title=label)
        rows.append((p, f.name, label, top))
    return rows


def _global_importance(saved: SavedModel, ex: _Explained, mo: MotifResults, opts: ReportOptions, ctx: Compute,
                       tmp: Path, img: Path) -> tuple[pd.DataFrame, list[str]]:
    """Predicted effect of inserting each matched motif into backgrounds, and of the strongest pair by spacing."""
    cfg = saved.config
    gi_table, gi_imgs = pd.DataFrame(), []
    uniq = mo.calls.drop_duplicates("tf").head(opts.max_gi_motifs)
    if len(uniq):
        log.info("global importance of %d matched motifs", len(uniq))
        bg = gi.backgrounds(ex.x, n=min(opts.n_background, max(20, len(ex.x))), seed=opts.seed)
        mot = {r.motif: mo.database[r.motif] for r in uniq.itertuples()}
        gi_ctx = replace(ctx, batch_size=ctx.batch(128))
        gi_table = gi.motif_effect(saved, mot, bg, readout=ex.readout, compute=gi_ctx)
        eff = gi_table.groupby("motif", sort=False)["effect"].mean()
        logos.bar_plot([k.split(" ", 1)[-1] for k in eff.index], list(eff.values), img / "gi_motifs.png",
                       title="mean predicted change when inserted (both strands)",
                       ylabel=f"mean change ({scale_label(cfg, 'model')})")
        gi_imgs.append("gi_motifs.png")
        if len(mot) >= 2:
            # strongest activator with the strongest repressor when there is one (e.g. an activator switched off
            # by a repressor), else the two strongest effects
            order = eff.abs().sort_values(ascending=False).index
            up, down = [k for k in order if eff[k] > 0], [k for k in order if eff[k] < 0]
            na, nb = (up[0], down[0]) if up and down else tuple(order[:2])
            pair = gi.pair_effect(saved, mot[na], mot[nb], bg, readout=ex.readout, names=(na, nb), compute=gi_ctx)
            if len(pair):
                logos.effect_plot(pair, img / "gi_pair.png", title=f"{na} + {nb} by spacing",
                                  ylabel=f"change with both ({scale_label(cfg, 'model')})",
                                  ref_lines={"A+B additive": float(pair["effect_a"].iloc[0]
                                                                   + pair["effect_b"].iloc[0])})
                gi_imgs.append("gi_pair.png")
                pair.to_csv(tmp / "global_importance_pairs.tsv", sep="\t", index=False)
    gi_table.to_csv(tmp / "global_importance.tsv", sep="\t", index=False)
    return gi_table, gi_imgs


def _collections_text(collections: Sequence[dict]) -> str:
    """``"JASPAR2026 CORE plants (927 matrices), JASPAR2026 CORE vertebrates (1019 matrices)"``."""
    return ", ".join(f"{c['name']} ({c['n_matrices']} matrices)" for c in collections)


def _rows(df: pd.DataFrame) -> tuple[list[str], list[list]]:
    """A table's column names and rows, for a page template."""
    return [str(c) for c in df.columns], df.astype(object).values.tolist()


def _pattern(p: Pattern, f: str, label: str, top: pd.DataFrame, flag: str) -> dict:
    """One pattern as the page shows it: consensus, sign, best match (or why it is no TF call), logo, top matches."""
    columns, rows = _rows(top.drop(columns=["pattern", "motif"])) if len(top) else ([], [])
    return {"name": p.name, "consensus": p.consensus, "flag": flag, "n_seqlets": p.n_seqlets, "raises": p.sign == "pos",
            "label": label, "file": f, "columns": columns, "rows": rows}


def report_page(cfg, target: str, method: str, n: int, seq_rows: Sequence, pat_rows: Sequence,
                gi_table: pd.DataFrame, gi_imgs: Sequence[str], mo: MotifResults, acc: dict | None) -> str:
    """The report's HTML page: the model and its card, the cautions (accuracy, TFs matched with both signs,
    low-complexity patterns), the top sequences, the motifs and the global importance (rows and images already
    written by :func:`write_report`; a unit of its own so the page's wording can be checked without a run)."""
    accuracy, caution = accuracy_text(acc)
    gi_columns, gi_rows = _rows(gi_table) if gi_imgs else ([], [])
    return render("interpretation.html.j2", title="seq2expr interpretation", model=cfg.model.name, task=cfg.task,
                  target=target, method=method, n=n, database=mo.searched,
                  what="logit" if cfg.task == "classification" else "model-scale output",
                  card=card_data(cfg.card, cfg.lineage),
                  notes=[note for key, note in model_notes(cfg).items() if key == "model_truncated"],
                  accuracy=accuracy, caution=caution,
                  opposite=[(tf, by["pos"], by["neg"]) for tf, by in mo.opposite.items()],
                  n_low_complexity=len(mo.low_complexity), n_patterns=len(mo.patterns),
                  scale=scale_label(cfg), model_scale=scale_label(cfg, "model"), sequences=list(seq_rows),
                  patterns=[_pattern(p, f, label, top, mo.low_complexity.get(p.name, ""))
                            for p, f, label, top in pat_rows],
                  gi_imgs=list(gi_imgs), gi_columns=gi_columns, gi_rows=gi_rows)
