"""``seq2expr demo``: the whole pipeline on the embedded default, in a few minutes on a laptop CPU.

Steps, each through the same code path as the matching command (no demo-only shortcuts):

1. generate the synthetic promoter set with planted JASPAR motifs (:mod:`seq2expr.data.synthetic`);
2. train a small CNN on it with the training layer (:func:`seq2expr.training.train`, as ``seq2expr
   train``): similarity split, early stopping, test metrics with a bootstrap CI and a scatter plot;
3. explain the model on the held-out sequences, validation and test (:func:`seq2expr.interpret.report.write_report`, as
   ``seq2expr interpret``): DeepLIFT-SHAP, TF-MoDISco, Tomtom against JASPAR fungi, global importance;
4. compare what was recovered with what was planted, and write ``index.html`` / ``README.md`` linking it all.

Layout of the output folder::

    data/         data.tsv, truth.json (every planted site, the declared model), motifs.meme
    run/          config.yaml, metrics.json, scatter_{valid,test}.png, training_curve.{png,tsv}, predictions_test.tsv,
                  logs/, model/
    interpretation/report.html (+ tables)
    recovery.tsv  planted motif vs best TF-MoDISco pattern and its JASPAR match
    demo.json     headline numbers; index.html and README.md: the top-level report
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seq2expr.atomic import atomic_path, write_json, write_text
from seq2expr.outputs import check_output, read_marker, write_marker
from seq2expr.report_html import fmt, render

log = logging.getLogger(__name__)
DEFAULT_OUTPUT = "seq2expr-demo"


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo, chosen to finish in about 2-3 minutes on 2 idle CPU cores with test Pearson r ~0.9.

    Reproducible by design: the torch thread count is fixed (float sums, hence the trained weights, depend on
    it) and training has no wall-clock limit (a limit would stop at an epoch that depends on the machine's load),
    so a seed gives the same result on a busy or an idle machine of the same kind.

    The model is a narrow LegNet (the DREAM 2022 winner's architecture, ~1/16 of its default width): on this
    task it learns the planted grammar in a few epochs, where a plain CNN of the same cost plateaus lower.
    """

    n: int = 10000  # sequences generated (80/10/10 train/valid/test)
    length: int = 150
    seed: int = 0
    model: str = "legnet"
    model_params: dict[str, Any] = field(default_factory=lambda: {"block_sizes": [32, 16, 16], "final_ch": 32})
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-2
    patience: int = 3
    threads: int = 2  # torch intra-op threads: fixed, not the idle cores, so the outcome does not follow the load
    interpret_method: str = "deeplift_shap"
    # held-out sequences explained: validation + test (2000 at the default size). With the 1000 test sequences
    # alone the weakest planted motifs (MCM1, TBP) had ~25 seqlets and were lost in some seeds/thread counts.
    interpret_max_seqs: int = 2000
    n_shuffles: int = 3
    n_background: int = 30  # global importance (the pair-spacing scan dominates its cost)
    taxon: str = "fungi"

    def run_config(self, out: Path):
        """The :class:`~seq2expr.config.RunConfig` of the training step (written to ``run/config.yaml``)."""
        from seq2expr.config import DataConfig, ModelConfig, RunConfig, SplitConfig, TrainConfig

        data = DataConfig(path=str(out / "data" / "data.tsv"), id_column="id", target_columns=["expression"],
                          group_columns=["subset"], cache_dir=str(out / "cache"),
                          split=SplitConfig(method="similarity", valid_fraction=0.1, test_fraction=0.1,
                                            seed=self.seed))
        train = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                            early_stopping_patience=self.patience, seed=self.seed,
                            threads=self.threads)  # no wall-clock cut: the epochs trained must not follow the load
        return RunConfig(data=data, model=ModelConfig(name=self.model, params=dict(self.model_params)), train=train,
                         output_dir=str(out / "run"))


@dataclass
class DemoResult:
    """What the demo produced: headline numbers and where the files are."""

    out_dir: Path
    test_pearson_r: float
    test_spearman_rho: float | None
    noise_ceiling_r: float
    recovered: list[str]
    planted: list[str]
    index: Path
    interpretation: Path
    metrics: Path
    seconds: dict[str, float]
    threads: int = 0  # torch threads the run used
    planted_pair: dict[str, Any] | None = None  # the planted interaction tested in silico (planted_pair())
    database: str = ""  # the motif collections the patterns were matched against, as the interpretation says


class _Records:
    """The minimal records view ``write_report`` reads: ids, sequences and a source for messages."""

    def __init__(self, ids: list[str], sequences: list[str], source: str):
        self.ids, self.sequences, self.source = ids, sequences, source


def noise_ceiling(truth: dict, expression: np.ndarray) -> float:
    """Pearson r of the noise-free signal with the measured expression: the best any model can reach."""
    return float(np.corrcoef(np.asarray(truth["signal"]), np.asarray(expression))[0, 1])


def recovery_table(truth: dict, interp_dir: Path, max_q: float = 0.05,
                   searched_ids: set[str] | None = None) -> pd.DataFrame:
    """One row per planted motif: the TF-MoDISco pattern that recovers it, if any.

    A pattern recovers a planted motif only when its best JASPAR match (rank 1, q <= ``max_q``) is the planted
    matrix itself: the same matrix ID, any version (the planted release may differ from the one matched
    against). A pattern whose best match is another TF does not count, even when that TF is the planted one's
    namesake or the planted matrix is its second match; nor does a low-complexity pattern (no TF call). When
    nothing recovers it, ``pattern`` is the one that resembles the planted matrix most among the planted ones
    (``planted_q`` <= ``max_q``) and ``jaspar_match`` what it was matched to instead. ``sign_ok`` says whether the
    pattern's sign agrees with the planted role (activator: ``pos``, repressor: ``neg``); ``in_database`` whether
    the planted matrix was among those searched (``searched_ids``: matrix IDs without version; None: unknown).
    """
    matches = _read_tsv(interp_dir / "motif_matches.tsv")
    patterns = _read_tsv(interp_dir / "patterns.tsv")
    gi = _read_tsv(interp_dir / "global_importance.tsv")
    low = set(patterns.loc[patterns["low_complexity"].astype("string").fillna("") != "", "pattern"]) \
        if "low_complexity" in patterns else set()
    best = matches[(matches["rank"] == 1) & (matches["q_value"] <= max_q)].copy() if len(matches) else matches
    if len(best):
        best["base_id"] = best["motif_id"].astype(str).str.split(".").str[0]
    planted = _planted_matches(truth, interp_dir / "patterns.meme")
    sign = dict(zip(patterns.get("pattern", []), patterns.get("sign", []), strict=True))
    seqlets = dict(zip(patterns.get("pattern", []), patterns.get("n_seqlets", []), strict=True))
    effects = gi.groupby("motif")["effect"].mean() if len(gi) and "effect" in gi else pd.Series(dtype=float)
    rows = []
    for m in truth["motifs"]:
        base = m["matrix_id"].split(".")[0]
        want = "pos" if m["effect"] > 0 else "neg"
        row = {"motif": m["name"], "matrix_id": m["matrix_id"], "planted_effect": m["effect"], "role": m["role"],
               "recovered": False, "pattern": "", "sign": "", "sign_ok": False, "n_seqlets": 0, "planted_q": np.nan,
               "jaspar_match": "", "q_value": np.nan, "global_effect": np.nan,
               "in_database": None if searched_ids is None else base in searched_ids}
        q_planted = {r.pattern: r.q_value for r in planted.itertuples() if r.motif == m["name"]}
        own = set(best.loc[best["base_id"] == base, "pattern"]) - low if len(best) else set()
        cands = own or {p for p, q in q_planted.items() if q <= max_q}
        if cands:  # prefer the pattern of the planted sign, then the closest to the planted matrix
            pick = min(cands, key=lambda p: (sign.get(p) != want, q_planted.get(p, 1.0), p))
            row.update(recovered=bool(own), pattern=pick, sign=sign.get(pick, ""), sign_ok=sign.get(pick) == want,
                       n_seqlets=int(seqlets.get(pick, 0)), planted_q=float(q_planted.get(pick, np.nan)))
            top = best[best["pattern"] == pick] if len(best) else best
            if len(top):
                row.update(jaspar_match=f"{top['motif_id'].iloc[0]} {top['tf'].iloc[0]}",
                           q_value=float(top["q_value"].iloc[0]))
        # the inserted motif is the pattern's JASPAR match (the database key)
        eff = [v for k, v in effects.items() if row["recovered"] and k == row["jaspar_match"]]
        if eff:
            row["global_effect"] = float(eff[0])
        rows.append(row)
    return pd.DataFrame(rows)


def planted_pair(model_dir: Path, truth: dict, sequences: list[str], *, n_background: int = 30, seed: int = 0,
                 step: int = 4) -> dict[str, Any] | None:
    """The planted interaction tested in silico: both planted matrices inserted into backgrounds (dinucleotide
    shuffles of ``sequences``) at spacings ``0, step, ...`` and both orientations, against each alone
    (:func:`seq2expr.interpret.global_importance.pair_effect`). None when nothing was planted as a pair.

    Returns the planted pair and effect, the mean effect of each alone, of both, their sum and the interaction
    (both - sum), its mean and range over the layouts, and the table (``table``, a DataFrame)."""
    from seq2expr.inference import as_onehot, encode_for, load_model
    from seq2expr.interpret import global_importance as gi

    inter = truth.get("interaction")
    if not inter or not truth.get("pwms"):
        return None
    saved = load_model(model_dir)
    x = as_onehot(encode_for(saved, sequences, source="held-out sequences"), saved).numpy()
    bg = gi.backgrounds(x, n=n_background, seed=seed)
    pwm = {k: np.asarray(truth["pwms"][k], dtype=np.float64).T for k in (inter["a"], inter["b"])}
    wa, wb = pwm[inter["a"]].shape[1], pwm[inter["b"]].shape[1]
    pa = max(0, (x.shape[-1] - wa - wb) // 4)
    table = gi.pair_effect(saved, pwm[inter["a"]], pwm[inter["b"]], bg, names=(inter["a"], inter["b"]),
                           spacings=range(0, x.shape[-1] - pa - wa - wb + 1, step), position_a=pa)
    if table.empty:
        return None
    return {"a": inter["a"], "b": inter["b"], "planted_effect": float(inter["effect"]),
            "effect_a": float(table["effect_a"].mean()), "effect_b": float(table["effect_b"].mean()),
            "effect_ab": float(table["effect_ab"].mean()),
            "sum": float((table["effect_a"] + table["effect_b"]).mean()),
            "interaction": float(table["interaction"].mean()), "interaction_min": float(table["interaction"].min()),
            "interaction_max": float(table["interaction"].max()), "n_layouts": len(table), "table": table}


def pair_text(pair: dict[str, Any] | None) -> str:
    """The planted pair's in-silico test in one sentence."""
    if pair is None:
        return "No motif pair was planted with an interaction."
    return (f"Planted interaction {pair['a']} x {pair['b']} (+{pair['planted_effect']:g} when both are present), "
            f"tested in silico: both inserted change the prediction by {pair['effect_ab']:.3g} vs "
            f"{pair['sum']:.3g} for the sum of each alone ({pair['a']} {pair['effect_a']:.3g}, {pair['b']} "
            f"{pair['effect_b']:.3g}): interaction {pair['interaction']:+.3g} (from {pair['interaction_min']:+.3g} "
            f"to {pair['interaction_max']:+.3g} over {pair['n_layouts']} spacings and orientations).")


def _planted_matches(truth: dict, patterns_meme: Path) -> pd.DataFrame:
    """Tomtom of every discovered pattern against the planted matrices: its best one (pattern, motif, q_value)."""
    from seq2expr.data.errors import DataError
    from seq2expr.data.io.motifs import read_meme
    from seq2expr.interpret.motifs import match_motifs

    empty = pd.DataFrame(columns=["pattern", "motif", "q_value"])
    if not truth.get("pwms") or not patterns_meme.is_file():
        return empty
    try:
        pats = read_meme(patterns_meme)
    except DataError:  # no pattern was found
        return empty
    db = {k: np.asarray(v, dtype=np.float64).T for k, v in truth["pwms"].items()}  # (w, 4) -> (4, w)
    best = match_motifs(pats, db, n_top=1)
    return best[["pattern", "motif", "q_value"]]  # motif: the database key, i.e. the planted name


def _read_tsv(path: Path) -> pd.DataFrame:
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(path, sep="\t")
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def run_demo(out_dir: str | Path = DEFAULT_OUTPUT, config: DemoConfig | None = None, *,
             progress: bool = False, force: bool = False) -> DemoResult:
    """Generate, train, evaluate, interpret and report into ``out_dir``; returns the headline numbers.

    ``out_dir``: a new (or empty) folder, or with ``force`` a previous demo's folder, which is emptied first (the
    demo writes into it step by step); any other folder is refused (:func:`seq2expr.outputs.check_output`)."""
    import torch

    from seq2expr.data.synthetic import read_truth, write_synthetic
    from seq2expr.evaluation.report import read_metrics
    from seq2expr.interpret.report import ReportOptions, write_report
    from seq2expr.training import train

    cfg = config or DemoConfig()
    if cfg.threads < 1:
        raise ValueError(f"threads must be at least 1, got {cfg.threads}")
    out = check_output(out_dir, [], command="demo", folder=True, force=force)
    torch.set_num_threads(cfg.threads)  # every step, not only training
    if out.is_dir() and read_marker(out) == "demo":  # a previous demo's folder, replaced (force)
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_marker(out, "demo")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()

    paths = write_synthetic(out / "data", n=cfg.n, length=cfg.length, seed=cfg.seed)
    truth = read_truth(paths["truth"])
    seconds["generate"] = time.perf_counter() - t0

    t = time.perf_counter()
    run_cfg = cfg.run_config(out)
    model_dir = train(run_cfg, resume=False, progress=progress)
    seconds["train_evaluate"] = time.perf_counter() - t
    metrics_path = Path(run_cfg.output_dir) / "metrics.json"
    metrics = read_metrics(metrics_path)
    test = metrics["test"]["overall"]

    t = time.perf_counter()
    table = pd.read_csv(paths["data"], sep="\t")
    held_out = table[table["id"].astype(str).isin(_held_out_ids(run_cfg))]
    records = _Records(held_out["id"].astype(str).tolist(), held_out["sequence"].tolist(), str(paths["data"]))
    interp = write_report(model_dir, records, out / "interpretation", ReportOptions(
        method=cfg.interpret_method, taxon=cfg.taxon, max_seqs=cfg.interpret_max_seqs, n_shuffles=cfg.n_shuffles,
        n_background=min(cfg.n_background, max(10, cfg.interpret_max_seqs // 20)), seed=cfg.seed, n_top=4))
    seconds["interpret"] = time.perf_counter() - t

    recovery = recovery_table(truth, out / "interpretation", searched_ids=_searched_ids(cfg.taxon))
    with atomic_path(out / "recovery.tsv") as tmp:
        recovery.to_csv(tmp, sep="\t", index=False, float_format="%.4g")
    t = time.perf_counter()
    pair = planted_pair(model_dir, truth, records.sequences, n_background=cfg.n_background, seed=cfg.seed)
    if pair is not None:
        with atomic_path(out / "planted_pair.tsv") as tmp:
            pair["table"].to_csv(tmp, sep="\t", index=False, float_format="%.4g")
    seconds["planted_pair"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    result = DemoResult(
        out_dir=out, test_pearson_r=float(test["pearson_r"]), test_spearman_rho=test.get("spearman_rho"),
        noise_ceiling_r=noise_ceiling(truth, table["expression"].to_numpy()),
        recovered=[m for m, ok in zip(recovery["motif"], recovery["recovered"], strict=True) if ok],
        planted=list(recovery["motif"]), index=out / "index.html", interpretation=interp, metrics=metrics_path,
        seconds={k: round(v, 1) for k, v in seconds.items()}, threads=torch.get_num_threads(),
        planted_pair={k: v for k, v in (pair or {}).items() if k != "table"} or None,
        database=_searched_text(out / "interpretation"))
    summary = {**{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(result).items()},
               "config": asdict(cfg), "n_split": metrics.get("n"), "test_ci": metrics["test"].get("ci"),
               "torch_threads": torch.get_num_threads(), "epochs_trained": [f.get("epochs_trained")
                                                                            for f in metrics.get("fit", [])]}
    write_json(out / "demo.json", summary)
    write_text(out / "README.md", _markdown(result, cfg, metrics, recovery, truth))
    write_text(out / "index.html", _html(result, cfg, metrics, recovery, truth))
    return result


def _searched_ids(taxon: str) -> set[str]:
    """Matrix IDs (no version) of the JASPAR collection the interpretation searched."""
    from seq2expr.interpret.motifs import motif_collections

    return {k.split(" ", 1)[0].split(".")[0] for k in motif_collections(taxon)[0]}


def _searched_text(interp_dir: Path) -> str:
    """The collections searched, as the interpretation's summary.json states them (release included)."""
    import json

    path = interp_dir / "summary.json"
    return str(json.loads(path.read_text()).get("database", "")) if path.is_file() else ""


def _held_out_ids(run_cfg) -> set[str]:
    """IDs of the validation and test rows of the training run (never trained on): its split, recomputed by the
    data layer from the run's config (the encoded sequences come from the cache)."""
    from seq2expr.data.prepare import prepare_data

    bundle = prepare_data(run_cfg.data, run_cfg.train.task)
    return {str(bundle.ids[i]) for k in ("valid", "test") for i in bundle.splits[k]}


def _rel(path: Path, root: Path) -> str:
    return Path(path).resolve().relative_to(root.resolve()).as_posix()


def _truth_lines(truth: dict) -> list[str]:
    inter = truth.get("interaction")
    pos = truth["position_effect"]
    lines = [f"{truth['params']['n']} random {truth['params']['length']} bp promoters (GC {truth['params']['gc']}), "
             f"each motif planted with probability {truth['params']['p_present']}, sampled from its "
             f"{truth['params']['release']} matrix on a random strand.",
             f"Expression = sum of motif effects x position weight ({pos['lo']} at the 5' end to {pos['hi']} at the "
             "3' end)" + (f" + {inter['effect']} when both {inter['a']} and {inter['b']} are present" if inter else "")
             + f" + Gaussian noise (sd {truth['noise_sd']})."]
    return lines


def _method_lines(result: DemoResult) -> list[str]:
    """What the patterns were matched against (the release actually searched) and the planted pair's test."""
    lines = [f"TF-MoDISco patterns were matched (Tomtom) against {result.database}; a planted motif counts as "
             "recovered only when its own matrix (same JASPAR ID, any version) is a pattern's best match."
             ] if result.database else []
    return lines + [pair_text(result.planted_pair)]


def _files(result: DemoResult, metrics: dict) -> list[tuple[str, str]]:
    root = result.out_dir
    run = Path(metrics["output_dir"])
    items = [("Test scatter plot", run / "scatter_test.png"), ("Metrics (valid and test, bootstrap CI)",
                                                               result.metrics),
             ("Interpretation report", result.interpretation), ("Planted vs recovered motifs", root / "recovery.tsv"),
             ("Planted pair tested in silico (by spacing and orientation)", root / "planted_pair.tsv"),
             ("Ground truth (every planted site)", root / "data" / "truth.json"),
             ("Data", root / "data" / "data.tsv"), ("Saved model (safetensors + JSON)", Path(metrics["model_dir"])),
             ("Resolved training config", run / "config.yaml"), ("Training log", run / "logs" / "metrics.csv"),
             ("Training curve (loss and validation metric per epoch)", run / "training_curve.tsv"),
             ("Test predictions", run / "predictions_test.tsv")]
    return [(label, _rel(p, root)) for label, p in items if Path(p).exists()]


def _cell(v: Any) -> Any:
    """A recovery table cell: yes/no for a flag, else the value (numbers formatted by :func:`fmt`)."""
    return ("yes" if v else "no") if isinstance(v, bool | np.bool_) else v


RECOVERY_COLUMNS = ["motif", "matrix_id", "role", "planted_effect", "recovered", "pattern", "sign", "sign_ok",
                    "n_seqlets", "planted_q", "jaspar_match", "q_value", "global_effect", "in_database"]
RECOVERY_NOTE = ("recovered: a pattern's best JASPAR match (q <= 0.05) is the planted matrix itself (same ID, any "
                 "version); pattern: that pattern, else the one closest to the planted matrix among the planted ones "
                 "(planted_q <= 0.05), with jaspar_match and q_value its best JASPAR match; sign_ok: it raises "
                 "(activator) or lowers (repressor) the prediction as planted; global_effect: mean predicted change "
                 "when the JASPAR motif is inserted into background sequences; in_database: the planted matrix is "
                 "in the collection searched (if not, it cannot be recovered).")


def _headline(result: DemoResult, metrics: dict) -> str:
    ci = metrics["test"].get("ci") or {}
    ci_txt = f" (95% CI {ci['lo']:.3f}-{ci['hi']:.3f})" if ci.get("lo") is not None else ""
    return (f"Test Pearson r = {result.test_pearson_r:.3f}{ci_txt} on {metrics['n'].get('test')} held-out "
            f"sequences; the noise ceiling (noise-free signal vs measured) is {result.noise_ceiling_r:.3f}. "
            f"Recovered {len(result.recovered)} of {len(result.planted)} planted motifs "
            f"({', '.join(result.recovered) or 'none'}).")


def _split_lines(metrics: dict) -> str:
    """The training run's split summary in one sentence: rows per split and per group value."""
    summary = metrics.get("split_summary") or {}
    parts = [f"{col}={v}: " + "/".join(str(c[k]) for k in ("train", "valid", "test"))
             for col, vals in (summary.get("by") or {}).items() for v, c in vals.items()]
    return ("Rows per split (train/valid/test): " + "; ".join(parts) + ".") if parts else ""


def _markdown(result: DemoResult, cfg: DemoConfig, metrics: dict, recovery: pd.DataFrame, truth: dict) -> str:
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items() if k != "total")
    lines = ["# seq2expr demo", "", _headline(result, metrics), "", *_truth_lines(truth), "",
             *[x for line in _method_lines(result) for x in (line, "")],
             f"Model `{cfg.model}` trained by `seq2expr.training.train` (split sizes {metrics['n']}, seed "
             f"{cfg.seed}, {result.threads} torch threads); run time {result.seconds.get('total', 0):.0f} s ({steps}).",
             "", _split_lines(metrics),
             "", "## Planted vs recovered motifs", "",
             "| " + " | ".join(RECOVERY_COLUMNS) + " |", "|" + "---|" * len(RECOVERY_COLUMNS)]
    for r in recovery[RECOVERY_COLUMNS].itertuples(index=False):
        lines.append("| " + " | ".join(fmt(_cell(v), 3) for v in r) + " |")
    lines += ["", RECOVERY_NOTE, "",
              "## Files", ""]
    lines += [f"- [{label}]({href})" for label, href in _files(result, metrics)]
    return "\n".join(lines) + "\n"


def _html(result: DemoResult, cfg: DemoConfig, metrics: dict, recovery: pd.DataFrame, truth: dict) -> str:
    run = Path(metrics["output_dir"])
    figures = [(_rel(fig, result.out_dir), alt) for fig, alt in ((run / "scatter_test.png", "test scatter"),
                                                                  (run / "training_curve.png", "training curve"))
               if fig.is_file()]
    rows = [[_cell(v) for v in r] for r in recovery[RECOVERY_COLUMNS].itertuples(index=False)]
    return render("demo.html.j2", title="seq2expr demo", headline=_headline(result, metrics),
                  lines=_truth_lines(truth) + _method_lines(result), model=cfg.model, sizes=str(metrics["n"]),
                  seed=cfg.seed, threads=result.threads, seconds=result.seconds.get("total", 0),
                  split=_split_lines(metrics), figures=figures, columns=RECOVERY_COLUMNS, rows=rows,
                  note=RECOVERY_NOTE, files=_files(result, metrics))
