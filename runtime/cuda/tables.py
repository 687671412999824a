"""Per-axis resample tables: the only way the kernels learn any geometry.

A table has one `ResampleTap` per output row (or column): two source indices and the weight of
the second, `out = a + (b - a) * w1` with a = in[i0], b = in[i1], where an index of -1 reads 0.
The numbers are `runtime.geometry.AxisSampling`'s (its idx0/idx1/frac/valid0/valid1) converted
one to one; nothing here derives geometry of its own.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from runtime.geometry import AxisSampling

# Layout of `struct ResampleTap` in common.cuh.
RESAMPLE_TAP_DTYPE = np.dtype([("i0", "<i4"), ("i1", "<i4"), ("w1", "<f4")])
Table = npt.NDArray[np.void]


def table_from_sampling(sampling: AxisSampling) -> Table:
    """The kernel table of one axis of the geometry module's sampling plan."""
    table = np.empty(sampling.size, RESAMPLE_TAP_DTYPE)
    table["i0"] = np.where(sampling.valid0, sampling.idx0, -1)
    table["i1"] = np.where(sampling.valid1, sampling.idx1, -1)
    table["w1"] = sampling.frac32
    return table


def tables_from_sampling(pair: tuple[AxisSampling, AxisSampling]) -> tuple[Table, Table]:
    """(rows, cols) tables of a (rows, cols) sampling pair."""
    return table_from_sampling(pair[0]), table_from_sampling(pair[1])
