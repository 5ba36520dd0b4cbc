"""CLI commands ``data list``, ``data info NAME`` and ``data fetch NAME`` for the public data set registry."""

from __future__ import annotations

from pathlib import Path

import typer

from seq2expr.cli.common import console, user_errors


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def data_list_cmd() -> None:
    """Registered public data sets and whether their files are available locally."""
    from rich.table import Table

    from seq2expr.data.registry import list_datasets, locate

    table = Table(title="seq2expr data sets")
    for col in ("name", "description", "files", "size", "local", "licence"):
        table.add_column(col, overflow="fold")
    for e in list_datasets():
        found = sum(locate(e, f)[0] is not None for f in e.files)
        table.add_row(e.name, e.description, str(len(e.files)), _size(sum(f.size for f in e.files)),
                      f"{found}/{len(e.files)}", e.licence)
    console().print(table)

def data_info_cmd(name: str = typer.Argument(..., help="Data set name, optionally NAME:SUBSET."),
             load: bool = typer.Option(True, "--load/--no-load", help="Load the records to count them.")) -> None:
    """Files (where found, size), citation and, when available, record and group counts."""
    import numpy as np
    from rich.table import Table

    from seq2expr.data.registry import get_entry, load_dataset, locate

    with user_errors():
        e = get_entry(name)
    con = console()
    con.print(f"[bold]{e.name}[/bold]: {e.description}\ncitation: {e.citation}\nlicence: {e.licence}")
    if e.subsets:
        con.print(f"subsets: {', '.join(sorted(e.subsets))}")
    table = Table(title="files")
    for col in ("file", "size", "where", "path / url"):
        table.add_column(col, overflow="fold")
    missing = 0
    for f in e.files:
        path, where = locate(e, f)
        missing += path is None
        table.add_row(f.name, _size(f.size), where, str(path) if path else f.url)
    con.print(table)
    if missing:
        con.print(f"{missing} file(s) missing: run `seq2expr data fetch {e.name}` or set SEQ2EXPR_DATA_MIRROR")
        return
    if not load:
        return
    with user_errors():
        rec = load_dataset(name)
    con.print(f"records: {len(rec)}; targets: {rec.target_names}")
    gt = Table(title="groups")
    gt.add_column("column")
    gt.add_column("summary", overflow="fold")
    for k, v in rec.groups.items():
        v = np.asarray(v)
        if v.dtype == bool:
            s = f"{int(v.sum())} true"
        elif v.dtype.kind in "fi":
            s = f"numeric, mean {float(np.nanmean(v)):.3f}"
        else:
            vals, counts = np.unique(v.astype(str), return_counts=True)
            s = ", ".join(f"{a}: {b}" for a, b in list(zip(vals, counts, strict=True))[:10])
        gt.add_row(k, s)
    con.print(gt)

def data_fetch_cmd(name: str = typer.Argument(..., help="Data set name."),
              cache_dir: Path = typer.Option(None, "--cache-dir", help="Default: $SEQ2EXPR_CACHE/downloads."),
              force: bool = typer.Option(False, "--force", help="Download even if a verified copy exists."),
              timeout: float = typer.Option(60.0, "--timeout", help="Seconds per download.")) -> None:
    """Download a data set's files into the cache (sha256-verified), or report the local copies in use."""
    from seq2expr.data.registry import fetch

    with user_errors():
        got = fetch(name, cache_dir=cache_dir, force=force, timeout=timeout)
    con = console()
    for fname, (path, where) in got.items():
        con.print(f"{fname}: {where} ({path})")
    con.print(f"{name}: {len(got)} file(s) ready, checksums verified")
