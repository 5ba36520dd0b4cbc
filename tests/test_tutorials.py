"""The tutorials in docs/tutorials/ run as written: each page's ```python and ```bash blocks, in order, become one
script run in a fresh folder (bash blocks through the shell, with ``seq2expr`` on PATH as this interpreter's
CLI), and the page's own checks (``assert`` lines in its Python blocks) must hold. Each ``seq2expr`` command is a
process of its own, forked from one that imported the CLI once (``tests/cli_server.py``)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((REPO / "docs" / "tutorials").glob("*.md"))
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```$", re.S | re.M)


def tutorial_script(page: Path) -> str:
    """The page's executable blocks as one Python script (bash blocks run through ``bash -euo pipefail``)."""
    parts = ["import subprocess"]
    for lang, code in BLOCK.findall(page.read_text()):
        if lang == "python":
            parts.append(code)
        else:
            parts.append(f"subprocess.run(['bash', '-euo', 'pipefail', '-c', {code!r}], check=True)")
    return "\n".join(parts) + "\n"


def test_every_tutorial_has_code():
    assert len(TUTORIALS) >= 3
    for page in TUTORIALS:
        langs = {lang for lang, _ in BLOCK.findall(page.read_text())}
        assert "bash" in langs or "python" in langs, page


def _env(**extra: str) -> dict[str, str]:
    """The pages' environment: this checkout first on the path, the precision rule of this CPU (not the suite's
    float32), no progress bars, and the mirror as an absolute path (each page runs in a folder of its own)."""
    env = {**{k: v for k, v in os.environ.items() if k != "SEQ2EXPR_NATIVE_BF16"},
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "SEQ2EXPR_PROGRESS": "0", **extra}
    if os.environ.get("SEQ2EXPR_DATA_MIRROR"):
        env["SEQ2EXPR_DATA_MIRROR"] = str(Path(os.environ["SEQ2EXPR_DATA_MIRROR"]).resolve())
    return env


def test_the_served_cli_is_the_cli(seq2expr_command, tmp_path):
    """The served command gets the arguments, folder, environment and streams of its caller and ends with the
    command's exit status: 0 with its output on stdout, 2 with one error line on stderr."""
    ok = subprocess.run([*seq2expr_command, "models", "list"], cwd=tmp_path, env=_env(), capture_output=True, text=True)
    assert ok.returncode == 0 and "dream2022-cnn" in ok.stdout, ok.stderr
    bad = subprocess.run([*seq2expr_command, "predict", "zoo:dream2022-cnn", "nope.tsv", "-o", "out.tsv"], cwd=tmp_path,
                         env=_env(), capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: nope.tsv") and not bad.stdout, bad.stderr
    assert not (tmp_path / "out.tsv").exists()


@pytest.mark.slow
@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(page: Path, tmp_path: Path, seq2expr_command: list[str]):
    """The page's script in an empty folder of its own, with this checkout's CLI as ``seq2expr``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "seq2expr"  # the CLI of this checkout, whatever is installed
    cli.write_text(f"#!/bin/sh\nexec {shlex.join(seq2expr_command)} \"$@\"\n")
    cli.chmod(0o755)
    script = tmp_path / "tutorial.py"
    script.write_text(tutorial_script(page))
    work = tmp_path / "work"
    work.mkdir()
    res = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True, text=True, timeout=900,
                         env=_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"))
    assert res.returncode == 0, f"{page.name} failed:\n{(res.stdout + res.stderr)[-8000:]}"
