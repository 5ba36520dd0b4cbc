"""Shared fixtures: the real-data mirror, a maker for small input tables, and the check of a one-line user error."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# precision "auto" resolves to float32 in every test (and the processes tests start), whatever the CPU: the suite
# asserts the same numbers on a CPU with native bf16 and on one without. Tests of the rule itself override it.
os.environ["SEQ2EXPR_NATIVE_BF16"] = "0"
# One torch (OpenMP) thread per test process, and in the processes tests start, unless a test sets its own: the
# suite runs in one worker per core (pytest-xdist, pyproject.toml), so more threads would only compete for the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The real-data mirror (``$SEQ2EXPR_DATA_MIRROR`` or ``../shared/data``); skips the test if absent."""
    path = Path(os.environ.get("SEQ2EXPR_DATA_MIRROR") or REPO.parent / "shared" / "data").resolve()
    if not path.is_dir():
        pytest.skip(f"real-data mirror not found at {path}")
    os.environ["SEQ2EXPR_DATA_MIRROR"] = str(path)
    return path


@pytest.fixture
def tmp_table(tmp_path: Path) -> Callable[..., Path]:
    """``tmp_table(text, name="data.tsv")`` writes ``text`` (gzip-compressed if ``name`` ends .gz)."""

    def make(text: str, name: str = "data.tsv") -> Path:
        path = tmp_path / name
        data = text.encode()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return path

    return make


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoded-sequence cache in a temporary folder, never the user's ~/.cache."""
    if "SEQ2EXPR_CACHE" not in os.environ:
        monkeypatch.setenv("SEQ2EXPR_CACHE", str(tmp_path_factory.getbasetemp() / "encoded_cache"))


def _one_line_error(res, *needles: str) -> str:
    err = res.stderr.strip()
    assert res.exit_code == 2, (res.output, res.exception)
    assert "Traceback" not in res.output and len(err.splitlines()) == 1, res.output
    assert err.startswith("error: "), err
    for n in needles:
        assert n in err, err
    return err


@pytest.fixture
def one_line_error() -> Callable[..., str]:
    """``one_line_error(result, *needles)``: a CLI result that failed with exit 2 and one ``error: ...`` line on
    stderr, no traceback, holding every needle; returns the line."""
    return _one_line_error


@pytest.fixture(scope="session")
def seq2expr_command(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """The ``seq2expr`` command of this checkout, as the start of an argument list: each call is a process of its
    own, forked from one that has imported the CLI and Lightning once (``tests/cli_server.py``), with the caller's
    arguments, folder, environment and streams; it ends with the command's status or dies of its signal."""
    folder = tmp_path_factory.mktemp("cli")
    sock, log = folder / "seq2expr.sock", folder / "server.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(log, "wb") as err:  # the server holds none of pytest's streams
        server = subprocess.Popen([sys.executable, str(REPO / "tests" / "cli_server.py"), "serve", str(sock)],
                                  env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    while not sock.exists():  # the socket appears once the imports are done
        if server.poll() is not None:
            pytest.fail(f"the command server ended with status {server.returncode} before it started: "
                        f"{log.read_text()[-2000:]}")
        time.sleep(0.05)
    try:
        yield [sys.executable, str(REPO / "tests" / "cli_server.py"), "call", str(sock)]
    finally:
        server.kill()
        server.wait()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules holding ``slow`` tests first (in their own order), so the workers start on the longest files and
    finish together; the rest keep their order. Whole files go to one worker (``--dist loadfile``), so a module's
    fixtures are built once."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)
