"""rnnlens.progress: one switch for bars and lines on stderr; off, loops run untouched and nothing is printed."""

from __future__ import annotations

import threading

from rnnlens import progress


def test_off_by_default_the_items_pass_through_and_nothing_is_printed(capsys):
    assert progress.shown() == progress.Shown(bars=False, lines=False)
    assert list(progress.track(range(5), "loop")) == [0, 1, 2, 3, 4]
    progress.say("a line")
    assert capsys.readouterr() == ("", "")


def test_bars_and_lines_go_to_stderr_while_shown_and_stop_after(capsys):
    with progress.show(bars=True, lines=True):
        got = []
        for item in progress.track(["a", "b", "c"], "loop", unit="part", describe=lambda x: f"part {x}"):
            got.append(item)
            progress.say(f"did {item}")
    out, err = capsys.readouterr()
    assert got == ["a", "b", "c"] and out == ""
    assert "loop: part c" in err and "part/s" in err  # the bar, relabelled per item
    assert [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("did ")] == ["did a", "did b", "did c"]
    assert progress.shown() == progress.Shown()  # the previous setting is back
    progress.say("after")
    assert capsys.readouterr().err == ""


def test_lines_without_bars_are_plain_lines(capsys):
    with progress.show(bars=False, lines=True):
        assert list(progress.track(range(3), "loop")) == [0, 1, 2]
        progress.say("step one")
    assert capsys.readouterr().err == "step one\n"


def test_a_thread_started_inside_sees_the_switch_off():
    seen = []
    with progress.show():
        t = threading.Thread(target=lambda: seen.append(progress.shown()))
        t.start()
        t.join()
        assert progress.shown().bars
    assert seen == [progress.Shown()]
