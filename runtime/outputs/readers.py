"""Who reads the virtual camera: opens minus closes of the device node, seen through inotify.

Meeting software opens `/dev/videoN` when a call shows the camera and closes it when it stops,
so IN_OPEN / IN_CLOSE_WRITE / IN_CLOSE_NOWRITE on the node count the readers (what
Linux-Fake-Background-Webcam does). inotify works on any file, which is how the tests stand a
plain file in for the device. The events carry no process id, so our own writer's open and close
are discounted through `open_own` / `close_own`, which the v4l2loopback output opens its file
descriptor with: each announces the event it is about to cause to every watcher of that node,
and the watcher drops the next such event instead of counting it.

What inotify cannot see: who had the device open before the watch started (a service restart
during a call), and two identical events in a row that were not read in between (the kernel
merges them: two opens within the same instant count as one). `open_descriptors` counts the
descriptors from /proc: at the start, after an event queue overflow, when a close brings the
count to zero (it may only raise the count then), and, when we run as root (who sees every
process), every RESYNC_S as the authoritative count. Other users' processes are invisible to a
non-root service, so there the event count is what there is.

v4l2loopback's own reader information (checked in its sources up to 0.13.2): its sysfs
attributes (/sys/devices/virtual/video4linux/videoN/) are `format`, `buffers`, `max_openers` and
`state` (capture/output), none a reader count; the open count is internal. Since 0.13.0 a writer
may subscribe to the private event V4L2_EVENT_PRI_CLIENT_USAGE, which says 1 while a reader
streams (holds the capture token) and 0 otherwise; JetPack 6 / Ubuntu 22.04 ship 0.12.x, which
lacks it, so inotify is what works everywhere.

Library: inotify_simple (BSD-2-Clause, one small ctypes module), not our own ctypes.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from inotify_simple import INotify, flags, masks

RESYNC_S = 5.0
WATCH_MASK = flags.OPEN | masks.CLOSE | flags.DELETE_SELF | flags.MOVE_SELF | flags.ATTRIB
_registry_lock = threading.Lock()
_watchers: weakref.WeakSet[DeviceReaders] = weakref.WeakSet()
_own_open: dict[str, int] = {}  # node -> our open descriptors on it


def _key(path: str) -> str:
    return os.path.realpath(path)


def open_own(path: str, mode: int) -> int:
    """`os.open` for our own writer: watchers of `path` do not count this open (nor its close)."""
    key = _key(path)
    _announce(key, opens=1)
    try:
        fd = os.open(path, mode)
    except BaseException:
        _announce(key, opens=-1)  # a failed open makes no event
        raise
    with _registry_lock:
        _own_open[key] = _own_open.get(key, 0) + 1
    return fd


def close_own(path: str, fd: int) -> None:
    """`os.close` of a descriptor from `open_own`."""
    key = _key(path)
    with _registry_lock:
        _own_open[key] = max(0, _own_open.get(key, 0) - 1)
    _announce(key, closes=1)
    os.close(fd)


def _announce(key: str, opens: int = 0, closes: int = 0) -> None:
    with _registry_lock:
        watchers = list(_watchers)
    for watcher in watchers:
        watcher._expect_own(key, opens, closes)


def open_descriptors(path: str) -> int:
    """Descriptors other processes (and this one, less `open_own`'s) have open on `path`,
    from /proc/*/fd; processes this user may not inspect are not seen."""
    key = _key(path)
    own_pid = str(os.getpid())
    count = 0
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return 0
    for pid in pids:
        folder = f"/proc/{pid}/fd"
        try:
            names = os.listdir(folder)
        except OSError:  # gone, or not ours to look at
            continue
        for name in names:
            with contextlib.suppress(OSError):
                if os.readlink(f"{folder}/{name}") == key:
                    count += 1
        if pid == own_pid:
            with _registry_lock:
                count -= _own_open.get(key, 0)
    return max(0, count)


@dataclass
class _Watch:
    path: str
    key: str
    wd: int | None = None
    inode: tuple[int, int] | None = None
    readers: int = 0
    own_opens: int = 0  # our opens announced whose IN_OPEN has not come yet
    own_closes: int = 0


class DeviceReaders:
    """Reader counts of a set of device nodes. `poll()` from one thread; counts from any."""

    def __init__(self) -> None:
        self._inotify = INotify(nonblocking=True)
        self._lock = threading.Lock()
        self._watches: dict[str, _Watch] = {}  # by node (realpath)
        self._by_wd: dict[int, _Watch] = {}
        self.error: str | None = None  # why a node is not watched
        self._authoritative = os.geteuid() == 0  # /proc shows every process's descriptors
        self._resync_at = time.monotonic() + RESYNC_S
        with _registry_lock:
            _watchers.add(self)

    def watch(self, paths: Iterable[str]) -> None:
        """Watch exactly these nodes (others are dropped); a missing node is retried by poll()."""
        wanted = {_key(path): path for path in paths}
        with self._lock:
            for key in list(self._watches):
                if key not in wanted:
                    self._drop(self._watches.pop(key))
            for key, path in wanted.items():
                if key not in self._watches:
                    self._watches[key] = _Watch(path, key)
        self._attach_missing()

    def readers(self) -> int:
        """Readers of all watched nodes together."""
        with self._lock:
            return sum(watch.readers for watch in self._watches.values())

    def poll(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for opens/closes and count them; True when a count changed."""
        events = self._inotify.read(timeout=max(0, round(timeout_s * 1000)))
        changed = False
        rescan = False
        emptied: list[_Watch] = []
        with self._lock:
            for event in events:
                if event.mask & flags.Q_OVERFLOW:
                    rescan = True
                    continue
                watch = self._by_wd.get(event.wd)
                if watch is None:
                    continue
                if event.mask & (flags.DELETE_SELF | flags.MOVE_SELF | flags.IGNORED):
                    self._drop(watch)  # module unloaded or node replaced: watch it anew
                    changed = changed or watch.readers > 0
                    watch.readers = 0
                    continue
                if event.mask & flags.OPEN:
                    if watch.own_opens > 0:
                        watch.own_opens -= 1
                    else:
                        watch.readers += 1
                        changed = True
                if event.mask & masks.CLOSE:
                    if watch.own_closes > 0:
                        watch.own_closes -= 1
                    elif watch.readers > 0:
                        watch.readers -= 1
                        changed = True
                        if watch.readers == 0:
                            emptied.append(watch)
        now = time.monotonic()
        if rescan or (self._authoritative and now >= self._resync_at):
            self._resync_at = now + RESYNC_S
            changed = self._rescan(lower=True) or changed
        elif emptied:  # two opens merged into one event would leave a reader uncounted
            changed = self._rescan(emptied, lower=self._authoritative) or changed
        return self._attach_missing() or changed

    def _attach_missing(self) -> bool:
        """Watch nodes that appeared (or were replaced) since; True when a count changed."""
        changed = False
        with self._lock:
            watches = list(self._watches.values())
        for watch in watches:
            try:
                info = os.stat(watch.path)
            except OSError as exc:
                with self._lock:
                    if watch.wd is not None:
                        self._drop(watch)
                    changed = changed or watch.readers > 0
                    watch.readers = 0
                self.error = f"{watch.path}: {exc.strerror}"
                continue
            inode = (info.st_dev, info.st_ino)
            if watch.wd is not None and watch.inode == inode:
                continue
            with self._lock:
                if watch.wd is not None:
                    self._drop(watch)
                try:
                    watch.wd = self._inotify.add_watch(watch.path, WATCH_MASK)
                except OSError as exc:
                    self.error = f"{watch.path}: cannot watch ({exc.strerror})"
                    continue
                watch.inode = inode
                self._by_wd[watch.wd] = watch
            # Who had it open before the watch (events queued meanwhile are read as usual).
            before = open_descriptors(watch.path)
            with self._lock:
                if before != watch.readers:
                    changed = True
                watch.readers = before
            self.error = None
        return changed

    def _rescan(self, watches: list[_Watch] | None = None, lower: bool = True) -> bool:
        """Counts from /proc; `lower=False` only raises them (it may not see every process)."""
        if watches is None:
            with self._lock:
                watches = [watch for watch in self._watches.values() if watch.wd is not None]
        changed = False
        for watch in watches:
            count = open_descriptors(watch.path)
            with self._lock:
                if not lower:
                    count = max(count, watch.readers)
                changed = changed or count != watch.readers
                watch.readers = count
        return changed

    def _drop(self, watch: _Watch) -> None:
        """Forget a watch (lock held)."""
        if watch.wd is not None:
            self._by_wd.pop(watch.wd, None)
            with contextlib.suppress(OSError):
                self._inotify.rm_watch(watch.wd)
        watch.wd = None
        watch.inode = None
        watch.own_opens = watch.own_closes = 0

    def _expect_own(self, key: str, opens: int, closes: int) -> None:
        with self._lock:
            watch = self._watches.get(key)
            if watch is not None and watch.wd is not None:
                watch.own_opens = max(0, watch.own_opens + opens)
                watch.own_closes += closes

    def close(self) -> None:
        with _registry_lock:
            _watchers.discard(self)
        with self._lock:
            self._watches.clear()
            self._by_wd.clear()
        self._inotify.close()
