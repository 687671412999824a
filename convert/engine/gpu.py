"""Which GPU this is: the name and compute capability that engine files and sidecars record.

Read through pycuda (the runtime needs it anyway for device buffers), not nvidia-smi, which
JetPack 5 does not ship.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import MissingExtraError, UserError
from core.lazy import lazy_import, load

if TYPE_CHECKING:
    import pycuda.driver as cuda
else:
    cuda = lazy_import("pycuda.driver")


@dataclass(frozen=True)
class GpuInfo:
    """A GPU as TensorRT engines care about it: built for one, an engine runs only on the same."""

    name: str  # as the CUDA driver reports it, e.g. "Orin", "NVIDIA GeForce RTX 4090"
    compute_capability: tuple[int, int]

    @property
    def sm(self) -> str:
        """ "sm87" for compute capability 8.7."""
        major, minor = self.compute_capability
        return f"sm{major}{minor}"

    @property
    def slug(self) -> str:
        """The name for file names: "orin", "geforce-rtx-4090"."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        slug = re.sub(r"^nvidia-", "", slug)
        return slug or "gpu"

    @property
    def capability_text(self) -> str:
        """ "8.7" for compute capability 8.7, as the sidecar stores it."""
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"


def has_fast_fp16(compute_capability: tuple[int, int]) -> bool:
    """Whether FP16 arithmetic is fast on a GPU of this compute capability.

    From the CUDA C++ Programming Guide's table "Throughput of Native Arithmetic Instructions"
    (16-bit floating-point add, multiply, multiply-add per clock per SM): none below 5.3; 256 on
    5.3 (Jetson Nano/TX1) and 6.2 (TX2); 128 on 6.0 (P100) and 7.x; 2 on 6.1 (GeForce 10xx,
    P4/P40), which is 64x slower than FP32 there; fast on every later architecture (Xavier 7.2,
    Orin 8.7, Turing, Ampere, Ada, Hopper, Blackwell). TensorRT's own query
    (`platform_has_fast_fp16`) is deprecated in 10.5 and gone in 11.0, so this table is used
    for every version.
    """
    return compute_capability >= (5, 3) and compute_capability != (6, 1)


def parse_capability(text: str) -> tuple[int, int]:
    """ "8.7" -> (8, 7); ValueError on anything else."""
    major, minor = text.split(".")
    return int(major), int(minor)


def current_gpu(device: int = 0) -> GpuInfo:
    """The CUDA device `device` (default the first), or a UserError saying why there is none."""
    try:
        load(cuda)
    except ImportError:
        raise MissingExtraError("gpu", "pycuda", "Identifying the NVIDIA GPU") from None
    try:
        cuda.init()
        count = cuda.Device.count()
        if device >= count:
            raise UserError(
                f"CUDA device {device} does not exist ({count} found): check the NVIDIA driver "
                "with `nvidia-smi` (on a Jetson, `tegrastats`)."
            )
        dev = cuda.Device(device)
        return GpuInfo(dev.name(), dev.compute_capability())
    except cuda.Error as exc:
        raise UserError(
            f"No usable CUDA GPU ({str(exc).strip()}): check the NVIDIA driver with `nvidia-smi` "
            "(on a Jetson, `tegrastats`) and that this user may open /dev/nvidia* (group video)."
        ) from None
