"""The ASPP block as the input image sees it (``python -m seglib receptive`` prints it).

DeepLab handles scale with atrous (dilated) convolutions: each ASPP branch has
its own 3x3 kernel (the size is shared, the weights are not) that reads
feature-map positions ``rate`` units apart, so at output stride 16 the
branches at rates 6, 12 and 18 sample the input image 96, 192 and 288 pixels
apart. This module measures that on the model itself:

* ``aspp_analysis(model)`` finds the ASPP input (the tensor the atrous
  convolutions read) and every branch: rate, spacing of its taps in input
  pixels, receptive field, and how many of the 3x3 taps fall on real feature
  map positions rather than on zero padding (``seglib.analysis.dilation``).
* ``sampling_grid(analysis, point)`` gives the input-pixel positions that
  each branch's kernel reads for the output position nearest ``point``.
* ``branch_rows`` and ``analysis_summary`` are the same as tables;
  ``format_summary`` turns the summary into a text table.

Coordinates are those of ``seglib.analysis.fields``: ``(row, column)`` in
pixels of the model's input image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from seglib.analysis.dilation import valid_tap_stats
from seglib.analysis.fields import Field, as_pair, model_input_size, plain_number, trace_fields
from seglib import keras_internals
from seglib.errors import ModelError

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
        row["spacing_px"] = None if self.spacing_px is None else plain_number(self.spacing_px)
        row["receptive_field_px"] = plain_number(self.receptive_field_px)
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
                "stride": plain_number(self.stride),
                "feature_size": list(self.feature_size),
                "receptive_field_px": plain_number(self.receptive_field),
                "start_px": plain_number(self.field.start[0]),
            },
            "branches": [b.to_dict() for b in self.branches],
        }


def _is_atrous(operation) -> bool:
    from seglib._tf import keras

    layers = keras.layers
    conv_types = (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)
    if not isinstance(operation, conv_types):
        return False
    return max(as_pair(operation.dilation_rate)) > 1 and max(as_pair(operation.kernel_size)) > 1


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
    layer = keras_internals.producer(tensor)
    return tensor, layer.name if layer is not None else "input"


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
    _, tensors = trace_fields(model)
    nodes = keras_internals.graph_nodes(model)
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
            widest = max(convs, key=lambda op: as_pair(op.dilation_rate)[0] * (as_pair(op.kernel_size)[0] - 1))
            kernel_size = as_pair(widest.kernel_size)[0]
            rate = as_pair(widest.dilation_rate)[0]
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
    return AsppAnalysis(image_size=model_input_size(model), input_layer=producer, field=aspp_field,
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


#: The headings the Atrous scales page gives the columns of ``branch_rows`` (short, for a narrow table);
#: the lab's hints name a column by its heading here, so a hint and the page cannot disagree.
BRANCH_HEADINGS = {"spacing (px)": "spacing (px)", "receptive field (px)": "receptive field (px)",
                   "valid-tap fraction": "valid taps", "acts as 1×1 at": "1×1 at", "valid taps here": "here"}


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
            "spacing (px)": None if branch.kind != "conv" else plain_number(branch.spacing_px),
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


def format_summary(summary: dict[str, Any]) -> str:
    """``analysis_summary`` as a plain-text table: the ASPP input, then one row per branch."""
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

