"""Theoretical receptive fields, measured on a Keras model's own graph.

``layer_fields(model)`` walks the functional graph (residual branches and
nested models included) and returns, for every layer, its kernel, stride,
dilation, effective kernel ``d * (k - 1) + 1``, the *jump* (distance in input
pixels between neighbouring output units), the theoretical receptive field and
the *start* (input-pixel centre of the first output unit's field). Nothing is
taken from constants, so changing the backbone, the rates or the image size
shows at once. ``seglib.analysis.aspp`` reads the ASPP branches off the same
walk (``trace_fields``).

Example with a hand-built model (three 3x3 convolutions see 7 pixels):

>>> from seglib._tf import keras
>>> inputs = keras.Input((32, 32, 1))
>>> x = inputs
>>> for _ in range(3):
...     x = keras.layers.Conv2D(1, 3, padding="same")(x)
>>> layer_fields(keras.Model(inputs, x))[-1].receptive_field
7

Coordinates: input pixel ``i`` has its centre at ``i``; a unit whose field has
centre ``c`` and size ``rf`` covers pixels ``c - (rf - 1) / 2 ... c + (rf - 1) / 2``.
Images are ``(row, column)``; every per-axis quantity is computed for both axes
and the rows-axis value is the one reported in tables (models here are square).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from seglib import keras_internals
from seglib.errors import ModelError

# ---------------------------------------------------------------------------
# Geometry of one tensor
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """Where the units of one feature map look in the input image.

    Every attribute is a ``(rows, columns)`` pair.

    Attributes:
        size: spatial size of the feature map (units).
        receptive_field: theoretical receptive field of one unit, in input pixels.
        jump: distance in input pixels between neighbouring units (the
            cumulative stride); fractional after upsampling.
        start: input-pixel centre of the first unit's field.
        global_field: True once a pooling over the whole map fed this tensor, so
            every unit depends on every input pixel (image pooling).
    """

    size: tuple[int, int]
    receptive_field: tuple[float, float]
    jump: tuple[float, float]
    start: tuple[float, float]
    global_field: bool = False

    def center(self, unit: tuple[int, int]) -> tuple[float, float]:
        """Input-pixel centre of the field of ``unit = (row, column)``."""
        return (self.start[0] + unit[0] * self.jump[0], self.start[1] + unit[1] * self.jump[1])

    def nearest_unit(self, point: tuple[float, float]) -> tuple[int, int]:
        """The unit whose field is centred closest to the input pixel ``point``."""
        return tuple(  # type: ignore[return-value]
            int(min(max(round((point[axis] - self.start[axis]) / self.jump[axis]), 0), self.size[axis] - 1))
            for axis in (0, 1)
        )


def _input_field(size: tuple[int, int]) -> Field:
    return Field(size=size, receptive_field=(1.0, 1.0), jump=(1.0, 1.0), start=(0.0, 0.0))


@dataclass(frozen=True)
class LayerField:
    """One row of the layer-by-layer receptive-field table (rows axis)."""

    name: str
    class_name: str
    output_size: tuple[int, int]
    kernel_size: int | None
    stride: int | None
    dilation: int | None
    effective_kernel: int | None
    jump: float | int
    receptive_field: float | int
    start: float | int
    global_field: bool
    note: str = ""
    field: Field | None = None

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("field")
        row["output_size"] = list(self.output_size)
        row["jump"] = plain_number(self.jump)
        row["receptive_field"] = plain_number(self.receptive_field)
        row["start"] = plain_number(self.start)
        return row


def plain_number(value: float) -> float | int:
    """Integers stay integers in tables and JSON (16, not 16.0)."""
    return int(value) if float(value).is_integer() else round(float(value), 4)


# ---------------------------------------------------------------------------
# Per-layer rules
# ---------------------------------------------------------------------------

def as_pair(value: Any) -> tuple[int, int]:
    """``3`` or ``(3, 3)`` (a Keras kernel size, stride, ...) as ``(rows, columns)``."""
    if isinstance(value, (tuple, list)):
        return (int(value[0]), int(value[1])) if len(value) >= 2 else (int(value[0]), int(value[0]))
    return (int(value), int(value))


def _sliding(field_in: Field, out_size: tuple[int, int], kernel, stride, dilation, padding: str) -> Field:
    """A convolution or pooling window: ``rf += (k_eff - 1) * jump``; ``jump *= stride``.

    With 'same' padding TensorFlow pads ``max((out - 1) * s + k_eff - n, 0)``
    in total, the smaller half before; that shifts where the first window sits.
    """
    kernel, stride, dilation = as_pair(kernel), as_pair(stride), as_pair(dilation)
    rf, jump, start = [], [], []
    covers_all = True
    for axis in (0, 1):
        n, out = field_in.size[axis], out_size[axis]
        k_eff = dilation[axis] * (kernel[axis] - 1) + 1
        pad_before = 0
        if padding == "same":
            pad_before = max((out - 1) * stride[axis] + k_eff - n, 0) // 2
        rf.append(field_in.receptive_field[axis] + (k_eff - 1) * field_in.jump[axis])
        start.append(field_in.start[axis] + ((k_eff - 1) / 2 - pad_before) * field_in.jump[axis])
        jump.append(field_in.jump[axis] * stride[axis])
        covers_all = covers_all and out == 1 and k_eff >= n and dilation[axis] == 1
    return Field(size=out_size, receptive_field=tuple(rf), jump=tuple(jump), start=tuple(start),
                 global_field=field_in.global_field or covers_all)


def _global_pool(field_in: Field) -> Field:
    """A global pooling: one window covering the whole map."""
    return _sliding(field_in, (1, 1), field_in.size, (1, 1), (1, 1), "valid")


def _shift(field_in: Field, out_size: tuple[int, int], before: tuple[int, int], sign: int) -> Field:
    """Zero padding (sign -1: new units before the first) or cropping (sign +1)."""
    start = tuple(field_in.start[a] + sign * before[a] * field_in.jump[a] for a in (0, 1))
    return Field(size=out_size, receptive_field=field_in.receptive_field, jump=field_in.jump,
                 start=start, global_field=field_in.global_field)


def _resize(field_in: Field, out_size: tuple[int, int], interpolation: str) -> Field:
    """Up- or down-sampling by ``out / in`` with half-pixel centres.

    Output unit ``i`` sits at input-unit coordinate ``(i + 0.5) * in / out - 0.5``;
    bilinear interpolation reads the two neighbouring units, nearest one.
    """
    rf, jump, start = [], [], []
    for axis in (0, 1):
        n, out = field_in.size[axis], out_size[axis]
        scale = n / out
        jump.append(field_in.jump[axis] * scale)
        start.append(field_in.start[axis] + (0.5 * scale - 0.5) * field_in.jump[axis])
        extra = field_in.jump[axis] if (interpolation != "nearest" and n > 1) else 0.0
        rf.append(field_in.receptive_field[axis] + extra)
    return Field(size=out_size, receptive_field=tuple(rf), jump=tuple(jump), start=tuple(start),
                 global_field=field_in.global_field)


def _merge(fields: Sequence[Field], out_size: tuple[int, int], name: str) -> Field:
    """Add / Concatenate / Multiply: the union of the inputs' fields.

    Residual branches usually see the same field, but when they do not (a
    shortcut with a 1x1 convolution next to a 3x3 path) the larger one wins.
    """
    rf, start = [], []
    for axis in (0, 1):
        jumps = {round(f.jump[axis], 6) for f in fields}
        if len(jumps) > 1:
            raise ModelError(
                f"Layer {name!r} merges feature maps with different strides ({sorted(jumps)} input pixels); "
                "the receptive-field analysis needs aligned inputs.")
        low = min(f.start[axis] - (f.receptive_field[axis] - 1) / 2 for f in fields)
        high = max(f.start[axis] + (f.receptive_field[axis] - 1) / 2 for f in fields)
        rf.append(high - low + 1)
        start.append((high + low) / 2)
    return Field(size=out_size, receptive_field=tuple(rf), jump=fields[0].jump, start=tuple(start),
                 global_field=any(f.global_field for f in fields))


def _spatial_size(tensor) -> tuple[int, int] | None:
    shape = tuple(tensor.shape)
    if len(shape) != 4:
        return None
    height, width = shape[1], shape[2]
    if height is None or width is None:
        raise ModelError("The receptive-field analysis needs a model with a fixed input size. "
                         f"Received a feature map of shape {shape}.")
    return (int(height), int(width))


def _layer_rule(operation, in_fields: list[Field], out_size: tuple[int, int] | None):
    """Apply the rule for ``operation``; return ``(field, row details)``."""
    from seglib._tf import keras

    layers = keras.layers
    main = in_fields[0]
    size = out_size or (1, 1)
    details: dict[str, Any] = {}
    conv_types = (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)
    if isinstance(operation, layers.Conv2DTranspose):
        details["note"] = "transposed convolution: treated as an upsampling"
        return _resize(main, size, "bilinear"), details
    if isinstance(operation, conv_types):
        kernel, stride, dilation = (as_pair(operation.kernel_size), as_pair(operation.strides),
                                    as_pair(operation.dilation_rate))
        details.update(kernel_size=kernel[0], stride=stride[0], dilation=dilation[0],
                       effective_kernel=dilation[0] * (kernel[0] - 1) + 1)
        return _sliding(main, size, kernel, stride, dilation, operation.padding), details
    if isinstance(operation, (layers.MaxPooling2D, layers.AveragePooling2D)):
        kernel, stride = as_pair(operation.pool_size), as_pair(operation.strides)
        details.update(kernel_size=kernel[0], stride=stride[0], dilation=1, effective_kernel=kernel[0])
        return _sliding(main, size, kernel, stride, (1, 1), operation.padding), details
    if isinstance(operation, (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D)):
        details.update(kernel_size=main.size[0], stride=main.size[0], dilation=1, effective_kernel=main.size[0])
        return _global_pool(main), details
    if isinstance(operation, layers.ZeroPadding2D):
        padding = operation.padding
        return _shift(main, size, (int(padding[0][0]), int(padding[1][0])), -1), details
    if isinstance(operation, layers.Cropping2D):
        cropping = operation.cropping
        return _shift(main, size, (int(cropping[0][0]), int(cropping[1][0])), +1), details
    if isinstance(operation, layers.UpSampling2D):
        return _resize(main, size, operation.interpolation), details
    if isinstance(operation, layers.Resizing):
        return _resize(main, size, operation.interpolation), details
    if len(in_fields) > 1:
        return _merge(in_fields, size, operation.name), details
    if out_size is None or out_size == main.size:
        # Elementwise: BatchNormalization, activations, Rescaling, Dropout,
        # preprocessing layers, Reshape to (1, 1, C) after a global pooling...
        return Field(size=size, receptive_field=main.receptive_field, jump=main.jump, start=main.start,
                     global_field=main.global_field), details
    if out_size[0] > main.size[0] and out_size[1] >= main.size[1]:
        details["note"] = "unknown layer that enlarges the map: treated as a bilinear resize"
        return _resize(main, size, "bilinear"), details
    raise ModelError(
        f"Cannot follow the receptive field through layer {operation.name!r} "
        f"({type(operation).__name__}): it changes the feature map from {main.size} to {out_size} "
        "and is not a known convolution, pooling, padding or resize layer.")


# ---------------------------------------------------------------------------
# Walking the functional graph
# ---------------------------------------------------------------------------

def _walk(model, input_fields: list[Field], rows: list[LayerField], prefix: str = "",
          tensors: dict[int, Field] | None = None) -> tuple[list[Field | None], dict[int, Field]]:
    """Propagate fields through ``model``'s graph in topological order.

    Mirrors Keras's own ``Function._run_through_graph``: nodes by decreasing
    depth, each computed once all its input tensors are known. Returns the
    fields of the model's outputs and the map ``id(tensor) -> Field``.
    """
    tensors = {} if tensors is None else tensors
    for tensor, input_field in zip(model.inputs, input_fields):
        tensors[id(tensor)] = input_field
    calls: dict[int, int] = {}
    for node in keras_internals.graph_nodes(model):  # the graph Keras itself runs, in its order
        operation = node.operation
        inputs = [tensors.get(id(t)) for t in node.input_tensors]
        if any(f is None for f in inputs) or not inputs:
            continue
        calls[id(operation)] = calls.get(id(operation), 0) + 1
        name = prefix + operation.name
        if calls[id(operation)] > 1:
            name += f"#{calls[id(operation)]}"
        if keras_internals.is_functional(operation):
            outputs, _ = _walk(operation, inputs, rows, prefix=name + "/")
            for tensor, out_field in zip(node.output_tensors, outputs):
                if out_field is not None:
                    tensors[id(tensor)] = out_field
            continue
        for tensor in node.output_tensors:
            out_size = _spatial_size(tensor)
            out_field, details = _layer_rule(operation, inputs, out_size)
            tensors[id(tensor)] = out_field
            rows.append(LayerField(
                name=name, class_name=type(operation).__name__,
                output_size=out_field.size,
                kernel_size=details.get("kernel_size"), stride=details.get("stride"),
                dilation=details.get("dilation"), effective_kernel=details.get("effective_kernel"),
                jump=plain_number(out_field.jump[0]), receptive_field=plain_number(out_field.receptive_field[0]),
                start=plain_number(out_field.start[0]), global_field=out_field.global_field,
                note=details.get("note", ""), field=out_field))
    return [tensors.get(id(t)) for t in model.outputs], tensors


def model_input_size(model) -> tuple[int, int]:
    """``(height, width)`` of a model's one fixed-size image input (``ModelError`` otherwise)."""
    if len(model.inputs) != 1:
        raise ModelError(f"The receptive-field analysis needs a model with one image input. "
                         f"Received: {len(model.inputs)} inputs.")
    size = _spatial_size(model.inputs[0])
    if size is None:
        raise ModelError("The model's input is not an image (batch, height, width, channels). "
                         f"Received shape {tuple(model.inputs[0].shape)}.")
    return size


def trace_fields(model) -> tuple[list[LayerField], dict[int, Field]]:
    """``layer_fields`` and the map ``id(tensor) -> Field`` of every tensor of the graph."""
    if not keras_internals.is_functional(model):
        raise ModelError("The receptive-field analysis needs a functional Keras model "
                         f"(keras.Model(inputs, outputs)). Received: {type(model).__name__}.")
    rows: list[LayerField] = []
    _, tensors = _walk(model, [_input_field(model_input_size(model))], rows)
    return rows, tensors


def layer_fields(model) -> list[LayerField]:
    """The receptive field after every layer of a functional Keras model.

    Args:
        model: a functional ``keras.Model`` with one fixed-size image input
            (any model ``seglib.model.deeplab.build_model`` returns, or a hand-built one).

    Returns:
        One ``LayerField`` per layer call, in the order Keras runs them. Layers
        that do not move the field (BatchNorm, activations) are included, so
        the rows line up with the model's layer table.
    """
    return trace_fields(model)[0]


# ---------------------------------------------------------------------------
# Layer by layer against depth (the Model page's table and plot)
# ---------------------------------------------------------------------------

#: What ``depth_profile`` measures, by name: the page's text says these words, and the table's
#: columns and the plot's axes are these words with their unit.
FIELD_NAME = "receptive field"
STRIDE_NAME = "stride"
DEPTH_COLUMN = "depth"
FIELD_COLUMN = f"{FIELD_NAME} (px)"
STRIDE_COLUMN = f"{STRIDE_NAME} (px)"
WHOLE_IMAGE_COLUMN = "every input pixel"
#: Layers without a kernel that still move the field: resizes, and merges (the union of their inputs).
FIELD_LAYER_TYPES = ("UpSampling2D", "Resizing", "Conv2DTranspose", "Add", "Concatenate", "Multiply",
                     "Average", "Maximum")


def depth_profile(rows: Sequence[LayerField]):
    """The layers of ``layer_fields`` that move the receptive field, numbered by depth.

    Kept: convolutions and poolings (a kernel), resizes and merges. Left out:
    layers that leave every unit where it looks (BatchNorm, activations,
    padding), so depth counts the steps that change the field. Depth follows
    the order Keras runs the layers; parallel branches (the ASPP's) take
    consecutive depths.

    Returns a ``pandas.DataFrame`` with the columns ``DEPTH_COLUMN``, ``layer``,
    ``type``, ``FIELD_COLUMN`` (rows axis, input pixels), ``STRIDE_COLUMN``
    (distance in input pixels between neighbouring units: the jump),
    ``output`` ('rows × columns' units) and ``WHOLE_IMAGE_COLUMN`` (True once an
    image pooling feeds the layer: every unit then depends on every input pixel).
    """
    import pandas as pd

    kept = [row for row in rows if row.kernel_size is not None or row.class_name in FIELD_LAYER_TYPES]
    return pd.DataFrame({
        DEPTH_COLUMN: range(1, len(kept) + 1),
        "layer": [row.name for row in kept],
        "type": [row.class_name for row in kept],
        FIELD_COLUMN: [plain_number(row.receptive_field) for row in kept],
        STRIDE_COLUMN: [plain_number(row.jump) for row in kept],
        "output": [f"{row.output_size[0]} × {row.output_size[1]}" for row in kept],
        WHOLE_IMAGE_COLUMN: [bool(row.global_field) for row in kept],
    })


def profile_facts(profile, input_size: int) -> dict[str, Any]:
    """What a sentence about ``depth_profile(...)`` of a model with ``input_size`` px inputs needs.

    ``covers``: the first row whose field is at least the input size (a unit then
    sees as far as the image is wide), or None; ``widest``: the row with the
    largest field; ``coarsest``: the first row at the largest stride of a map of
    more than one unit (an image pooling's single unit is as far from its
    neighbours as the map is wide, which says nothing about the others);
    ``whole``: the first row fed by an image pooling, or None; ``last``: the
    last row (``layers`` rows in all). Each row is a dict of the profile's columns.
    """
    if not len(profile):
        raise ModelError("The model has no convolution, pooling or resize layer: there is no receptive field "
                         "to follow.")
    records = profile.to_dict("records")

    def first(condition):
        return next((row for row in records if condition(row)), None)

    widest = max(records, key=lambda row: row[FIELD_COLUMN])
    maps = [row for row in records if row["output"] != "1 × 1"] or records
    top_stride = max(row[STRIDE_COLUMN] for row in maps)
    return {"input_size": int(input_size), "layers": len(records),
            "covers": first(lambda row: row[FIELD_COLUMN] >= input_size),
            "widest": widest, "coarsest": next(row for row in maps if row[STRIDE_COLUMN] == top_stride),
            "whole": first(lambda row: row[WHOLE_IMAGE_COLUMN]), "last": records[-1]}


def profile_sentence(name: str, profile, input_size: int) -> str:
    """One Markdown sentence on how the field of model ``name`` grows, computed from its profile."""
    facts = profile_facts(profile, input_size)
    coarsest, last = facts["coarsest"], facts["last"]
    text = (f"**{name}** ({input_size} px input, {facts['layers']} layers that move the field): the "
            f"{STRIDE_NAME} reaches {coarsest[STRIDE_COLUMN]:g} px at depth {coarsest[DEPTH_COLUMN]} "
            f"(`{coarsest['layer']}`)")
    if facts["covers"] is not None:
        covers = facts["covers"]
        text += (f"; the {FIELD_NAME} reaches the input size at depth {covers[DEPTH_COLUMN]} "
                 f"(`{covers['layer']}`, {covers[FIELD_COLUMN]:g} px)")
    else:
        text += (f"; the {FIELD_NAME} stays below the input size (at most {facts['widest'][FIELD_COLUMN]:g} px "
                 f"of {input_size})")
    if facts["whole"] is not None:
        text += (f"; from depth {facts['whole'][DEPTH_COLUMN]} (`{facts['whole']['layer']}`) the image pooling "
                 "feeds every unit, so each one depends on every input pixel")
    return text + (f"; the last layer, `{last['layer']}`, has a {STRIDE_NAME} of {last[STRIDE_COLUMN]:g} px "
                   f"and a {FIELD_NAME} of {last[FIELD_COLUMN]:g} px.")

