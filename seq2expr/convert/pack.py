"""The zoo copy of a model the project trained: half-precision weights where predictions stay within a tolerance
of float32, the card in ``config.json``, portable gene windows, and the catalogue card with both files pinned.

Used by ``bench/zoo.py pack`` (which also measures the held-out metrics the card carries); the folder goes into
the package (``seq2expr/zoo/weights/NAME/``) and, under the same names, into the project's release assets.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from seq2expr.atomic import atomic_path
from seq2expr.download import sha256_file
from seq2expr.files import reading
from seq2expr.inference import load_model, predict, read_config
from seq2expr.inference.saved import CONFIG, WEIGHTS
from seq2expr.zoo import CardFile, ModelCard, package_dir

# where the project publishes its zoo files: one release, assets named NAME-VERSION-FILE
RELEASE_BASE = "https://github.com/seq2expr/seq2expr/releases/download/zoo-1"
GENES = "genes.tsv.gz"


def asset_url(name: str, version: str, file: str) -> str:
    return f"{RELEASE_BASE}/{name}-{version}-{file}"


# storage tried in order: (label, dtype, whether a tensor keeps float32); batch-norm statistics set the scale of every
# activation after them, so the second choice keeps them exact (they are a small share of the weights)
_STORAGE = [("float16", torch.float16, lambda k: False),
            ("float16 (batch-norm statistics float32)", torch.float16, lambda k: "running_" in k),
            ("bfloat16", torch.bfloat16, lambda k: False),
            ("float32", torch.float32, lambda k: True)]


def half_weights(model_dir: str | Path, out_dir: Path, sequences: list[str], tolerance: float = 1e-3
                 ) -> tuple[str, float, str]:
    """Write ``model_dir`` into ``out_dir`` with float16 weights (else float16 with float32 batch-norm statistics,
    else bfloat16, else float32): the first whose predictions (original scale, float32 arithmetic) stay within
    ``tolerance`` of the float32 model's on ``sequences``. Returns the storage chosen, its largest difference and
    a sentence for the card."""
    model_dir = Path(model_dir)
    ref = predict(load_model(model_dir), sequences, precision="32")
    with reading(model_dir / WEIGHTS):
        state = load_file(str(model_dir / WEIGHTS))
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_dir / CONFIG, out_dir / CONFIG)
    tried: list[str] = []
    for label, dtype, keep in _STORAGE:
        cast = {k: (v.to(dtype) if v.is_floating_point() and not keep(k) else v).contiguous() for k, v in state.items()}
        save_file(cast, str(out_dir / WEIGHTS), metadata={"format": "pt"})
        diff = float(np.abs(predict(load_model(out_dir), sequences, precision="32") - ref).max())
        if dtype == torch.float32:
            return label, diff, (f"float32 weights: half precision moved predictions by more than {tolerance:g} "
                                 f"({'; '.join(tried)}) on {len(sequences):,} held-out sequences")
        if diff <= tolerance:
            return label, diff, (f"{label} weights: predictions within {diff:.1e} of float32 on {len(sequences):,} "
                                 f"held-out sequences (tolerance {tolerance:g})")
        tried.append(f"{label} {diff:.1e}")
    raise AssertionError("unreachable")


def portable_windows(config_path: Path, folder: Path) -> None:
    """Replace a gene model's machine-specific window sources by file names, and ship its gene table (id,
    chromosome, strand, tss, tts) beside the weights, so ``variants`` gene mode finds the genes anywhere."""
    import pandas as pd

    from seq2expr.data.genome.build import load_gene_dataset

    cfg = read_config(config_path)
    src = cfg.windows
    if src is None:
        return
    if src.table:
        table = load_gene_dataset(src.table)
        keep = [c for c in ("id", "gene_name", "chromosome", "strand", "tss", "tts") if c in table.columns]
        pd.DataFrame(table[keep]).to_csv(folder / GENES, sep="\t", index=False)
    update = {k: Path(v).name for k, v in (("genome", src.genome), ("annotation", src.annotation),
                                            ("tss_bed", src.tss_bed), ("tss_names", src.tss_names)) if v}
    windows = src.model_copy(update={**update, "table": GENES if src.table else None})
    config_path.write_text(cfg.model_copy(update={"windows": windows}).to_json())


def finish(stage: Path, card: ModelCard, *, dest: Path | None = None, cards_dir: Path | None = None) -> ModelCard:
    """Put ``card`` into the staged folder's config.json (its files: everything in the folder, with release URLs;
    the config names itself without a checksum), move the folder into place and write the catalogue card, where
    every file is pinned. Returns the catalogue card."""
    dest = dest or package_dir() / "weights" / card.name
    cards_dir = cards_dir or package_dir() / "cards"
    names = [WEIGHTS, CONFIG] + sorted(p.name for p in stage.iterdir() if p.name not in (WEIGHTS, CONFIG))

    def files(pin_config: bool) -> list[CardFile]:
        out = []
        for n in names:
            pin = n != CONFIG or pin_config
            out.append(CardFile(name=n, url=asset_url(card.name, card.version, n),
                                size=(stage / n).stat().st_size if pin else None,
                                sha256=sha256_file(stage / n) if pin else None))
        return out

    cfg = read_config(stage / CONFIG)
    inner = card.model_copy(update={"files": files(pin_config=False)})
    (stage / CONFIG).write_text(cfg.model_copy(update={"card": inner}).to_json())
    full = card.model_copy(update={"files": files(pin_config=True)})
    if dest.exists():
        shutil.rmtree(dest)
    with atomic_path(dest, is_dir=True) as tmp:
        for n in names:
            shutil.copyfile(stage / n, tmp / n)
    (cards_dir / f"{card.name}.json").write_text(full.model_dump_json(indent=2) + "\n")
    return full


def staging() -> Path:
    """A fresh temporary folder for :func:`half_weights` (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix="seq2expr-zoo-"))
