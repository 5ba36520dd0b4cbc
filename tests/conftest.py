"""Shared fixtures: the real-data mirror, a maker for small input tables, and the check of a one-line user error."""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from _lane import Lane  # tests/ is on sys.path (pytest puts a rootdir conftest's folder there)

REPO = Path(__file__).resolve().parents[1]
# precision "auto" resolves to float32 in every test (and the processes tests start), whatever the CPU: the suite
# asserts the same numbers on a CPU with native bf16 and on one without. Tests of the rule itself override it.
os.environ["SEQ2EXPR_NATIVE_BF16"] = "0"


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


# --- the background lane (tests/_lane.py) -------------------------------------------------------------------------

_LANE = pytest.StashKey[Lane]()


@pytest.hookimpl(trylast=True)  # after -k/-m have deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Queue the lane jobs of the selected tests (their module's ``lane_job(params, lane)``) and start the first;
    move the tests that read them to the end, in the lane's order."""
    if config.option.collectonly:
        return
    lane = Lane(Path(tempfile.mkdtemp(prefix="seq2expr-lane-")))
    reading: dict[pytest.Item, str] = {}
    for item in items:
        make = getattr(getattr(item, "module", None), "lane_job", None)
        name = make(getattr(getattr(item, "callspec", None), "params", {}), lane) if make else None
        if name:
            reading[item] = name
    if not reading:
        lane.close()
        return
    order = list(lane.jobs)
    last = sorted(reading, key=lambda item: order.index(reading[item]))
    items[:] = [item for item in items if item not in reading] + last
    config.stash[_LANE] = lane
    lane.advance()


def pytest_runtest_setup(item: pytest.Item) -> None:
    lane = item.config.stash.get(_LANE, None)
    if lane is not None:
        lane.advance()  # the next job, if the last one ended


def pytest_sessionfinish(session: pytest.Session) -> None:
    lane = session.config.stash.get(_LANE, None)
    if lane is not None:
        lane.close()


@pytest.fixture(scope="session")
def lane(pytestconfig: pytest.Config) -> Lane:
    """The background lane; ``lane.result(name)`` waits for a job queued at collection."""
    found = pytestconfig.stash.get(_LANE, None)
    if found is None:
        pytest.fail("no lane job was queued for this test (collected with --collect-only?)")
    return found
