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
    from tqdm._monitor import TMonitor

    from seq2expr.interpret.modisco import no_other_thread

    # threads of earlier tests in this process, if any; tqdm's monitor is one thread per process, started by an
    # earlier test's bar (tangermeme's, captum's) or by the one below: the block must stop it either way
    others = {t for t in threading.enumerate() if not isinstance(t, TMonitor)}
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
        with no_other_thread():
            seen["inside"] = set(threading.enumerate()) - others
            advance(1)
        seen["after"] = progress._active[0].live.is_started
    assert len(seen["before"]) >= 2 and seen["inside"] == set() and seen["after"], seen
    assert tqdm.monitor_interval == 0  # and no new monitor

    for thread in set(threading.enumerate()) - others:  # rich stops the outer bar's refresh thread without joining it
        thread.join(timeout=10)
    monkeypatch.setattr(progress, "DELAY", 0.2)
    with progress.progress_bar(3, "not drawn yet"):  # a bar still waiting for its delay waits through the block
        with progress.paused():
            assert set(threading.enumerate()) - others == set()
            assert not progress._active[0].live.is_started
        time.sleep(0.6)
        assert progress._active[0].live.is_started
    assert not progress._active


def test_batch_logs_get_a_line_per_tenth_of_a_long_loop(monkeypatch, caplog):
    """stderr no terminal, SEQ2EXPR_PROGRESS unset (a batch job's log): the outermost loop logs a plain line at each
    tenth of its work once it has run LINE_DELAY seconds; a quick loop and a nested one log nothing."""
    import logging

    monkeypatch.delenv(progress.ENV, raising=False)
    assert progress.lines() and not progress.enabled()
    monkeypatch.setattr(progress, "LINE_DELAY", 0.0)
    with caplog.at_level(logging.INFO, logger="seq2expr.progress"):
        got = [i for i in progress.track(range(20), description="scoring")
               for _ in progress.track(range(3), description="inner")]
    assert got == [i for i in range(20) for _ in range(3)]
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"scoring: {p}% ({p // 5}/20)" for p in range(10, 101, 10)]
    caplog.clear()
    monkeypatch.setattr(progress, "LINE_DELAY", 60.0)
    with caplog.at_level(logging.INFO, logger="seq2expr.progress"):
        assert list(progress.track(range(20), description="quick")) == list(range(20))
    assert caplog.records == []
    monkeypatch.setenv(progress.ENV, "0")
    assert not progress.lines()


def test_quiet_training_logs_a_line_per_epoch(seq2expr_command, tmp_path):
    """``train --quiet`` (and any run whose stderr is no terminal) logs one plain line per epoch: losses and metrics."""
    import subprocess

    import yaml

    from seq2expr.data.synthetic import make_synthetic

    table, _ = make_synthetic(n=300, length=40, seed=0, motifs=[{"name": "GCN4", "matrix_id": "MA0303.3",
                                                                  "effect": 2.0}], interaction=None)
    table.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    cfg = {"data": {"path": str(tmp_path / "t.tsv"), "id_column": "id", "split": {"method": "random"}},
           "model": {"name": "cnn", "params": {"channels": [8], "pool_sizes": [30], "convs_per_block": 1,
                                               "hidden": []}},
           "train": {"epochs": 2, "threads": 1}, "output_dir": str(tmp_path / "run")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    res = subprocess.run([*seq2expr_command, "train", str(tmp_path / "c.yaml"), "--quiet"],
                         capture_output=True, text=True, env={**os.environ, "SEQ2EXPR_PROGRESS": ""})
    assert res.returncode == 0, res.stderr
    epochs = [line for line in res.stderr.splitlines() if "epoch " in line and "val_pearson" in line]
    assert len(epochs) == 2 and "epoch 1/2:" in epochs[0] and "train_loss" in epochs[1], res.stderr
