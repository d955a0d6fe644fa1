"""Progress bars follow tqdm's own rules: on for a terminal, off for a log file or pipe, and off
wherever TQDM_DISABLE is set (tqdm reads it when it is imported, hence the subprocess)."""

import io
import os
import subprocess
import sys

from vvpipe.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_for_a_terminal_off_for_a_log_and_when_asked(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert progress_bar(range(3), file=io.StringIO()).disable is True
    assert not progress_bar(range(3), file=Terminal()).disable  # tqdm keeps None: shown
    assert progress_bar(range(3), enabled=False, file=Terminal()).disable is True


def test_tqdm_disable_turns_them_off_even_on_a_terminal():
    code = ("import io; from vvpipe.progress import progress_bar\n"
            "class Terminal(io.StringIO):\n    isatty = lambda self: True\n"
            "print(progress_bar(range(3), file=Terminal()).disable)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "TQDM_DISABLE": "1"}, check=True)
    assert result.stdout.strip() == "True"
