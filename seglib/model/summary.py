"""What a built model looks like, as plain data and text: the layer table, the
stages and parameter counts (``python -m seglib model`` prints the table).

Layers are grouped by the names the stages of ``seglib.model.deeplab`` give them
(``aspp_...``, ``decoder_...``, ``logits``); everything else is the backbone.
"""

from __future__ import annotations

import math
from typing import Any

from seglib.errors import ConfigError, ModelError
from seglib.model.backbones import feature_layers
from seglib.model.deeplab import STAGES, model_config_of


def _stage_of(layer_name: str) -> str:
    if layer_name.startswith("aspp_"):
        return "aspp"
    if layer_name.startswith("decoder_"):
        return "decoder"
    if layer_name == "logits" or layer_name.startswith("head_"):
        return "head"
    return "backbone"


def _output_shape(layer) -> tuple:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return ()
    return tuple(None if d is None else int(d) for d in shape)


def layer_table(model) -> list[dict[str, Any]]:
    """One row per layer: name, type, output shape (tuple), params, stage.

    Stages are ``backbone`` (input, preprocessing and the backbone's layers),
    ``aspp``, ``decoder`` and ``head`` (final upsampling and ``logits``).
    Conv layers also carry ``kernel_size`` and ``dilation_rate``.
    """
    rows = []
    for layer in model.layers:
        row = {"name": layer.name, "type": type(layer).__name__, "output_shape": _output_shape(layer),
               "params": int(layer.count_params()) if layer.built else 0, "stage": _stage_of(layer.name)}
        if hasattr(layer, "dilation_rate") and hasattr(layer, "kernel_size"):
            row["kernel_size"] = tuple(int(k) for k in layer.kernel_size)
            row["dilation_rate"] = tuple(int(d) for d in layer.dilation_rate)
        rows.append(row)
    return _reading_order(rows)


def _reading_order(rows: list[dict]) -> list[dict]:
    """Order rows stage by stage, and each ASPP / decoder branch as one block.

    Keras lists parallel branches interleaved (all convs, then all BNs, ...);
    grouping ``aspp_rate6``, ``aspp_rate6_bn``, ``aspp_rate6_relu`` together
    reads like the architecture. Blocks keep the order in which they finish.
    """
    def group(name: str, stage: str) -> str:
        return name.split("_")[1] if stage in ("aspp", "decoder") and name.count("_") else name

    last_index: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        last_index[(row["stage"], group(row["name"], row["stage"]))] = index
    order = {stage: position for position, stage in enumerate(STAGES)}
    keyed = sorted(enumerate(rows), key=lambda item: (
        order.get(item[1]["stage"], len(order)),
        last_index[(item[1]["stage"], group(item[1]["name"], item[1]["stage"]))],
        item[0]))
    return [row for _, row in keyed]


def stages(model) -> list[dict[str, Any]]:
    """Per stage: name, first and last layer, output shape, params, layer count.

    The backbone's output is the ASPP input (stride 16) when the model is a
    seglib model, since that is where the encoder hands over.
    """
    rows = layer_table(model)
    try:
        high = feature_layers(model_config_of(model))["high"]
    except (ModelError, ConfigError):
        high = None
    result = []
    for stage in STAGES:
        members = [r for r in rows if r["stage"] == stage]
        if not members:
            continue
        last = next((r for r in members if r["name"] == high), members[-1]) if stage == "backbone" else members[-1]
        result.append({"stage": stage, "first_layer": members[0]["name"], "last_layer": last["name"],
                       "output_shape": last["output_shape"], "params": sum(r["params"] for r in members),
                       "layers": len(members)})
    return result


def total_params(model) -> int:
    return int(model.count_params())


def architecture(preset: str, image_size: int | None = None):
    """A preset's model with random weights (``model.weights='none'``), at ``image_size`` (default:
    the preset's own size), for what does not depend on weights: layers, shapes, parameter counts,
    receptive fields. Nothing is loaded or downloaded, even for a preset that asks for ImageNet weights.
    """
    from seglib.presets import get_preset
    from seglib.model.deeplab import build_model

    overrides: dict[str, Any] = {"model.weights": "none"}
    if image_size is not None:
        overrides["model.image_size"] = int(image_size)
    return build_model(get_preset(preset).with_overrides(overrides).model)


def describe(model) -> dict[str, Any]:
    """Everything the Model page shows of a model, as plain data (no Keras objects).

    ``layers`` (``layer_table``), ``stages``, ``total`` and ``trainable``
    parameter counts and ``weights_message`` (how the backbone was initialised).
    Plain data can be cached and shared without keeping the model alive.
    """
    trainable = sum(math.prod(int(d) for d in weight.shape) for weight in model.trainable_weights)
    return {"layers": layer_table(model), "stages": stages(model), "total": total_params(model),
            "trainable": int(trainable), "weights_message": str(getattr(model, "weights_message", "") or "")}



def final_layer(rows: list[dict[str, Any]]) -> tuple[str, tuple[int, int, int]]:
    """What the last layer of ``layer_table`` rows is, as the start of a sentence that ends in its output
    ("The last layer, `logits` (Conv2D, 1 × 1 kernel), outputs"), and its output's (height, width, channels).

    The last layer is the 1 x 1 convolution itself, or (``model.upsample_logits``) an upsampling of its
    output: the sentence says which, with the kernel only where there is one.
    """
    logits_row = rows[-1]
    last_conv = next((row for row in reversed(rows) if row.get("kernel_size")), None)
    if logits_row.get("kernel_size"):
        text = (f"The last layer, `{logits_row['name']}` ({logits_row['type']}, "
                f"{' × '.join(map(str, logits_row['kernel_size']))} kernel), outputs")
    elif last_conv is not None:
        conv_height, conv_width = last_conv["output_shape"][1:3]
        text = (f"The last convolution, `{last_conv['name']}` ({last_conv['type']}, "
                f"{' × '.join(map(str, last_conv['kernel_size']))} kernel), gives the class scores at "
                f"{conv_height} × {conv_width}; the last layer, `{logits_row['name']}` ({logits_row['type']}, "
                "no weights), enlarges them and outputs")
    else:
        text = f"The last layer, `{logits_row['name']}` ({logits_row['type']}), outputs"
    height, width, channels = logits_row["output_shape"][1:]
    return text, (height, width, channels)

def layer_frame(rows: list[dict[str, Any]]):
    """``layer_table`` rows as the Model page's table (a ``pandas.DataFrame``): ``#``, ``name``, ``type``,
    ``output shape``, ``parameters``, ``stage``, ``kernel`` ('3×3') and ``dilation`` (text, '' without one)."""
    import pandas as pd

    return pd.DataFrame([{
        "#": index,
        "name": row["name"],
        "type": row["type"],
        "output shape": "(" + ", ".join("None" if d is None else str(d) for d in row["output_shape"]) + ")",
        "parameters": row["params"],
        "stage": row["stage"],
        "kernel": "×".join(map(str, row["kernel_size"])) if row.get("kernel_size") else "",
        "dilation": str(row["dilation_rate"][0]) if row.get("dilation_rate") else "",
    } for index, row in enumerate(rows)])


def matching_layers(frame, search: str, stages):
    """Boolean mask of the ``layer_frame`` rows in ``stages`` whose name, type, stage or output shape
    contains ``search`` (case-insensitive; blank: every row of those stages)."""
    mask = frame["stage"].isin(list(stages))
    needle = str(search or "").strip().lower()
    if needle:
        text = (frame["name"] + " " + frame["type"] + " " + frame["stage"] + " " + frame["output shape"]).str.lower()
        mask &= text.str.contains(needle, regex=False)
    return mask


def _format_shape(shape: tuple) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def model_summary_text(model, stage: str | None = None) -> str:
    """A plain-text layer table (no colours or box drawing), ending with ``Total params: N``.

    ``stage`` limits the rows to one stage; the totals always cover the model.
    """
    rows = [r for r in layer_table(model) if stage is None or r["stage"] == stage]
    headers = ("Layer", "Type", "Output shape", "Params", "Stage")
    table = [(r["name"], r["type"], _format_shape(r["output_shape"]), f"{r['params']:,}", r["stage"])
             for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i != 3 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))
    out = [line.rstrip(), "-" * len(line.rstrip())]
    for row in table:
        out.append("  ".join(c.ljust(w) if i != 3 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    trainable = sum(math.prod(int(d) for d in v.shape) for v in model.trainable_weights)
    total = total_params(model)
    out += ["-" * len(line.rstrip()),
            f"Trainable params: {trainable}",
            f"Non-trainable params: {total - trainable}",
            f"Total params: {total}"]
    return "\n".join(out)

