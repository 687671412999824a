"""Keeping TensorFlow's chatter off the user's console: the export's progress and result stay.

TensorFlow's C++ runtime writes its start-up and session lines (oneDNN, CPU features, devices)
to file descriptor 2 before absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL does not
reach them (tensorflow/tensorflow#102212, abseil/abseil-cpp#1957); only a redirection of the
descriptor does. While TensorFlow is imported or runs a session, descriptor 2 goes to a
temporary file; afterwards its noise lines go to the debug log (`-v` shows them) and every
other line (another thread's, an error) is written back to the console. TensorFlow's and
tf2onnx's Python loggers are set to warnings and errors only for the same reason.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# absl/glog lines of severity I or W ("I0000 00:00:1796026161.826057 10013 port.cc:153] ..."),
# absl's own notice, and the continuation line of the CPU feature notice.
_NOISE = re.compile(
    r"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\)"
    r"|To enable the following instructions:)"
)
_PYTHON_LOGGERS = {"tensorflow": logging.ERROR, "tf2onnx": logging.WARNING}
_lock = threading.RLock()  # one redirection at a time: descriptor 2 belongs to the process


def quiet_python_loggers() -> None:
    for name, level in _PYTHON_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


@contextmanager
def tensorflow_console_quieted() -> Iterator[None]:
    """Descriptor 2 captured for the block; TensorFlow's notices logged at debug level."""
    with _lock:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                _replay(capture.read().decode("utf-8", errors="replace"))
    quiet_python_loggers()


def _replay(text: str) -> None:
    kept = []
    for line in text.splitlines(keepends=True):
        if _NOISE.match(line):
            log.debug("tensorflow: %s", line.rstrip())
        else:
            kept.append(line)
    if kept:
        os.write(2, "".join(kept).encode())
