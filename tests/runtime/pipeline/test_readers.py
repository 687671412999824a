"""Reader counting with inotify, on a plain file standing in for the v4l2loopback device node."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime.outputs.readers import DeviceReaders, close_own, open_descriptors, open_own


@pytest.fixture
def node(tmp_path: Path) -> Path:
    path = tmp_path / "video10"
    path.write_bytes(b"")
    return path


@pytest.fixture
def readers() -> Iterator[DeviceReaders]:
    watcher = DeviceReaders()
    yield watcher
    watcher.close()


def settle(readers: DeviceReaders, check: Callable[[int], bool], timeout: float = 5.0) -> int:
    """Poll until `check(count)` holds; the count it settled on."""
    deadline = time.monotonic() + timeout
    while True:
        readers.poll(0.05)
        count = readers.readers()
        if check(count) or time.monotonic() > deadline:
            return count


def test_opens_minus_closes(node: Path, readers: DeviceReaders) -> None:
    readers.watch([str(node)])
    assert settle(readers, lambda n: n == 0) == 0
    first = os.open(node, os.O_RDWR)  # how a meeting app opens a V4L2 device
    assert settle(readers, lambda n: n == 1) == 1
    with open(node, "rb"):  # a read-only open closes with IN_CLOSE_NOWRITE
        assert settle(readers, lambda n: n == 2) == 2
        os.close(first)
        assert settle(readers, lambda n: n == 1) == 1
    assert settle(readers, lambda n: n == 0) == 0


def test_our_own_writer_does_not_count(node: Path, readers: DeviceReaders) -> None:
    readers.watch([str(node)])
    own = open_own(str(node), os.O_RDWR)
    assert settle(readers, lambda n: n != 0, timeout=0.3) == 0
    reader = os.open(node, os.O_RDONLY)
    assert settle(readers, lambda n: n == 1) == 1
    assert settle(readers, lambda n: n != 1, timeout=0.3) == 1  # and it stays 1
    close_own(str(node), own)
    assert settle(readers, lambda n: n != 1, timeout=0.3) == 1
    os.close(reader)
    assert settle(readers, lambda n: n == 0) == 0
    # A failed open of ours announces nothing that could be taken for a reader's close.
    with pytest.raises(OSError):
        open_own(str(node.with_name("missing")), os.O_RDWR)


def test_readers_from_before_the_watch_are_counted(node: Path, tmp_path: Path) -> None:
    # Another process holds the device when the service (re)starts.
    holder = subprocess.Popen(
        [sys.executable, "-c", f"f = open({str(node)!r}, 'rb'); import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while open_descriptors(str(node)) < 1:
            assert time.monotonic() < deadline, "the helper process never opened the node"
            time.sleep(0.05)
        watcher = DeviceReaders()
        try:
            watcher.watch([str(node)])
            assert watcher.readers() == 1
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(10)
            assert settle(watcher, lambda n: n == 0) == 0
        finally:
            watcher.close()
    finally:
        holder.kill()
        holder.wait()


def test_node_that_appears_later_and_is_replaced(tmp_path: Path, readers: DeviceReaders) -> None:
    path = tmp_path / "video11"
    readers.watch([str(path)])  # the module is not loaded yet
    assert settle(readers, lambda n: n == 0) == 0
    path.write_bytes(b"")
    reader = os.open(path, os.O_RDONLY)
    assert settle(readers, lambda n: n == 1) == 1
    # The module is reloaded: the node is removed and made anew; the old descriptor is of
    # the old node.
    path.unlink()
    assert settle(readers, lambda n: n == 0) == 0
    os.close(reader)
    path.write_bytes(b"")
    assert settle(readers, lambda n: n != 0, timeout=0.5) == 0
    again = os.open(path, os.O_RDONLY)
    assert settle(readers, lambda n: n == 1) == 1
    os.close(again)
    assert settle(readers, lambda n: n == 0) == 0


def test_watch_follows_the_configured_nodes(node: Path, readers: DeviceReaders) -> None:
    other = node.with_name("video12")
    other.write_bytes(b"")
    readers.watch([str(node), str(other)])
    a, b = os.open(node, os.O_RDONLY), os.open(other, os.O_RDONLY)
    assert settle(readers, lambda n: n == 2) == 2
    readers.watch([str(other)])  # the output list changed
    assert readers.readers() == 1
    os.close(a)
    os.close(b)
    assert settle(readers, lambda n: n == 0) == 0


def test_opens_the_kernel_merged_are_recounted(node: Path, readers: DeviceReaders) -> None:
    readers.watch([str(node)])
    # Two opens before anything is read: inotify merges the two identical IN_OPEN events.
    first, second = os.open(node, os.O_RDONLY), os.open(node, os.O_RDONLY)
    assert settle(readers, lambda n: n >= 1) >= 1
    os.close(first)
    # The close brought the event count to zero; /proc says one is still open.
    assert settle(readers, lambda n: n == 1) == 1
    os.close(second)
    assert settle(readers, lambda n: n == 0) == 0
