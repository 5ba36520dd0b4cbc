"""Progress bars: one switch (SEQ2EXPR_PROGRESS or a terminal), nested bars share one display, loops unchanged."""

from __future__ import annotations

import time

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
    monkeypatch.setattr(progress, "DELAY", 0.0)  # draw at once

    shown = []

    @progress.staged(2, "outer job")
    def job() -> list[int]:
        time.sleep(0.2)  # the bar's timer fires
        got = list(progress.track(range(5), description="inner loop"))
        bar = progress._active[0]  # one display for both bars
        shown.append((bar.live.is_started, [t.description for t in bar.tasks]))
        progress.step()
        got += list(progress.track(iter([7, 8]), description="no length"))
        progress.step()
        return got

    assert job() == [0, 1, 2, 3, 4, 7, 8]
    assert shown == [(True, ["outer job"])]  # drawn; the inner loop's bar was removed when it ended
    assert capsys.readouterr().out == ""  # bars go to stderr only
    monkeypatch.setattr(progress, "DELAY", 30.0)
    quick = []
    for i in progress.track(range(3), description="quick"):
        quick.append((i, progress._active[0].live.is_started))
    assert quick == [(0, False), (1, False), (2, False)]  # done before the delay: never drawn
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
