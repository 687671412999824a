"""Export a BodyPix TF.js graph model to the ONNX file the runtime and TensorRT consume.

Pipeline: TF.js JSON + shards -> TensorFlow GraphDef (convert.tf_graph, normalisation folded in
front) -> tf2onnx -> graph surgery (names, symbolic sizes, explicit pads for dilated convs) ->
[FP16 conversion] -> metadata -> ONNX checker -> atomic write.

`--precision fp16` converts weights and activations to FP16 with onnxconverter-common, keeping
the float32 input and outputs (Cast nodes at the edges), so every consumer feeds and reads the
file exactly like the FP32 one. TensorRT versions that build only strongly typed networks (11.x,
and 10.12+ where weak typing is deprecated) make their FP16 engines from this file.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from convert import metadata as md
from convert.metadata import Precision
from convert.quiet import tensorflow_console_quieted
from core.atomic import PendingFile, write_atomic
from core.catalog import Variant, default_models_dir, get_variant
from core.errors import MissingExtraError, UserError
from core.input_size import check_input_size, default_input_size, output_size

log = logging.getLogger(__name__)

# Opset 17: ONNX Runtime and TensorRT >= 8.6 (JetPack 6) support it.
OPSET = 17
# What an FP16 export keeps in FP32, decided by measurement against TensorFlow (2 photos,
# 5 MobileNet variants, 257x353 and the default size; see `convert verify`):
# - no op type beyond the converter's own list (ops without FP16 kernels): keeping the folded
#   normalisation (Mul, Add) in FP32 moved the max logit difference by < 0.005 and no pixel;
# - the first depthwise convolution (MobileNet's Conv2d_1_depthwise): batch norm folded into
#   it gives weights up to 63 on ReLU6 inputs, whose 9 terms cancel, so FP16 rounding there is
#   amplified through the whole network. Kept in FP32 (one small layer), the float variants'
#   max logit difference drops 3-5x (mobilenet-float-050-stride8 at 257x353: 0.44 -> 0.10,
#   differing pixels 0.67 % -> 0.13 %; the worst case over all 20 runs 0.67 % -> 0.20 %); the
#   quantised ones stay within +-0.05.
FP16_KEEP_FP32_OPS: tuple[str, ...] = ()


def default_onnx_path(
    variant: str,
    height: int | None,
    width: int | None,
    dynamic: bool,
    models_dir: Path | None,
    precision: Precision = "fp32",
) -> Path:
    """`{models_dir}/{variant}/onnx/{variant}-{H}x{W}.onnx` or `{variant}-dynamic.onnx`;
    an FP16 file adds `-fp16` (`{variant}-{H}x{W}-fp16.onnx`)."""
    folder = (models_dir or default_models_dir()) / variant / "onnx"
    suffix = "-fp16" if precision == "fp16" else ""
    if dynamic:
        return folder / f"{variant}-dynamic{suffix}.onnx"
    return folder / f"{variant}-{height}x{width}{suffix}.onnx"


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
        with tensorflow_console_quieted():
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


def require_fp16_converter() -> Any:
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise MissingExtraError(
            "convert", "onnxconverter_common", "Exporting an FP16 ONNX file"
        ) from None
    return float16


def tool_versions(precision: Precision = "fp32") -> dict[str, str]:
    import onnx

    tf = __import__("tensorflow")
    tf2onnx = _import_tf2onnx()
    tools = {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__}
    if precision == "fp16":
        import onnxconverter_common

        tools["onnxconverter-common"] = onnxconverter_common.__version__
    return tools


def convert_to_fp16(proto: Any) -> Any:
    """FP16 weights and activations, float32 input and outputs (Casts at the edges)."""
    float16 = require_fp16_converter()
    blocked = list(float16.DEFAULT_OP_BLOCK_LIST) + list(FP16_KEEP_FP32_OPS)
    # keep_io_types: the runtime and TensorRT bindings keep feeding and reading float32.
    return float16.convert_float_to_float16(
        proto,
        keep_io_types=True,
        op_block_list=blocked,
        node_block_list=fp32_nodes(proto),
    )


def fp32_nodes(proto: Any) -> list[str]:
    """The nodes an FP16 export keeps in FP32: the first depthwise convolution (see above)."""
    import onnx

    for node in proto.graph.node:
        if node.op_type != "Conv":
            continue
        group = next(
            (onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "group"), 1
        )
        if group > 1:
            return [node.name]
    return []


def export_onnx(
    variant: str,
    height: int | None = None,
    width: int | None = None,
    dynamic: bool = False,
    output: Path | None = None,
    models_dir: Path | None = None,
    progress: bool = True,
    precision: Precision = "fp32",
) -> Path:
    """Fetch (if needed) and export `variant`; return the ONNX path written."""
    from convert.fetch import fetch_variant
    from convert.tfjs_model import read_model_json

    v = get_variant(variant)
    h, w = resolve_size(v, height, width, dynamic)
    out = (
        Path(output) if output else default_onnx_path(v.name, h, w, dynamic, models_dir, precision)
    )
    _check_writable(out)
    tf2onnx = require_conversion_stack()
    if precision == "fp16":
        require_fp16_converter()  # fail before the slow part
    from convert.tf_graph import build_graph_def

    src_dir = fetch_variant(v.name, models_dir=models_dir, progress=progress)
    model = read_model_json(src_dir / v.json_name)

    started = time.monotonic()
    graph_def = build_graph_def(model, v.architecture, h, w, fold_preprocessing=True)
    from convert.tf_graph import INPUT_NODE, PART_HEATMAPS_NODE, SEGMENTS_NODE

    with tensorflow_console_quieted():  # the conversion's session start-up lines
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
    if precision == "fp16":
        proto = convert_to_fp16(proto)
    _set_metadata(proto, v, h, w, model.source_sha256(), precision)
    import onnx

    onnx.checker.check_model(proto, full_check=True)
    _write_atomic(proto.SerializeToString(), out)
    log.info(
        "exported %s (%s, %s) to %s in %.1f s, %.2f MB",
        v.name,
        "dynamic" if dynamic else f"{h}x{w}",
        precision,
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
    precision: Precision = "fp32",
) -> Path:
    """The cached ONNX file for (variant, size, precision) when its metadata matches, else a
    fresh export."""
    v = get_variant(variant)
    h, w = resolve_size(v, height, width, dynamic)
    path = default_onnx_path(v.name, h, w, dynamic, models_dir, precision)
    if path.is_file() and onnx_is_current(path, v, h, w, models_dir, precision):
        return path
    return export_onnx(
        v.name, h, w, dynamic, models_dir=models_dir, progress=False, precision=precision
    )


def onnx_is_current(
    path: Path,
    v: Variant,
    height: int | None,
    width: int | None,
    models_dir: Path | None = None,
    precision: Precision = "fp32",
) -> bool:
    """True when `path` was exported by this format from the same variant, size, precision and
    sources (a file without a recorded precision predates FP16 exports: exported again)."""
    try:
        meta = md.read_onnx_metadata(path)
    except UserError:
        return False
    want = {
        md.FORMAT: md.FORMAT_VERSION,
        md.VARIANT: v.name,
        md.INPUT_HEIGHT: str(height) if height else md.DYNAMIC,
        md.INPUT_WIDTH: str(width) if width else md.DYNAMIC,
        md.PRECISION: precision,
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
    proto: Any,
    v: Variant,
    height: int | None,
    width: int | None,
    sha: dict[str, str],
    precision: Precision,
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
        md.TOOLS: json.dumps(tool_versions(precision), sort_keys=True),
        md.FORMAT: md.FORMAT_VERSION,
        md.PRECISION: precision,
    }
    del proto.metadata_props[:]
    for key, value in values.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value


def _check_writable(out: Path) -> None:
    """Fail before the slow export when the output cannot be written."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        PendingFile(out).discard()  # the temporary file the export will write
    except OSError as exc:
        raise UserError(
            f"Cannot write the ONNX file {out} ({exc.strerror}): pass -o with a path in a "
            "writable folder."
        ) from None
    if out.is_dir():
        raise UserError(f"The ONNX output {out} is a directory: pass -o with a file name.")


def _write_atomic(data: bytes, out: Path) -> None:
    try:
        write_atomic(out, data)
    except OSError as exc:
        raise UserError(
            f"Cannot write the ONNX file {out} ({exc.strerror}): pass -o with a path in a "
            "writable folder."
        ) from None
