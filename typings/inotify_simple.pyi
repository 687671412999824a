# Minimal stubs for inotify_simple (it ships no type information): only what the project calls.
import os
from enum import IntEnum
from io import FileIO
from typing import NamedTuple

class Event(NamedTuple):
    wd: int
    mask: int
    cookie: int
    name: str

class INotify(FileIO):
    def __init__(
        self, inheritable: bool = False, nonblocking: bool = False, closefd: bool = True
    ) -> None: ...
    def add_watch(self, path: str | bytes | os.PathLike[str], mask: int) -> int: ...
    def rm_watch(self, wd: int) -> None: ...
    def read(  # type: ignore[override]
        self, timeout: int | None = None, read_delay: int | None = None
    ) -> list[Event]: ...

class flags(IntEnum):
    ACCESS = 0x00000001
    MODIFY = 0x00000002
    ATTRIB = 0x00000004
    CLOSE_WRITE = 0x00000008
    CLOSE_NOWRITE = 0x00000010
    OPEN = 0x00000020
    DELETE_SELF = 0x00000400
    MOVE_SELF = 0x00000800
    UNMOUNT = 0x00002000
    Q_OVERFLOW = 0x00004000
    IGNORED = 0x00008000

class masks(IntEnum):
    CLOSE = 0x00000018
