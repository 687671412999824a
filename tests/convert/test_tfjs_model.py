"""Reading TF.js weights: quantised ones are dequantised the way TensorFlow.js does it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convert.tfjs_model import read_model_json


def _weights(mirror: Path, variant: str) -> tuple[dict[str, np.ndarray], list]:
    model = read_model_json(next((mirror / variant).glob("model-stride*.json")))
    return model.load_weights(), model.weights


def test_manifest_sizes_match_the_shards(mirror: Path) -> None:
    for folder in sorted(mirror.iterdir()):
        if not folder.is_dir():
            continue
        model = read_model_json(next(folder.glob("model-stride*.json")))
        shard_bytes = sum((folder / p).stat().st_size for p in model.shard_paths)
        assert model.weights_nbytes == shard_bytes, folder.name


def test_dequantisation_is_double_precision_then_float32(mirror: Path) -> None:
    weights, specs = _weights(mirror, "mobilenet-quant1-050-stride16")
    spec = next(s for s in specs if s.quantization and s.quantization["scale"] != 1)
    raw = np.frombuffer(
        (mirror / "mobilenet-quant1-050-stride16" / "group1-shard1of1.bin").read_bytes(),
        dtype=np.uint8,
        count=int(np.prod(spec.shape)),
        offset=sum(s.nbytes for s in specs[: specs.index(spec)]),
    )
    q = spec.quantization
    # JavaScript: `v * scale + min` in doubles, stored into a Float32Array.
    expected = np.array([np.float32(int(v) * q["scale"] + q["min"]) for v in raw[:50]])
    got = weights[spec.name].reshape(-1)[:50]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_quantised_weights_stay_within_about_half_a_step_of_float(mirror: Path) -> None:
    floats, _ = _weights(mirror, "mobilenet-float-050-stride16")
    for variant in ("mobilenet-quant2-050-stride16", "mobilenet-quant1-050-stride16"):
        quant, specs = _weights(mirror, variant)
        for spec in specs:
            step = float(spec.quantization["scale"]) if spec.quantization else 0.0
            diff = np.abs(quant[spec.name] - floats[spec.name]).max()
            # The converter rounds min to the grid, so a hair over half a step is normal.
            assert diff <= 0.55 * step + 1e-6, (variant, spec.name, diff, step)
