"""Progress bars: one switch (SEQ2EXPR_PROGRESS or a terminal), nested bars share one display, loops unchanged."""

from __future__ import annotations

import os
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


def test_paused_leaves_no_progress_thread_and_redraws_after(monkeypatch):
    """Work that forks (TF-MoDISco's compile children) needs this process to run no other thread: ``paused()``
    stops the bar's refresh thread (and a pending draw) for the block and draws the bar again after it; the
    TF-MoDISco step also stops tqdm's monitor thread, which outlives the bars that started it."""
    import threading

    from tqdm import tqdm

    from seq2expr.interpret.modisco import _no_other_thread

    others = set(threading.enumerate())  # threads of earlier tests in this process, if any
    monkeypatch.setenv(progress.ENV, "1")
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(tqdm, "monitor_interval", 10)
    with open(os.devnull, "w") as devnull:
        for _ in tqdm(range(2), file=devnull):  # starts tqdm's monitor thread
            pass
    seen = {}
    with progress.progress_bar(3, "outer") as advance:
        time.sleep(0.3)  # drawn: rich refreshes it from a thread
        seen["before"] = set(threading.enumerate()) - others
        with _no_other_thread():
            seen["inside"] = set(threading.enumerate()) - others
            advance(1)
        seen["after"] = progress._active[0].live.is_started
    assert len(seen["before"]) >= 2 and seen["inside"] == set() and seen["after"], seen
    assert tqdm.monitor_interval == 0  # and no new monitor

    monkeypatch.setattr(progress, "DELAY", 0.2)
    with progress.progress_bar(3, "not drawn yet"):  # a bar still waiting for its delay waits through the block
        with progress.paused():
            assert set(threading.enumerate()) - others == set()
            assert not progress._active[0].live.is_started
        time.sleep(0.6)
        assert progress._active[0].live.is_started
    assert not progress._active
