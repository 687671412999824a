"""Issue 14's picture quality on the CUDA frame path, against the CPU `FrameProcessor`.

The official look of `parts` (no-part pixels opaque white, or the colour set), face blur's sharp
contour rim, motion-aware smoothing with hysteresis and guided edge refinement: the whole frame
path (segment + composite) over several frames, on every executor present (the host executor
in CI). Tolerances, tightest first:
- parts: pixel-identical (same table, same arithmetic as cv2.addWeighted / `overlay`);
- motion smoothing: the stillness map bit-identical (the kernels reproduce each OpenCV call),
  the mask identical except on pixels whose averaged probability is within float rounding of
  the hysteresis limit (none here on the host; the person probability itself differs from the
  CPU's by an ulp or two, which is why the time average is compared to 2e-6), and the picture
  identical wherever the mask is;
- face blur: the frame blur rounds once on the GPU and after every OpenCV pass on the CPU, so
  at most one level on a few pixels;
- guided filter: float sums in another order than OpenCV's box filter, as the kernel test
  (tests/runtime/cuda/test_edge_refine.py): the mask within 5e-4, the picture one level on a few pixels.
"""

from __future__ import annotations

import itertools
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from runtime.cuda.device import Device
from runtime.cuda.processor import CudaFrameProcessor
from runtime.effects.parts import FACE_PARTS, contour_rim
from runtime.mask import MaskRefiner
from runtime.processor import FrameProcessor
from tests.runtime.cuda.conftest import diff_u8, open_processor, settings

pytestmark = [pytest.mark.cuda]


def download(gpu: CudaFrameProcessor, name: str) -> npt.NDArray[Any]:
    """One of the processor's buffers, copied back (the motion state)."""
    with gpu.dev.active():
        buffers = gpu.buffers(*gpu.download_mask().shape)
        result: npt.NDArray[Any] = getattr(buffers, name).download()
        return result


def live_allocations(dev: Device) -> int | None:
    """Live allocations on the host executor (None on a GPU: not counted there)."""
    count = getattr(dev, "live_allocations", None)
    return int(count()) if count is not None else None


def clip(photo: np.ndarray, still: int = 4, moving: int = 4, step: int = 6) -> list[np.ndarray]:
    """A still person with sensor noise (sigma 2.5 levels), then moving sideways `step` px a
    frame."""
    rng = np.random.default_rng(14)
    frames = [
        np.clip(photo + rng.normal(0.0, 2.5, photo.shape), 0, 255).astype(np.uint8)
        for _ in range(still)
    ]
    frames += [np.ascontiguousarray(np.roll(photo, step * i, axis=1)) for i in range(1, moving + 1)]
    return frames


# --- parts and face blur ------------------------------------------------------------------

PARTS: list[tuple[dict[str, Any], int, float]] = [
    ({}, 0, 0.0),  # body-pix's opaque white where no part is
    ({"no_part_color": (0, 0, 0, 0)}, 0, 0.0),  # the frame left as it is there
    ({"no_part_color": (10, 20, 200, 128), "opacity": 0.6}, 0, 0.0),  # half transparent
    ({"face_blur": True}, 1, 0.01),
    ({"face_blur": True, "face_blur_amount": 6, "no_part_color": (0, 0, 0, 0)}, 1, 0.01),
]


@pytest.mark.parametrize(
    "entry", PARTS, ids=["white", "transparent", "half", "face-white", "face-transparent"]
)
def test_parts_match_the_cpu_processor(
    processors: list[Any],
    device: Device,
    backend: Any,
    photo: np.ndarray,
    entry: tuple[dict[str, Any], int, float],
) -> None:
    options, level, share = entry
    chosen = settings(effect="parts", parts=options)
    cpu = FrameProcessor(chosen, backend=backend)
    gpu = open_processor(processors, chosen, backend, device)
    for frame in (photo, np.ascontiguousarray(np.roll(photo, 16, axis=1))):
        processed = cpu.process(frame)
        got = gpu.process(frame)
        ids = processed.result.part_ids
        assert ids is not None and (ids >= 0).any() and (ids < 0).any()
        np.testing.assert_array_equal(gpu.download_part_ids(), ids)
        diff = diff_u8(got, processed.image)
        assert diff.max() <= level, (diff.max(), (diff > level).mean())
        assert (diff > 0).mean() <= share, (diff > 0).mean()
        no_part = ids < 0
        no_part_color = options.get("no_part_color", (255, 255, 255, 255))
        if no_part_color == (0, 0, 0, 0):
            # Where no part is the frame passes (but near the face, whose blurred edge spreads).
            near_face = cv2.dilate(np.isin(ids, FACE_PARTS).astype(np.uint8), np.ones((25, 25)))
            untouched = no_part & (near_face == 0)
            assert (diff_u8(got, frame)[untouched] == 0).all()
        elif no_part_color == (255, 255, 255, 255):
            # The official look: the background is lighter than the frame (mixed with white).
            assert got[no_part].mean() > frame[no_part].mean() + 40
        if options.get("face_blur"):
            face = np.isin(ids, FACE_PARTS)
            assert contour_rim(face).sum() > 20  # the rim exists on this photo, and matched
    cpu.close()


# --- motion-aware smoothing with hysteresis ------------------------------------------------


@pytest.mark.parametrize("size", [(192, 256), (150, 201)], ids=["192x256", "150x201"])
@pytest.mark.parametrize("feather", [0, 3])
def test_motion_smoothing_matches_the_cpu_over_a_clip(
    processors: list[Any],
    device: Device,
    backend: Any,
    photo: np.ndarray,
    size: tuple[int, int],
    feather: int,
) -> None:
    """Still frames with noise, then sideways motion; then a switch to EMA and back (both
    paths restart the smoothing). 150x201 is not a multiple of the stillness scale: OpenCV's
    general INTER_AREA shrink there, its integer fast path at 192x256."""
    height, width = size
    base = np.ascontiguousarray(photo[:height, :width])
    chosen = settings(
        effect="mask",
        mask={"opacity": 0.5, "mask_blur_amount": 0},
        smoothing=0.7,
        smoothing_method="motion",
        segmentation_threshold=0.6,
        feather=feather,
    )
    cpu = FrameProcessor(chosen, backend=backend)
    gpu = open_processor(processors, chosen, backend, device)
    stillness = MaskRefiner()  # the CPU's stillness map of the same frames
    frames = clip(base)
    allocated: int | None = None
    for index, frame in enumerate(frames):
        processed = cpu.process(frame)
        got = gpu.process(frame)
        expected_still = stillness.stillness(frame)
        mask, expected_mask = gpu.download_mask(), processed.result.mask
        changed = np.abs(mask - expected_mask) > 1e-6
        assert changed.mean() <= 1e-4, changed.mean()
        # The picture is the CPU's wherever the mask is (the overlay is exact). A feathered mask
        # is float: the feather passes sum in another order (under 1e-6 here), which may move
        # a value across a rounding boundary once in a while.
        diff = diff_u8(got, processed.image)[~changed]
        if feather == 0:
            assert not diff.any(), (diff > 0).mean()
        else:
            assert diff.max() <= 1 and (diff > 0).mean() <= 1e-4, (diff.max(), (diff > 0).mean())
        refiner = cpu._refiner
        assert refiner._scores is not None
        average = download(gpu, "motion_average")
        np.testing.assert_allclose(average, refiner._scores, rtol=0, atol=2e-6)
        # The shrunk gray frame (cv2.cvtColor + INTER_AREA resize) is bit-identical.
        with gpu.dev.active():
            buffers = gpu.buffers(height, width)
            gray = buffers.motion_gray[buffers.motion_current].download()
        np.testing.assert_array_equal(gray, stillness._small)
        if expected_still is not None:
            got_still = download(gpu, "motion_still")
            np.testing.assert_array_equal(got_still, expected_still)
            if index < 4:
                assert expected_still.mean() > 0.9  # noise is not motion
            else:
                assert (expected_still == 0).mean() > 0.05  # the moving edges are followed
        del got  # an output frame still held makes the next one allocate a new output frame
        count = live_allocations(gpu.dev)
        if index >= 1:  # the first frame allocated the motion tables; later ones nothing
            assert count == allocated
        allocated = count
    for method in ("ema", "motion"):
        chosen = chosen.model_copy(update={"smoothing_method": method})
        cpu.update_settings(chosen)
        gpu.update_settings(chosen)
        for frame in frames[2:4]:
            processed = cpu.process(frame)
            got = gpu.process(frame)
            mask, expected_mask = gpu.download_mask(), processed.result.mask
            assert (np.abs(mask - expected_mask) > 1e-6).mean() <= 1e-4
            assert diff_u8(got, processed.image).mean() < 0.01
    cpu.close()


def test_hysteresis_holds_noisy_pixels_still(
    processors: list[Any], device: Device, backend: Any, photo: np.ndarray
) -> None:
    """What the motion method is for, on the GPU: on a still clip with sensor noise fewer mask
    pixels flip between frames than with plain BodyPix thresholding."""
    frames = clip(photo, still=5, moving=0)
    flips = {}
    for smoothing in (0.0, 0.7):
        gpu = open_processor(
            processors, settings(smoothing=smoothing, smoothing_method="motion"), backend, device
        )
        masks = []
        for frame in frames:
            gpu.segment(frame)
            masks.append(gpu.download_mask())
        flips[smoothing] = sum(int((a != b).sum()) for a, b in itertools.pairwise(masks))
    assert flips[0.7] < flips[0.0], flips


# --- guided edge refinement ---------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"edge_refine_radius": 8, "edge_refine_eps": 1e-4, "smoothing": 0.0},
        {"edge_refine_radius": 2, "edge_refine_eps": 1e-3, "smoothing": 0.7, "feather": 2},
    ],
    ids=["r8-shrunk", "r2-full-motion-feather"],
)
def test_edge_refinement_matches_the_cpu(
    processors: list[Any], device: Device, backend: Any, photo: np.ndarray, options: dict[str, Any]
) -> None:
    chosen = settings(
        effect="mask", mask={"opacity": 0.5, "mask_blur_amount": 0}, edge_refine="guided", **options
    )
    cpu = FrameProcessor(chosen, backend=backend)
    gpu = open_processor(processors, chosen, backend, device)
    for frame in clip(photo, still=2, moving=1):
        processed = cpu.process(frame)
        got = gpu.process(frame)
        mask, expected = gpu.download_mask(), processed.result.mask
        assert ((expected > 0.02) & (expected < 0.98)).any()  # the edge was refined
        error = np.abs(mask - expected)
        assert error.max() <= 5e-4 and error.mean() <= 1e-5, (error.max(), error.mean())
        diff = diff_u8(got, processed.image)
        assert diff.max() <= 1 and (diff > 0).mean() <= 1e-3, (diff.max(), (diff > 0).mean())
    cpu.close()


def test_edge_refinement_follows_a_radius_change(
    processors: list[Any], device: Device, backend: Any, photo: np.ndarray
) -> None:
    """A wider scratch is allocated when a radius needs one (then kept): results follow the
    CPU, and going back allocates nothing."""
    chosen = settings(effect="mask", edge_refine="guided", edge_refine_radius=8)
    cpu = FrameProcessor(chosen, backend=backend)
    gpu = open_processor(processors, chosen, backend, device)
    counts = []
    for radius in (8, 2, 8, 2):  # subsample 4 (small planes), then 1 (full-size planes)
        chosen = chosen.model_copy(update={"edge_refine_radius": radius})
        cpu.update_settings(chosen)
        gpu.update_settings(chosen)
        gpu.segment(photo)
        expected = cpu.segment(photo).mask
        assert np.abs(gpu.download_mask() - expected).max() <= 5e-4
        counts.append(live_allocations(gpu.dev))
    assert counts[1] == counts[2] == counts[3]
    cpu.close()


class CompositingBackend:
    """The session's ONNX Runtime backend, and while it runs (the processor's lock released,
    as for any host backend) the output thread's work: `during()` (here on this thread)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.name = backend.name
        self.during: list[Any] = []

    def run(self, model_input: np.ndarray, parts: bool = False) -> Any:
        for work in self.during:
            work()
        return self._backend.run(model_input, parts=parts)

    def close(self) -> None:
        pass


def test_the_mask_step_reads_the_segmented_frame(
    processors: list[Any], pinned_device: Device, backend: Any, photo: np.ndarray
) -> None:
    """Motion smoothing and the guided filter read the frame after inference; a composite()
    of another frame staged meanwhile must not be what they read."""
    chosen = settings(effect="mask", smoothing=0.7, edge_refine="guided")
    reference = open_processor(processors, chosen, backend, pinned_device)
    interfering = CompositingBackend(backend)
    gpu = open_processor(processors, chosen, interfering, pinned_device)
    other = np.ascontiguousarray(photo[::-1, ::-1])
    for frame in clip(photo, still=2, moving=2):
        reference.segment(frame)
        gpu.segment(frame)
        np.testing.assert_array_equal(gpu.download_mask(), reference.download_mask())
        interfering.during = [lambda: gpu.composite(other)]
