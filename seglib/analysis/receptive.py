"""Receptive fields, atrous sampling grids and effective receptive fields.

DeepLab handles scale with atrous (dilated) convolutions: each ASPP branch has
its own 3x3 kernel (the size is shared, the weights are not) that reads
feature-map positions ``rate`` units apart, so at output stride 16 the
branches at rates 6, 12 and 18 sample the input image 96, 192 and 288 pixels
apart. This module measures that on the model itself, never from
constants, so changing the backbone, the rates or the image size shows at once:

* ``layer_fields(model)`` walks the Keras functional graph (residual branches
  included) and returns, for every layer, its kernel, stride, dilation,
  effective kernel ``d * (k - 1) + 1``, the *jump* (distance in input pixels
  between neighbouring output units), the theoretical receptive field and the
  *start* (input-pixel centre of the first output unit's field).
* ``aspp_analysis(model)`` finds the ASPP input (the tensor the atrous
  convolutions read) and every branch: rate, spacing of its taps in input
  pixels, receptive field, and how many of the 3x3 taps fall on real feature
  map positions rather than on zero padding (``valid_tap_stats``; the
  DeepLab v3 paper's figure 4).
* ``sampling_grid(analysis, point)`` gives the input-pixel positions that
  each branch's kernel reads for the output position nearest ``point``.
* ``effective_receptive_field(model, image, pixel)`` is the gradient magnitude
  of one output logit with respect to the input image (Luo et al., 2016): the
  part of the theoretical field that actually matters.

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

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from seglib.errors import ModelError

__all__ = [
    "Field",
    "LayerField",
    "AsppBranch",
    "AsppAnalysis",
    "Tap",
    "ErfResult",
    "layer_fields",
    "aspp_analysis",
    "valid_tap_stats",
    "valid_tap_curve",
    "sampling_grid",
    "branch_rows",
    "stack_receptive_field",
    "dilated_stack_coverage",
    "effective_receptive_field",
    "untrained_copy",
    "mass_extent",
    "nonzero_extent",
    "analysis_summary",
    "register",
]


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
        row["jump"] = _number(self.jump)
        row["receptive_field"] = _number(self.receptive_field)
        row["start"] = _number(self.start)
        return row


def _number(value: float) -> float | int:
    """Integers stay integers in tables and JSON (16, not 16.0)."""
    return int(value) if float(value).is_integer() else round(float(value), 4)


# ---------------------------------------------------------------------------
# Per-layer rules
# ---------------------------------------------------------------------------

def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return (int(value[0]), int(value[1])) if len(value) >= 2 else (int(value[0]), int(value[0]))
    return (int(value), int(value))


def _sliding(field_in: Field, out_size: tuple[int, int], kernel, stride, dilation, padding: str) -> Field:
    """A convolution or pooling window: ``rf += (k_eff - 1) * jump``; ``jump *= stride``.

    With 'same' padding TensorFlow pads ``max((out - 1) * s + k_eff - n, 0)``
    in total, the smaller half before; that shifts where the first window sits.
    """
    kernel, stride, dilation = _pair(kernel), _pair(stride), _pair(dilation)
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
    conv_types = tuple(t for t in (getattr(layers, "Conv2D", None), getattr(layers, "DepthwiseConv2D", None),
                                   getattr(layers, "SeparableConv2D", None)) if t is not None)
    if isinstance(operation, getattr(layers, "Conv2DTranspose", ())):
        details["note"] = "transposed convolution: treated as an upsampling"
        return _resize(main, size, "bilinear"), details
    if isinstance(operation, conv_types):
        kernel, stride, dilation = (_pair(operation.kernel_size), _pair(operation.strides),
                                    _pair(operation.dilation_rate))
        details.update(kernel_size=kernel[0], stride=stride[0], dilation=dilation[0],
                       effective_kernel=dilation[0] * (kernel[0] - 1) + 1)
        return _sliding(main, size, kernel, stride, dilation, operation.padding), details
    if isinstance(operation, (layers.MaxPooling2D, layers.AveragePooling2D)):
        kernel, stride = _pair(operation.pool_size), _pair(operation.strides)
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

def _is_functional(operation) -> bool:
    return hasattr(operation, "_nodes_by_depth") and hasattr(operation, "inputs")


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
    nodes_by_depth = model._nodes_by_depth  # the graph Keras itself runs
    calls: dict[int, int] = {}
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            operation = node.operation
            if operation is None or node.is_input:
                continue
            inputs = [tensors.get(id(t)) for t in node.input_tensors]
            if any(f is None for f in inputs) or not inputs:
                continue
            calls[id(operation)] = calls.get(id(operation), 0) + 1
            name = prefix + operation.name
            if calls[id(operation)] > 1:
                name += f"#{calls[id(operation)]}"
            if _is_functional(operation):
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
                    jump=_number(out_field.jump[0]), receptive_field=_number(out_field.receptive_field[0]),
                    start=_number(out_field.start[0]), global_field=out_field.global_field,
                    note=details.get("note", ""), field=out_field))
    return [tensors.get(id(t)) for t in model.outputs], tensors


def _model_input_size(model) -> tuple[int, int]:
    if len(model.inputs) != 1:
        raise ModelError(f"The receptive-field analysis needs a model with one image input. "
                         f"Received: {len(model.inputs)} inputs.")
    size = _spatial_size(model.inputs[0])
    if size is None:
        raise ModelError("The model's input is not an image (batch, height, width, channels). "
                         f"Received shape {tuple(model.inputs[0].shape)}.")
    return size


def _trace(model) -> tuple[list[LayerField], dict[int, Field]]:
    if not _is_functional(model):
        raise ModelError("The receptive-field analysis needs a functional Keras model "
                         f"(keras.Model(inputs, outputs)). Received: {type(model).__name__}.")
    rows: list[LayerField] = []
    _, tensors = _walk(model, [_input_field(_model_input_size(model))], rows)
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
    return _trace(model)[0]


# ---------------------------------------------------------------------------
# Valid taps (the DeepLab v3 paper, figure 4)
# ---------------------------------------------------------------------------

def _axis_counts(size: int, rate: int, kernel_size: int) -> np.ndarray:
    """For each position on an axis of ``size`` units: how many of the kernel's
    taps along that axis land inside the map ('same' padding, stride 1)."""
    positions = np.arange(size)[:, None]
    offsets = (np.arange(kernel_size) - (kernel_size - 1) // 2)[None, :] * rate
    taps = positions + offsets
    return ((taps >= 0) & (taps < size)).sum(axis=1)


def valid_tap_stats(feature_size: int | Sequence[int], rate: int, kernel_size: int = 3) -> dict[str, Any]:
    """How many of a dilated kernel's taps read real features rather than padding.

    With 'same' padding a 3x3 kernel at rate ``r`` on an ``n x n`` map reads
    zeros wherever ``position +- r`` falls outside the map. When ``r >= n`` only
    the centre tap is ever valid and the kernel degenerates to a 1x1 filter
    (Chen et al., 2017, "Rethinking Atrous Convolution", figure 4).

    Args:
        feature_size: the map's size ``n`` or ``(rows, columns)``.
        rate: the dilation rate.
        kernel_size: the kernel's size (3 for ASPP).

    Returns:
        A dict with ``valid_tap_fraction`` (mean over positions of valid taps /
        all taps), ``all_valid_fraction`` (positions where every tap is valid),
        ``center_only_fraction`` (positions where the kernel acts as 1x1), and
        ``histogram`` {number of valid taps: fraction of positions}.

    >>> valid_tap_stats(8, 12)["center_only_fraction"]
    1.0
    """
    rows, columns = _pair(feature_size)
    if rows < 1 or columns < 1:
        raise ValueError(f"feature_size must be positive. Received: feature_size={feature_size!r}")
    if int(rate) < 1:
        raise ValueError(f"rate must be a positive integer. Received: rate={rate!r}")
    if int(kernel_size) < 1:
        raise ValueError(f"kernel_size must be a positive integer. Received: kernel_size={kernel_size!r}")
    count_rows = _axis_counts(rows, int(rate), int(kernel_size))
    count_columns = _axis_counts(columns, int(rate), int(kernel_size))
    per_position = np.outer(count_rows, count_columns)
    total = kernel_size * kernel_size
    values, counts = np.unique(per_position, return_counts=True)
    return {
        "feature_size": [rows, columns],
        "rate": int(rate),
        "kernel_size": int(kernel_size),
        "valid_tap_fraction": float(per_position.mean() / total),
        "all_valid_fraction": float((per_position == total).mean()),
        "center_only_fraction": float((per_position == 1).mean()),
        "histogram": {int(v): float(c / per_position.size) for v, c in zip(values, counts)},
    }


def valid_tap_curve(feature_size: int | Sequence[int], rates: Sequence[int] | None = None,
                    kernel_size: int = 3) -> list[dict[str, Any]]:
    """``valid_tap_stats`` for a range of rates (for a plot against the rate).

    Default rates: 1 up to a little past the map size, so the curve shows the
    kernel reaching pure 1x1.
    """
    rows, columns = _pair(feature_size)
    if rates is None:
        rates = range(1, max(rows, columns) + 3)
    return [valid_tap_stats((rows, columns), rate, kernel_size) for rate in rates]


# ---------------------------------------------------------------------------
# The ASPP block
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class AsppBranch:
    """One ASPP branch as the input image sees it.

    ``kind`` is ``'image_pooling'`` (average over the whole map) or ``'conv'``;
    ``rate`` is the dilation of the branch's widest convolution (1 for the 1x1
    branch, None for image pooling); ``spacing_px`` the distance between
    neighbouring taps in input pixels (rate x the ASPP input's stride).
    """

    name: str
    label: str
    kind: str
    rate: int | None
    kernel_size: int
    effective_kernel: int
    spacing_px: float | None
    receptive_field_px: float
    whole_image: bool
    valid_tap_fraction: float
    all_valid_fraction: float
    center_only_fraction: float | None
    layers: tuple[str, ...] = ()
    field: Field | None = None

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("field")
        row["layers"] = list(self.layers)
        row["spacing_px"] = None if self.spacing_px is None else _number(self.spacing_px)
        row["receptive_field_px"] = _number(self.receptive_field_px)
        for key in ("valid_tap_fraction", "all_valid_fraction", "center_only_fraction"):
            row[key] = None if row[key] is None else round(row[key], 4)
        return row


@dataclass(frozen=True)
class AsppAnalysis:
    """The ASPP input and branches of one model at its input size."""

    image_size: tuple[int, int]
    input_layer: str
    field: Field
    branches: tuple[AsppBranch, ...]

    @property
    def stride(self) -> float:
        """Output stride of the backbone at the ASPP input (16 for DeepLabV3+ here)."""
        return self.field.jump[0]

    @property
    def receptive_field(self) -> float:
        """Theoretical receptive field of one ASPP-input unit, in input pixels."""
        return self.field.receptive_field[0]

    @property
    def feature_size(self) -> tuple[int, int]:
        return self.field.size

    def branch(self, name: str) -> AsppBranch:
        for branch in self.branches:
            if name in (branch.name, branch.label):
                return branch
        raise KeyError(f"No ASPP branch {name!r}. Branches: {', '.join(b.name for b in self.branches)}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_size": list(self.image_size),
            "aspp_input": {
                "layer": self.input_layer,
                "stride": _number(self.stride),
                "feature_size": list(self.feature_size),
                "receptive_field_px": _number(self.receptive_field),
                "start_px": _number(self.field.start[0]),
            },
            "branches": [b.to_dict() for b in self.branches],
        }


def _graph_nodes(model) -> list:
    """Every node of ``model``'s graph (depth order, inputs first)."""
    nodes_by_depth = model._nodes_by_depth
    return [n for d in sorted(nodes_by_depth, reverse=True) for n in nodes_by_depth[d]
            if n.operation is not None and not n.is_input]


def _is_atrous(operation) -> bool:
    from seglib._tf import keras

    layers = keras.layers
    conv_types = (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)
    if not isinstance(operation, conv_types):
        return False
    return max(_pair(operation.dilation_rate)) > 1 and max(_pair(operation.kernel_size)) > 1


def _find_aspp_input(model, nodes) -> tuple[Any, str]:
    """The tensor the atrous convolutions read (and the layer that made it)."""
    candidates: dict[int, tuple[Any, int]] = {}
    for node in nodes:
        if _is_atrous(node.operation) and node.input_tensors:
            tensor = node.input_tensors[0]
            previous = candidates.get(id(tensor), (tensor, 0))
            candidates[id(tensor)] = (tensor, previous[1] + 1)
    if not candidates:
        # No dilated convolution (e.g. every rate set to 1): fall back on names.
        for node in nodes:
            if node.operation.name.startswith("aspp_") and node.input_tensors:
                tensor = node.input_tensors[0]
                candidates[id(tensor)] = (tensor, 1)
                break
    if not candidates:
        raise ModelError("This model has no ASPP block: no dilated convolution and no layer named "
                         "'aspp_...' was found.")
    tensor = max(candidates.values(), key=lambda item: item[1])[0]
    history = getattr(tensor, "_keras_history", None)
    producer = history[0].name if history else "input"
    return tensor, producer


def _branch_label(kind: str, rate: int | None, kernel_size: int) -> str:
    if kind == "image_pooling":
        return "image pooling"
    if kernel_size == 1:
        return "1x1 conv"
    return f"{kernel_size}x{kernel_size} rate {rate}"


def aspp_analysis(model) -> AsppAnalysis:
    """Find the ASPP input and describe each ASPP branch in input pixels.

    The ASPP input is the tensor read by the dilated convolutions; each layer
    reading it starts a branch, followed until the tensor that is merged
    (concatenated) with the others. Rates, kernel sizes and the feature map
    size are read from the layers, so the numbers follow the model.

    Raises:
        ModelError: when the model has no ASPP block.
    """
    rows, tensors = _trace(model)
    del rows
    nodes = _graph_nodes(model)
    aspp_tensor, producer = _find_aspp_input(model, nodes)
    aspp_field = tensors[id(aspp_tensor)]
    consumers: dict[int, list] = {}
    for node in nodes:
        for tensor in node.input_tensors:
            consumers.setdefault(id(tensor), []).append(node)

    branches = []
    for first in consumers.get(id(aspp_tensor), []):
        chain = [first]
        node = first
        while True:
            outputs = node.output_tensors
            if len(outputs) != 1:
                break
            readers = consumers.get(id(outputs[0]), [])
            if len(readers) != 1 or len(readers[0].input_tensors) != 1:
                break  # the merge (Concatenate) or a fork: the branch ends here
            node = readers[0]
            chain.append(node)
        end_field = tensors[id(node.output_tensors[0])]
        operations = [n.operation for n in chain]
        convs = [op for op in operations if hasattr(op, "dilation_rate") and hasattr(op, "kernel_size")]
        global_pool = any(
            tensors[id(n.output_tensors[0])].global_field and not aspp_field.global_field for n in chain)
        if global_pool:
            kind, rate, kernel_size = "image_pooling", None, 1
            effective_kernel = aspp_field.size[0]
            spacing = None
            taps = {"valid_tap_fraction": 1.0, "all_valid_fraction": 1.0, "center_only_fraction": None}
        elif convs:
            widest = max(convs, key=lambda op: _pair(op.dilation_rate)[0] * (_pair(op.kernel_size)[0] - 1))
            kernel_size = _pair(widest.kernel_size)[0]
            rate = _pair(widest.dilation_rate)[0]
            kind = "conv"
            effective_kernel = rate * (kernel_size - 1) + 1
            spacing = rate * aspp_field.jump[0]
            taps = valid_tap_stats(aspp_field.size, rate, kernel_size)
            if kernel_size == 1:
                taps["center_only_fraction"] = None  # a 1x1 kernel is 1x1 by design, not degenerate
        else:
            continue  # not a branch (e.g. a layer that only reshapes)
        branches.append(AsppBranch(
            name=operations[0].name, label=_branch_label(kind, rate, kernel_size), kind=kind, rate=rate,
            kernel_size=kernel_size, effective_kernel=effective_kernel, spacing_px=spacing,
            receptive_field_px=end_field.receptive_field[0], whole_image=end_field.global_field,
            valid_tap_fraction=taps["valid_tap_fraction"], all_valid_fraction=taps["all_valid_fraction"],
            center_only_fraction=taps["center_only_fraction"],
            layers=tuple(op.name for op in operations), field=end_field))
    if not branches:
        raise ModelError(f"No ASPP branches were found reading {producer!r}.")
    branches.sort(key=lambda b: (b.kind != "image_pooling", b.rate or 0, b.kernel_size))
    return AsppAnalysis(image_size=_model_input_size(model), input_layer=producer, field=aspp_field,
                        branches=tuple(branches))


# ---------------------------------------------------------------------------
# Sampling grid
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Tap:
    """One kernel tap of one branch, in input pixels (row, column)."""

    branch: str
    label: str
    rate: int | None
    row: float
    column: float
    feature_row: int
    feature_column: int
    valid: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sampling_grid(analysis: AsppAnalysis, point: tuple[float, float],
                  branches: Sequence[str] | None = None) -> dict[str, Any]:
    """Where each ASPP branch's kernel reads, for the output position nearest ``point``.

    Args:
        analysis: from ``aspp_analysis``.
        point: ``(row, column)`` in input pixels of the model's input image.
        branches: names or labels of the branches to include (default: all).

    Returns:
        ``{"unit": (row, column) on the ASPP feature map, "center": its field's
        centre in input pixels, "taps": [Tap, ...], "squares": [{branch, label,
        row0, column0, row1, column1, whole_image}, ...]}``. Taps whose feature
        position falls outside the map read zero padding (``valid=False``);
        their pixel positions lie outside the image. ``squares`` are each
        branch's theoretical receptive field around that position.
    """
    field_ = analysis.field
    unit = field_.nearest_unit(point)
    center = field_.center(unit)
    taps: list[Tap] = []
    squares: list[dict[str, Any]] = []
    wanted = None if branches is None else set(branches)
    for branch in analysis.branches:
        if wanted is not None and branch.name not in wanted and branch.label not in wanted:
            continue
        if branch.kind == "conv":
            half = (branch.kernel_size - 1) // 2
            for dr in range(-half, branch.kernel_size - half):
                for dc in range(-half, branch.kernel_size - half):
                    fr, fc = unit[0] + dr * branch.rate, unit[1] + dc * branch.rate
                    row, column = field_.center((fr, fc))
                    taps.append(Tap(branch=branch.name, label=branch.label, rate=branch.rate, row=row,
                                    column=column, feature_row=fr, feature_column=fc,
                                    valid=0 <= fr < field_.size[0] and 0 <= fc < field_.size[1]))
        if branch.whole_image:
            height, width = analysis.image_size
            box = (-0.5, -0.5, height - 0.5, width - 0.5)
        else:
            half_rows = branch.field.receptive_field[0] / 2
            half_columns = branch.field.receptive_field[1] / 2
            box = (center[0] - half_rows, center[1] - half_columns, center[0] + half_rows, center[1] + half_columns)
        squares.append({"branch": branch.name, "label": branch.label, "row0": box[0], "column0": box[1],
                        "row1": box[2], "column1": box[3], "whole_image": branch.whole_image})
    return {"unit": unit, "center": center, "taps": taps, "squares": squares}


def branch_rows(analysis: AsppAnalysis, grid: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One table row per branch, for people: rate, spacing, receptive field,
    valid taps over all positions and (with ``grid``) at the selected one."""
    rows = []
    for branch in analysis.branches:
        row = {
            "branch": branch.label,
            "layer": branch.name,
            "rate": branch.rate,
            "kernel": f"{branch.kernel_size}×{branch.kernel_size}" if branch.kind == "conv" else "whole map",
            "effective kernel (units)": branch.effective_kernel,
            "spacing (px)": None if branch.kind != "conv" else _number(branch.spacing_px),
            # Text, so one column can say "whole image" for image pooling.
            "receptive field (px)": "whole image" if branch.whole_image else f"{branch.receptive_field_px:g}",
            "valid-tap fraction": round(branch.valid_tap_fraction, 3),
            "acts as 1×1 at": None if branch.center_only_fraction is None else round(branch.center_only_fraction, 3),
        }
        if grid is not None:
            taps = [t for t in grid["taps"] if t.branch == branch.name]
            row["valid taps here"] = f"{sum(t.valid for t in taps)} of {len(taps)}" if taps else "all"
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# Stacked dilated convolutions (Yu & Koltun, 2016, figure 1)
# ---------------------------------------------------------------------------

def stack_receptive_field(rates: Sequence[int], kernel_size: int = 3) -> int:
    """Receptive field of stride-1 convolutions stacked with these dilation rates.

    ``1 + sum(r * (k - 1))``: three 3x3 convolutions see 7 pixels, rates
    1, 2, 4 see 15 (doubling rates grow the field exponentially with depth
    while the parameter count grows linearly).
    """
    if kernel_size < 1 or any(int(r) < 1 for r in rates):
        raise ValueError(f"rates and kernel_size must be positive. Received: rates={list(rates)!r}, "
                         f"kernel_size={kernel_size!r}")
    return 1 + sum(int(r) * (kernel_size - 1) for r in rates)


def dilated_stack_coverage(rates: Sequence[int], kernel_size: int = 3) -> np.ndarray:
    """How many paths lead from each input pixel to the centre output unit.

    Stacks ``kernel_size`` x ``kernel_size`` all-ones kernels with the given
    dilations (a full 2D convolution of the dilated kernels). Non-zero cells
    are the receptive field. With equal rates the middle is read through many
    more paths than the rim (why the *effective* field is smaller than the
    theoretical one); with doubling rates the paths spread unevenly over the
    field, and a single dilated kernel leaves holes ("gridding"). The grid is
    ``stack_receptive_field`` wide; ``rates=[]`` gives a single cell.
    """
    from scipy.signal import convolve2d

    coverage = np.ones((1, 1), dtype=np.int64)
    for rate in rates:
        rate = int(rate)
        if rate < 1:
            raise ValueError(f"rates must be positive integers. Received: rates={list(rates)!r}")
        size = rate * (kernel_size - 1) + 1
        kernel = np.zeros((size, size), dtype=np.int64)
        kernel[::rate, ::rate] = 1
        coverage = convolve2d(coverage, kernel, mode="full")
    return coverage


# ---------------------------------------------------------------------------
# Effective receptive field (Luo et al., 2016)
# ---------------------------------------------------------------------------

@dataclass
class ErfResult:
    """Gradient magnitude of one output logit with respect to the input image.

    ``gradient`` is ``(H, W)`` float32, |d logit / d input| summed over the
    colour channels and divided by its maximum (all zeros if the gradient
    vanished). ``pixel`` is ``(row, column)`` in model-input pixels.
    """

    gradient: np.ndarray
    pixel: tuple[int, int]
    class_index: int
    logit: float
    extent_50: int
    extent_90: int
    nonzero_extent: int


def mass_extent(magnitude: np.ndarray, pixel: tuple[int, int], fraction: float) -> int:
    """Side (odd, pixels) of the smallest square centred on ``pixel`` holding
    ``fraction`` of the total gradient mass (0 if the map is all zeros)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]. Received: fraction={fraction!r}")
    magnitude = np.asarray(magnitude, dtype=np.float64)
    total = magnitude.sum()
    if total <= 0:
        return 0
    height, width = magnitude.shape
    row, column = pixel
    integral = np.pad(magnitude.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    for radius in range(0, max(height, width) + 1):
        r0, r1 = max(row - radius, 0), min(row + radius + 1, height)
        c0, c1 = max(column - radius, 0), min(column + radius + 1, width)
        inside = integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]
        if inside >= fraction * total - 1e-12 * total:
            return 2 * radius + 1
    return 2 * max(height, width) + 1


def nonzero_extent(magnitude: np.ndarray, threshold: float = 0.0) -> tuple[int, int]:
    """(rows, columns) of the bounding box of cells above ``threshold``."""
    rows, columns = np.nonzero(np.asarray(magnitude) > threshold)
    if rows.size == 0:
        return (0, 0)
    return (int(rows.max() - rows.min() + 1), int(columns.max() - columns.min() + 1))


def _resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3:
        raise ValueError(f"image must be (H, W) or (H, W, C). Received: shape={image.shape}")
    image = image.astype(np.float32)
    if image.shape[:2] != tuple(size):
        import cv2

        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        if image.ndim == 2:
            image = image[..., None]
    return image


def effective_receptive_field(model, image: np.ndarray, pixel: tuple[int, int],
                              class_index: int | None = None) -> ErfResult:
    """The effective receptive field of one output logit (Luo et al., 2016).

    Args:
        model: a Keras model mapping 0..255 images to logits ``(1, H, W, C)``.
        image: the input picture, any size (resized bilinearly to the model's
            input size), uint8 or float in 0..255.
        pixel: ``(row, column)`` of the output position, in model-input pixels.
        class_index: which logit; default the argmax class at that pixel.

    Returns:
        ``ErfResult``; its ``extent_50`` / ``extent_90`` are the sides of the
        centred squares holding 50 % / 90 % of the gradient mass, to compare
        with the theoretical receptive field.
    """
    from seglib._tf import tf

    size = _model_input_size(model)
    row, column = int(pixel[0]), int(pixel[1])
    if not (0 <= row < size[0] and 0 <= column < size[1]):
        raise ValueError(f"pixel must lie inside the {size[0]}x{size[1]} model input. "
                         f"Received: pixel={tuple(pixel)!r}")
    batch = tf.convert_to_tensor(_resize_image(image, size)[None], dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(batch)
        logits = model(batch, training=False)
        if isinstance(logits, (list, tuple)):
            logits = logits[0]
        scores = tf.cast(logits[0, row, column], tf.float32)
        chosen = int(tf.argmax(scores)) if class_index is None else int(class_index)
        if not 0 <= chosen < int(scores.shape[-1]):
            raise ValueError(f"class_index must be in [0, {int(scores.shape[-1]) - 1}]. "
                             f"Received: class_index={class_index!r}")
        target = scores[chosen]
    gradient = tape.gradient(target, batch)
    magnitude = np.zeros(size, dtype=np.float32) if gradient is None else \
        np.abs(gradient.numpy()[0]).sum(axis=-1).astype(np.float32)
    peak = float(magnitude.max())
    normalised = magnitude / peak if peak > 0 else magnitude
    return ErfResult(
        gradient=normalised, pixel=(row, column), class_index=chosen, logit=float(target.numpy()),
        extent_50=mass_extent(magnitude, (row, column), 0.5),
        extent_90=mass_extent(magnitude, (row, column), 0.9),
        nonzero_extent=max(nonzero_extent(magnitude)))


def untrained_copy(model, seed: int = 0):
    """The same architecture with fresh, seeded random weights.

    ``keras.models.clone_model`` rebuilds every layer from its config and runs
    the initializers again (BatchNorm statistics back to 0 / 1), so the
    difference between the two effective fields is what training learned.
    """
    from seglib._tf import keras

    keras.utils.set_random_seed(int(seed))
    try:
        return keras.models.clone_model(model)
    except Exception as error:  # a layer without get_config, say
        raise ModelError(f"Cannot rebuild the model with random weights: {error}") from error


# ---------------------------------------------------------------------------
# Summary and CLI
# ---------------------------------------------------------------------------

def analysis_summary(model, model_config=None) -> dict[str, Any]:
    """Everything the CLI prints: the ASPP input and, per branch, rate,
    effective kernel, spacing, receptive field and valid-tap fractions."""
    analysis = aspp_analysis(model)
    summary: dict[str, Any] = {}
    if model_config is not None:
        summary.update(backbone=model_config.backbone, atrous_rates=list(model_config.atrous_rates))
    summary.update(analysis.to_dict())
    return summary


def _format_table(summary: dict[str, Any]) -> str:
    aspp = summary["aspp_input"]
    size = summary["image_size"]
    lines = [
        f"Input {size[0]}x{size[1]} px; ASPP input {aspp['layer']!r}: {aspp['feature_size'][0]}x"
        f"{aspp['feature_size'][1]} map, stride {aspp['stride']} px, receptive field "
        f"{aspp['receptive_field_px']} px",
        "",
        f"{'branch':<16} {'layer':<18} {'rate':>4} {'eff. kernel':>11} {'spacing px':>10} "
        f"{'RF px':>8} {'valid taps':>10} {'1x1 only':>8}",
    ]
    for b in summary["branches"]:
        rf = f"{b['receptive_field_px']}" + (" (all)" if b["whole_image"] else "")
        lines.append(
            f"{b['label']:<16} {b['name']:<18} {b['rate'] if b['rate'] is not None else '-':>4} "
            f"{b['effective_kernel']:>11} {b['spacing_px'] if b['spacing_px'] is not None else '-':>10} "
            f"{rf:>8} {b['valid_tap_fraction']:>10.3f} {_optional(b['center_only_fraction']):>8}")
    return "\n".join(lines)


def _optional(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _command(args) -> int:
    import json

    from seglib.config import get_preset

    try:
        config = get_preset(args.preset)
    except KeyError as error:
        from seglib.errors import ConfigError

        raise ConfigError(str(error.args[0])) from None
    if args.image_size is not None:
        config = config.with_overrides({"model.image_size": args.image_size})
    if args.model:
        from seglib.model.deeplab import load_model

        model = load_model(args.model)
        model_config = None
    else:
        from seglib.model.deeplab import build_model

        model = build_model(config.model)
        model_config = config.model
    summary = analysis_summary(model, model_config)
    summary = {"preset": config.preset if not args.model else None, **summary}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(_format_table(summary))
    return 0


def register(subparsers) -> None:
    """Add ``python -m seglib receptive``."""
    from seglib.config import preset_names

    parser = subparsers.add_parser(
        "receptive", help="receptive fields and atrous sampling of the ASPP branches",
        description="Per ASPP branch: rate, effective kernel, tap spacing and receptive field in input "
                    "pixels, and the fraction of taps that read real features rather than padding; "
                    "plus the backbone's stride and receptive field at the ASPP input.")
    parser.add_argument("--preset", default="lecture", choices=preset_names())
    parser.add_argument("--image-size", type=int, default=None, help="override the preset's input size")
    parser.add_argument("--model", default=None, help="analyse a saved .keras model instead of a preset")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=_command)
