"""The background library: built-in pictures, uploaded images and short videos.

- `sniffing`: what an upload is, from its first bytes (never its name or content type).
- `builtin`: the pictures drawn by code, each drawn only when its files are missing.
- `storage`: the directory layout (<id>.jpg|.mp4, <id>.thumb.jpg, <id>.json) and its writes.
- `library`: an upload checked, decoded, re-encoded and stored; the API's one entry point.
"""

from api.backgrounds.library import BackgroundLibrary, UploadLimits
from api.backgrounds.storage import Background

__all__ = ["Background", "BackgroundLibrary", "UploadLimits"]
