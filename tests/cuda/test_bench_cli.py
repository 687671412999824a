"""`bodypix bench --backend cuda` is wired to runtime/cuda/bench.py."""

from __future__ import annotations

import importlib.util

import pytest

from runtime.cli import main


@pytest.mark.skipif(
    importlib.util.find_spec("pycuda") is not None, reason="pycuda is installed here"
)
def test_cuda_bench_without_pycuda_names_the_extra(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--backend", "cuda", "--frames", "1"]) == 2
    err = capsys.readouterr().err
    assert "pycuda" in err and "bodypix-appliance[gpu]" in err
