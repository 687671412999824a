"""Export a BodyPix TF.js graph model to the ONNX file the runtime and TensorRT consume.

Pipeline: TF.js JSON + shards -> TensorFlow GraphDef (convert.tf_graph, normalisation folded in
front) -> tf2onnx -> graph surgery (names, symbolic sizes, explicit pads for dilated convs) ->
ONNX checker -> metadata -> atomic write.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from convert import metadata as md
from convert.atomic import write_bytes_atomic
from convert.catalog import Variant, default_models_dir, get_variant
from convert.errors import MissingExtraError, UserError
from convert.input_size import check_input_size, default_input_size, output_size

log = logging.getLogger(__name__)

# Opset 17: ONNX Runtime and TensorRT >= 8.6 (JetPack 6) support it.
OPSET = 17


def default_onnx_path(
    variant: str, height: int | None, width: int | None, dynamic: bool, models_dir: Path | None
) -> Path:
    """`{models_dir}/{variant}/onnx/{variant}-{H}x{W}.onnx` or `{variant}-dynamic.onnx`."""
    folder = (models_dir or default_models_dir()) / variant / "onnx"
    if dynamic:
        return folder / f"{variant}-dynamic.onnx"
    return folder / f"{variant}-{height}x{width}.onnx"


def resolve_size(
    v: Variant, height: int | None, width: int | None, dynamic: bool
) -> tuple[int | None, int | None]:
    """The static input size to export (validated), or (None, None) when dynamic."""
    if dynamic:
        if height is not None or width is not None:
            raise UserError(
                "--dynamic exports symbolic height and width, so --height/--width cannot be "
                "given with it: drop one or the other."
            )
        return None, None
    dh, dw = default_input_size(v.stride)
    h, w = height or dh, width or dw
    check_input_size(h, w, v.stride, v.name)
    return h, w


def _import_tf2onnx() -> Any:
    _import_numpy_compat()
    try:
        import tf2onnx
    except ImportError:
        raise MissingExtraError("convert", "tf2onnx", "Exporting BodyPix models to ONNX") from None
    return tf2onnx


def require_conversion_stack() -> Any:
    """Import TensorFlow and tf2onnx (returned), or say which extra installs them."""
    from convert.tf_graph import import_tensorflow

    import_tensorflow()
    return _import_tf2onnx()


def _import_numpy_compat() -> None:
    # tf2onnx 1.17's TF.js reader still calls np.product, removed in NumPy 2. We do not use that
    # reader (convert.tf_graph reads TF.js itself), but other tf2onnx paths may touch the name,
    # so alias it to np.prod before tf2onnx is imported.
    import numpy as np

    if not hasattr(np, "product"):
        np.product = np.prod  # type: ignore[attr-defined]


def tool_versions() -> dict[str, str]:
    import onnx

    tf = __import__("tensorflow")
    tf2onnx = _import_tf2onnx()
    return {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__}


def export_onnx(
    variant: str,
    height: int | None = None,
    width: int | None = None,
    dynamic: bool = False,
    output: Path | None = None,
    models_dir: Path | None = None,
    progress: bool = True,
) -> Path:
    """Fetch (if needed) and export `variant`; return the ONNX path written."""
    from convert.fetch import fetch_variant
    from convert.tfjs_model import read_model_json

    v = get_variant(variant)
    h, w = resolve_size(v, height, width, dynamic)
    out = Path(output) if output else default_onnx_path(v.name, h, w, dynamic, models_dir)
    _check_writable(out)
    tf2onnx = require_conversion_stack()
    from convert.tf_graph import build_graph_def

    src_dir = fetch_variant(v.name, models_dir=models_dir, progress=progress)
    model = read_model_json(src_dir / v.json_name)

    started = time.monotonic()
    graph_def = build_graph_def(model, v.architecture, h, w, fold_preprocessing=True)
    from convert.tf_graph import INPUT_NODE, PART_HEATMAPS_NODE, SEGMENTS_NODE

    proto, _ = tf2onnx.convert.from_graph_def(
        graph_def,
        name=v.name,
        input_names=[f"{INPUT_NODE}:0"],
        output_names=[f"{SEGMENTS_NODE}:0", f"{PART_HEATMAPS_NODE}:0"],
        opset=OPSET,
        tensors_to_rename={
            f"{INPUT_NODE}:0": md.INPUT_NAME,
            f"{SEGMENTS_NODE}:0": md.SEGMENTS,
            f"{PART_HEATMAPS_NODE}:0": md.PART_HEATMAPS,
        },
    )
    _finish_graph(proto, v, h, w)
    _set_metadata(proto, v, h, w, model.source_sha256())
    import onnx

    onnx.checker.check_model(proto, full_check=True)
    _write_atomic(proto.SerializeToString(), out)
    log.info(
        "exported %s (%s) to %s in %.1f s, %.2f MB",
        v.name,
        "dynamic" if dynamic else f"{h}x{w}",
        out,
        time.monotonic() - started,
        out.stat().st_size / 1e6,
    )
    return out


def ensure_onnx(
    variant: str,
    height: int | None = None,
    width: int | None = None,
    dynamic: bool = False,
    models_dir: Path | None = None,
) -> Path:
    """The cached ONNX file for (variant, size) when its metadata matches, else a fresh export."""
    v = get_variant(variant)
    h, w = resolve_size(v, height, width, dynamic)
    path = default_onnx_path(v.name, h, w, dynamic, models_dir)
    if path.is_file() and onnx_is_current(path, v, h, w, models_dir):
        return path
    return export_onnx(v.name, h, w, dynamic, models_dir=models_dir, progress=False)


def onnx_is_current(
    path: Path, v: Variant, height: int | None, width: int | None, models_dir: Path | None = None
) -> bool:
    """True when `path` was exported by this format from the same variant, size and sources."""
    try:
        meta = md.read_onnx_metadata(path)
    except UserError:
        return False
    want = {
        md.FORMAT: md.FORMAT_VERSION,
        md.VARIANT: v.name,
        md.INPUT_HEIGHT: str(height) if height else md.DYNAMIC,
        md.INPUT_WIDTH: str(width) if width else md.DYNAMIC,
    }
    if any(meta.get(k) != val for k, val in want.items()):
        return False
    # When the source files are cached here, they must be the ones the file was made from.
    from convert.fetch import verify_cached

    model = verify_cached(v.name, models_dir)
    if model is None:
        return True
    try:
        return bool(json.loads(meta.get(md.SOURCE_SHA256, "{}")) == model.source_sha256())
    except ValueError:
        return False


def _finish_graph(proto: Any, v: Variant, height: int | None, width: int | None) -> None:
    """Symbolic dims for dynamic exports, explicit pads for dilated convs, a tidy graph name."""
    import onnx

    graph = proto.graph
    graph.name = v.name
    names = [o.name for o in graph.output]
    if names != [md.SEGMENTS, md.PART_HEATMAPS] or [i.name for i in graph.input] != [md.INPUT_NAME]:
        raise RuntimeError(f"unexpected graph interface after tf2onnx: {names}")
    if height is None or width is None:
        _set_dims(graph.input[0], [1, "height", "width", 3])
        _set_dims(graph.output[0], [1, "out_height", "out_width", 1])
        _set_dims(graph.output[1], [1, "out_height", "out_width", 24])
    else:
        oh, ow = output_size(height, width, v.stride)
        _set_dims(graph.input[0], [1, height, width, 3])
        _set_dims(graph.output[0], [1, oh, ow, 1])
        _set_dims(graph.output[1], [1, oh, ow, 24])
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        auto_pad = attrs.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        dilations = list(attrs.get("dilations", [1, 1]))
        if auto_pad in ("NOTSET", "VALID") or dilations == [1, 1]:
            continue
        # ONNX Runtime refuses auto_pad SAME_* with dilation. With stride 1, TF's SAME padding
        # uses the effective kernel (k-1)*d+1 and is symmetric for odd k at every input size.
        strides = list(attrs.get("strides", [1, 1]))
        kernel = list(attrs["kernel_shape"])
        if strides != [1, 1] or any(k % 2 == 0 for k in kernel):
            raise RuntimeError(f"cannot make pads explicit for {node.name}: {attrs}")
        half = [(k - 1) * d // 2 for k, d in zip(kernel, dilations, strict=True)]
        keep = [a for a in node.attribute if a.name != "auto_pad"]
        del node.attribute[:]
        node.attribute.extend(keep)
        node.attribute.append(onnx.helper.make_attribute("pads", half + half))
    proto.producer_name = "bodypix-appliance convert (tf2onnx)"


def _set_dims(value_info: Any, dims: list[int | str]) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        else:
            dim.dim_param = d


def _set_metadata(
    proto: Any, v: Variant, height: int | None, width: int | None, sha: dict[str, str]
) -> None:
    from convert.tf_graph import preprocessing_description

    values = {
        md.VARIANT: v.name,
        md.ARCHITECTURE: v.architecture,
        md.STRIDE: str(v.stride),
        md.MULTIPLIER: f"{v.multiplier:g}",
        md.QUANT_BYTES: str(v.quant_bytes),
        md.INPUT_HEIGHT: str(height) if height else md.DYNAMIC,
        md.INPUT_WIDTH: str(width) if width else md.DYNAMIC,
        md.INPUT_FORMAT: md.INPUT_FORMAT_VALUE,
        md.PREPROCESSING: preprocessing_description(v.architecture),
        md.OUTPUTS: md.OUTPUTS_VALUE,
        md.SOURCE_SHA256: json.dumps(sha, sort_keys=True),
        md.TOOLS: json.dumps(tool_versions(), sort_keys=True),
        md.FORMAT: md.FORMAT_VERSION,
    }
    del proto.metadata_props[:]
    for key, value in values.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value


def _check_writable(out: Path) -> None:
    """Fail before the slow export when the output cannot be written."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    except OSError as exc:
        raise UserError(
            f"Cannot write the ONNX file {out} ({exc.strerror}): pass -o with a path in a "
            "writable folder."
        ) from None
    os.close(fd)
    os.unlink(tmp)
    if out.is_dir():
        raise UserError(f"The ONNX output {out} is a directory: pass -o with a file name.")


def _write_atomic(data: bytes, out: Path) -> None:
    try:
        write_bytes_atomic(data, out)
    except OSError as exc:
        raise UserError(
            f"Cannot write the ONNX file {out} ({exc.strerror}): pass -o with a path in a "
            "writable folder."
        ) from None
