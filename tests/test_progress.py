"""Progress reporting when the output is not a terminal (logs, CI)."""

from __future__ import annotations

from semcom_bench import progress


def test_log_progress_prints_a_final_line_with_counts(capsys, monkeypatch):
    monkeypatch.setattr(progress, "console", progress.Console(stderr=True, force_terminal=False))
    with progress.rich_progress("generate", 4) as bar:
        for _ in range(4):
            bar.advance()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # the 30 s interval never elapsed: only the closing line
    assert lines[0].startswith("generate 4/4 (100%) elapsed 0:00:0")


def test_log_progress_eta_is_proportional():
    bar = progress._LogBar("score", 10)
    bar.done = 2
    assert bar.line(60.0) == "score 2/10 (20%) elapsed 0:01:00 ETA 0:04:00"
    bar.done = 0
    assert bar.line(5.0).endswith("ETA -:--:--")
