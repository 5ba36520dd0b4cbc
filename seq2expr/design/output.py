"""Outputs of a design run, in a folder that appears only when complete (atomic rename): ``designs.fasta``,
``designs.tsv`` (design and oracle scores on the original scale, the design members' spread, edits from the
start, GC, constraints),
``trajectory.tsv`` + ``trajectory.png`` (best score per round), attribution logos of the best designs,
``report.html`` and ``summary.json``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from seq2expr.atomic import atomic_path, write_json
from seq2expr.design.designer import DesignResult
from seq2expr.outputs import check_output, write_marker
from seq2expr.report_html import render
from seq2expr.zoo import card_data


def write_design_outputs(result: DesignResult, model, out_dir: str | Path, *, n_logos: int = 4,
                         attributions: str = "deeplift_shap", force: bool = False) -> Path:
    """Write ``result`` into ``out_dir``; ``model`` explains the best designs (``attributions``: deeplift_shap,
    saliency, integrated_gradients, ism or none). ``out_dir``: a new folder, or with ``force`` a previous
    ``design`` output; never an input of the run (:func:`seq2expr.outputs.check_output`)."""
    from seq2expr.inference import Readout, load_model
    from seq2expr.interpret.logos import attribution_logo, plt, save_figure

    check_output(out_dir, [model, *result.inputs], command="design", folder=True, force=force)
    out_dir = Path(out_dir)
    table, traj = result.table, result.trajectory
    with atomic_path(out_dir, is_dir=True) as tmp:
        write_marker(tmp, "design")
        (tmp / "designs.fasta").write_text("".join(f">{i} start={s} score={v:.4g}\n{q}\n" for i, s, v, q in
                                                   zip(table["id"], table["start_id"], table["design_score"],
                                                       table["sequence"], strict=True)))
        table.to_csv(tmp / "designs.tsv", sep="\t", index=False, float_format="%.6g")
        traj.to_csv(tmp / "trajectory.tsv", sep="\t", index=False, float_format="%.6g")
        img = tmp / "img"
        img.mkdir()
        fig, ax = plt.subplots(figsize=(5, 3))
        per_round = traj.groupby("round")["score"]
        ax.plot(per_round.mean().index, per_round.mean().values, label="mean of designs")
        ax.plot(per_round.max().index, per_round.max().values, label="best design")
        ax.set_xlabel("round" if result.summary["method"] != "anneal" else "step")
        ax.set_ylabel(f"objective ({result.summary['objective']} {result.summary['target']})")
        ax.legend(fontsize=8)
        save_figure(fig, img / "trajectory.png")
        logos = []
        best = table.sort_values("design_score", ascending=False).head(n_logos)
        if attributions != "none" and len(best):
            from seq2expr.interpret.attribute import attribute

            saved = load_model(model) if not isinstance(model, list) else load_model(model[0])
            readout = result.readout or Readout().first_output(saved)  # the output the objective is about
            attr, _ = attribute(saved, best["sequence"].tolist(), method=attributions, readout=readout, n_shuffles=10,
                                batch_size=32)
            for k, (i, v) in enumerate(zip(best["id"], best["design_score"], strict=True)):
                f = attribution_logo(attr[k], img / f"{i}.png", title=f"{i}  design score {v:.3g}")
                logos.append((i, f.name))
        (tmp / "report.html").write_text(report_page(result.summary, table, logos))
        write_json(tmp / "summary.json", result.summary)
    return out_dir


def report_page(s: dict, t: pd.DataFrame, logos: list[tuple[str, str]]) -> str:
    """The run's page from its summary ``s``, designs table ``t`` and attribution logos ``(design id, file)``."""
    cols = [c for c in ("id", "start_id", "design_score", "member_spread", "oracle_score", "disagree", "n_edits", "gc",
                        "constraints_ok", "edits") if c in t]
    best = t.sort_values("design_score", ascending=False).head(30)
    overlap = s.get("oracle_training_overlap")
    shared = ("cannot be checked (a model records no training sequences)" if overlap is None else
              f"{overlap} shared" if isinstance(overlap, int) else str(overlap))
    return render("design.html.j2", title="seq2expr design", s=s, shared=shared, spread=s.get("member_spread") or {},
                  penalty=s["penalty"]["disagreement"] if s.get("penalty") else None,
                  card=card_data(s.get("model_card"), s.get("model_lineage")),
                  notes=[s[k] for k in ("model_truncated",) if s.get(k)], columns=cols,
                  rows=[[r[c] for c in cols] for _, r in best.iterrows()], logos=logos)
