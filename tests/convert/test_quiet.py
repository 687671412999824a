"""TensorFlow's native start-up lines go to the debug log; every other line still reaches stderr."""

from __future__ import annotations

import logging
import os

import pytest

from convert.quiet import tensorflow_console_quieted

NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796026161.826057   10013 port.cc:153] oneDNN custom operations are on.\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.\n"
)


def test_native_notices_are_logged_not_printed(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="convert.quiet"), tensorflow_console_quieted():
        os.write(2, NOISE.encode())
        os.write(2, b"E0000 00:00:1.0 1 op.cc:1] a real error\nanother thread's line\n")
    err = capfd.readouterr().err
    assert err == "E0000 00:00:1.0 1 op.cc:1] a real error\nanother thread's line\n"
    assert "oneDNN custom operations" in caplog.text and "AVX2" in caplog.text
    assert logging.getLogger("tensorflow").level == logging.ERROR


def test_the_console_comes_back_when_the_block_fails(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ImportError), tensorflow_console_quieted():
        os.write(2, b"Traceback-like line\n")
        raise ImportError("no tensorflow")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "Traceback-like line\nafter\n"
