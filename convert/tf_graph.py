"""Rebuild a TF.js graph model as a TensorFlow GraphDef that TensorFlow and tf2onnx can run.

Two TF.js conventions are made explicit so that TensorFlow computes what TensorFlow.js computes:

- Convolutions read their dilations as `[dilations[1], dilations[2]]` (TF.js convolution
  executor). The stride-8 BodyPix files carry `dilations: [2, 2, 1, 1]`, which TensorFlow itself
  refuses (no dilation in the batch dimension) and which TF.js runs as rate 2 in height and
  rate 1 in width; the rebuilt graph says `[1, 2, 1, 1]`, the same computation.
- Fused TF.js ops (`_FusedConv2D`, `FusedDepthwiseConv2dNative`) are split back into the
  convolution, BiasAdd and activation.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import numpy as np
import numpy.typing as npt

from convert.tfjs_model import TfjsModel
from core.errors import MissingExtraError, UserError

INPUT_NODE = "image"
SEGMENTS_NODE = "float_segments"
PART_HEATMAPS_NODE = "float_part_heatmaps"

# BodyPix's own input normalisation per architecture (body-pix: mobilenet x/127.5-1,
# resnet x + ImageNet mean offsets, which are negative).
IMAGENET_MEAN_OFFSET = (-123.15, -115.90, -103.06)
_CONV_OPS = {"Conv2D", "DepthwiseConv2dNative", "_FusedConv2D", "FusedDepthwiseConv2dNative"}
_ACTIVATIONS = {"relu": "Relu", "relu6": "Relu6", "elu": "Elu", "sigmoid": "Sigmoid"}


def import_tensorflow() -> Any:
    """Import TensorFlow, or say which extra installs it."""
    from convert.quiet import tensorflow_console_quieted

    try:
        with tensorflow_console_quieted():
            import tensorflow as tf
    except ImportError:
        raise MissingExtraError("convert", "tensorflow", "Converting BodyPix models") from None
    return tf


def preprocessing_description(architecture: str) -> str:
    if architecture == "ResNet50":
        return f"resnet50: x + imagenet_mean_offset {list(IMAGENET_MEAN_OFFSET)} (folded)"
    return "mobilenet: x/127.5-1 (folded)"


def normalise(image: npt.NDArray[np.float32], architecture: str) -> npt.NDArray[np.float32]:
    """BodyPix's normalisation in NumPy (what the folded graph prefix computes)."""
    if architecture == "ResNet50":
        return (image + np.asarray(IMAGENET_MEAN_OFFSET, np.float32)).astype(np.float32)
    return (image / np.float32(127.5) - np.float32(1.0)).astype(np.float32)


def _placeholder_name(model: TfjsModel) -> str:
    names = [n["name"] for n in model.nodes if n["op"] == "Placeholder"]
    if len(names) != 1:
        raise UserError(
            f"{model.json_path} has {len(names)} graph inputs where BodyPix has one: "
            "fetch an official BodyPix model with `convert fetch`."
        )
    return str(names[0])


def _tfjs_dilations(node: dict[str, Any]) -> list[int] | None:
    attr = node.get("attr", {}).get("dilations")
    if not attr:
        return None
    dims = [int(i) for i in attr["list"].get("i", [])]
    if len(dims) != 4:
        return None
    # TF.js uses dims[1], dims[2] whatever dims[0] and dims[3] say (see module docstring).
    return [1, dims[1], dims[2], 1]


def _split_fused(node: dict[str, Any]) -> list[dict[str, Any]]:
    """`_FusedConv2D` / `FusedDepthwiseConv2dNative` -> conv + BiasAdd (+ activation)."""
    attr = dict(node.get("attr", {}))
    fused = [
        base64.b64decode(s).decode().lower()
        for s in attr.pop("fused_ops", {}).get("list", {}).get("s", [])
    ]
    attr.pop("num_args", None)
    attr.pop("epsilon", None)
    inputs = [i for i in node["input"] if not i.startswith("^")]
    base_op = "Conv2D" if node["op"] == "_FusedConv2D" else "DepthwiseConv2dNative"
    if base_op == "DepthwiseConv2dNative":
        attr.pop("use_cudnn_on_gpu", None)
        attr.pop("explicit_paddings", None)
    name = node["name"]
    out = [{"name": f"{name}/conv", "op": base_op, "input": inputs[:2], "attr": attr}]
    last = f"{name}/conv"
    if fused and fused[0] == "biasadd":
        out.append(
            {"name": f"{name}/bias", "op": "BiasAdd", "input": [last, inputs[2]], "attr": {}}
        )
        last = f"{name}/bias"
        fused = fused[1:]
    for act in fused:
        if act not in _ACTIVATIONS:
            raise UserError(
                f"Node {name!r} fuses {act!r}, which this exporter cannot unfold: report it "
                "with the model URL."
            )
        out.append({"name": f"{name}/{act}", "op": _ACTIVATIONS[act], "input": [last], "attr": {}})
        last = f"{name}/{act}"
    return _rename_chain(out, name)  # consumers refer to the fused node's name


def _rename_chain(chain: list[dict[str, Any]], final: str) -> list[dict[str, Any]]:
    """Give each step a distinct name and wire it to the previous one; the last keeps `final`."""
    for i, step in enumerate(chain):
        step["name"] = final if i == len(chain) - 1 else f"{final}/step{i}"
        if i > 0:
            step["input"] = [chain[i - 1]["name"], *step["input"][1:]]
    return chain


def build_graph_def(
    model: TfjsModel,
    architecture: str,
    height: int | None,
    width: int | None,
    fold_preprocessing: bool = True,
) -> Any:
    """A tf.compat.v1.GraphDef of the model with its weights as constants.

    With `fold_preprocessing`, the input is `image` (float32 [1,H,W,3] RGB 0..255) followed by
    the architecture's normalisation; otherwise the original (normalised) input placeholder is
    kept. `height`/`width` None gives symbolic sizes.
    """
    tf = import_tensorflow()
    from google.protobuf import json_format

    names = {n["name"] for n in model.nodes}
    missing = [n for n in (SEGMENTS_NODE, PART_HEATMAPS_NODE) if n not in names]
    if missing:
        raise UserError(
            f"{model.json_path} has no {', '.join(missing)} output, so it is not a BodyPix 2.0 "
            "graph model: fetch an official variant with `convert fetch`."
        )
    weights = model.load_weights()
    source_input = _placeholder_name(model)
    graph_def = tf.compat.v1.GraphDef()
    shape = [1, height, width, 3]  # None: symbolic

    def add(node_json: dict[str, Any]) -> Any:
        node = graph_def.node.add()
        json_format.ParseDict(node_json, node, ignore_unknown_fields=True)
        return node

    def const(name: str, value: npt.NDArray[Any]) -> None:
        node = graph_def.node.add()
        node.name = name
        node.op = "Const"
        node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))

    def placeholder(name: str) -> None:
        node = graph_def.node.add()
        node.name = name
        node.op = "Placeholder"
        node.attr["dtype"].type = tf.float32.as_datatype_enum
        node.attr["shape"].shape.CopyFrom(tf.TensorShape(shape).as_proto())

    if fold_preprocessing:
        placeholder(INPUT_NODE)
        if architecture == "ResNet50":
            const("preprocess/offset", np.asarray(IMAGENET_MEAN_OFFSET, np.float32))
            add(
                {
                    "name": source_input,
                    "op": "AddV2",
                    "input": [INPUT_NODE, "preprocess/offset"],
                    "attr": {"T": {"type": "DT_FLOAT"}},
                }
            )
        else:
            const("preprocess/scale", np.asarray(1.0 / 127.5, np.float32))
            const("preprocess/shift", np.asarray(-1.0, np.float32))
            add(
                {
                    "name": "preprocess/scaled",
                    "op": "Mul",
                    "input": [INPUT_NODE, "preprocess/scale"],
                    "attr": {"T": {"type": "DT_FLOAT"}},
                }
            )
            add(
                {
                    "name": source_input,
                    "op": "AddV2",
                    "input": ["preprocess/scaled", "preprocess/shift"],
                    "attr": {"T": {"type": "DT_FLOAT"}},
                }
            )
    else:
        placeholder(source_input)

    for node_json in model.nodes:
        op = node_json["op"]
        name = node_json["name"]
        if op == "Placeholder":
            continue
        if op == "Const":
            if name not in weights:
                raise UserError(
                    f"Constant {name!r} of {model.json_path} is missing from its weights "
                    "manifest: fetch the model again with `convert fetch`."
                )
            const(name, weights[name])
            continue
        node_json = copy.deepcopy(node_json)
        node_json.setdefault("attr", {})
        if op in _CONV_OPS:
            dil = _tfjs_dilations(node_json)
            if dil is not None:
                node_json["attr"]["dilations"] = {"list": {"i": [str(d) for d in dil]}}
        parts = (
            _split_fused(node_json)
            if op in ("_FusedConv2D", "FusedDepthwiseConv2dNative")
            else [node_json]
        )
        for part in parts:
            part.setdefault("attr", {}).setdefault("T", {"type": "DT_FLOAT"})
            add(part)
    return graph_def


def run_graph_def(
    graph_def: Any, input_name: str, image: npt.NDArray[np.float32], outputs: list[str]
) -> list[npt.NDArray[np.float32]]:
    """Run a GraphDef once in TensorFlow (CPU) and return the named outputs."""
    tf = import_tensorflow()
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as sess:
        result = sess.run([f"{o}:0" for o in outputs], feed_dict={f"{input_name}:0": image})
    return [np.asarray(r, np.float32) for r in result]
