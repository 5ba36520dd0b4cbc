"""Progress bars: one switch (SEQ2EXPR_PROGRESS or a terminal), nested bars share one display, loops unchanged."""

from __future__ import annotations

import pytest

from seq2expr import progress


def test_switch_follows_env_then_terminal(monkeypatch):
    monkeypatch.setenv(progress.ENV, "0")
    assert not progress.enabled()
    monkeypatch.setenv(progress.ENV, "on")
    assert progress.enabled()
    monkeypatch.delenv(progress.ENV)
    assert not progress.enabled()  # pytest captures stderr: not a terminal


def test_bars_draw_on_stderr_and_keep_items(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV, "1")

    @progress.staged(2, "outer job")
    def job() -> list[int]:
        got = list(progress.track(range(5), description="inner loop"))
        progress.step()
        got += list(progress.track(iter([7, 8]), description="no length"))
        progress.step()
        return got

    assert job() == [0, 1, 2, 3, 4, 7, 8]
    err = capsys.readouterr()
    assert "outer job" in err.err and err.out == ""
    assert not progress._active and not progress._stages  # the display was closed
    monkeypatch.setenv(progress.ENV, "0")
    assert list(progress.track(range(3), description="silent")) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_bar_closes_when_loop_fails(monkeypatch):
    monkeypatch.setenv(progress.ENV, "1")

    @progress.staged(3, "failing")
    def job():
        for i in progress.track(range(4), description="loop"):
            if i == 2:
                raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        job()
    assert not progress._active and not progress._stages
