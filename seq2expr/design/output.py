"""Outputs of a design run, in a folder that appears only when complete (atomic rename): ``designs.fasta``,
``designs.tsv`` (design and oracle scores on the original scale, the design members' spread, edits from the
start, GC, constraints),
``trajectory.tsv`` + ``trajectory.png`` (best score per round), attribution logos of the best designs,
``report.html`` and ``summary.json``."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from seq2expr.atomic import atomic_path, write_json
from seq2expr.design.designer import DesignResult
from seq2expr.outputs import check_output, write_marker
from seq2expr.report_html import html_page
from seq2expr.zoo import card_html


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
        (tmp / "report.html").write_text(_html(result, logos))
        write_json(tmp / "summary.json", result.summary)
    return out_dir


def _html(result: DesignResult, logos: list[tuple[str, str]]) -> str:
    e, s, t = html.escape, result.summary, result.table
    cols = [c for c in ("id", "start_id", "design_score", "member_spread", "oracle_score", "disagree", "n_edits", "gc",
                        "constraints_ok", "edits") if c in t]
    rows = "".join("<tr>" + "".join(f"<td>{e(_fmt(r[c]))}</td>" for c in cols) + "</tr>"
                   for _, r in t.sort_values("design_score", ascending=False).head(30).iterrows())
    div = s["diversity"]
    overlap = s.get("oracle_training_overlap")
    shared = ("cannot be checked (a model records no training sequences)" if overlap is None else
              f"{overlap} shared" if isinstance(overlap, int) else str(overlap))
    oracle = (f"Oracle, held out of the search: {e(s['oracle'])}; training sequences shared with the design model: "
              f"{e(shared)}; design vs oracle Pearson r {_fmt(s.get('design_oracle_pearson_r'))}; "
              f"{s.get('disagreements', 0)} designs flagged where the two disagree beyond their usual spread."
              if s["oracle"] != "none" else "<b>No oracle: the designs are not validated.</b>")
    spread = s.get("member_spread") or {}
    members = (f"Design members' spread (std of their scores; it grows as a search exploits their errors): mean "
               f"{_fmt(spread.get('mean'))}, max {_fmt(spread.get('max'))} over {spread.get('members')} members"
               + (f"; penalised by {s['penalty']['disagreement']:g} x spread." if s.get("penalty") else ".")
               + f" Construct: {e(str(s.get('construct')))}.")
    return html_page("seq2expr design", [
        f"<h1>Sequence design</h1><p>{s['n']} designs, method {e(s['method'])}, objective {e(s['objective'])} "
        f"{e(str(s['target']))}; scores on the original scale. {s['candidates']:,} candidates scored "
        f"({s['candidates_per_second']:,.0f}/s). {oracle}</p><p>{members}</p>",
        f"<p>Diversity: mean pairwise Hamming distance {div['mean_hamming']:.1f} (min {div['min_hamming']}); "
        f"{s['constraints_ok']} of {s['n']} designs honour every constraint.</p>",
        card_html(s.get("model_card"), s.get("model_lineage")),
        *[f"<p><b>Warning: {e(s[k])}</b></p>" for k in ("model_truncated",) if s.get(k)],
        "<h2>Trajectory</h2><img src='img/trajectory.png'>",
        "<h2>Designs (best first)</h2><table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + f"</tr>{rows}</table>",
        *[f"<h3>{e(i)}</h3><img src='img/{e(f)}'>" for i, f in logos],
        "<p>Files: designs.fasta, designs.tsv, trajectory.tsv, summary.json.</p>"])


def _fmt(v) -> str:
    if isinstance(v, float | np.floating):
        return f"{v:.4g}"
    return "" if v is None else str(v)
