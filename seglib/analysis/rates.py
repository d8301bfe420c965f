"""What a model's atrous rates do at its input size, in numbers and in the sentences the Atrous page
shows beside them: the column that sets a model beside the Keras example, which rates read only the
centre tap, and at which input size they would.

Everything but the receptive fields follows from the input size, the output stride and the rates
(``seglib.analysis.dilation.valid_tap_stats``); the fields are read from a model's layers
(``seglib.analysis.aspp``).

>>> collapse_hint([2, 4, 6], 16, 160, [64, 96, 128], fixed_size=False)
'At 96 px (a 6 × 6 map) rate 6 would act as 1 × 1 everywhere (move the size slider).'
"""

from __future__ import annotations

from typing import Sequence

from seglib.analysis import dilation
from seglib.analysis.aspp import AsppAnalysis

#: A branch whose centre tap is alone at this share of the positions or more acts as a 1 × 1 convolution.
ONE_BY_ONE_SHARE = 0.99


def atrous_rates(analysis: AsppAnalysis) -> list[int]:
    """The rates of the ASPP's dilated 3 × 3 branches (the 1 × 1 branch and image pooling left out), sorted."""
    return sorted(b.rate for b in analysis.branches if b.kind == "conv" and b.kernel_size > 1)


def branch_fields(analysis: AsppAnalysis) -> dict[int, float]:
    """``{rate: theoretical receptive field in input pixels}`` of the ASPP's convolution branches."""
    return {int(b.rate): b.receptive_field_px for b in analysis.branches if b.kind == "conv"}


def one_by_one_branches(analysis: AsppAnalysis) -> list:
    """The branches that are a 1 × 1 convolution at (nearly) every position: their rate reaches the map."""
    return [b for b in analysis.branches
            if b.center_only_fraction is not None and b.center_only_fraction >= ONE_BY_ONE_SHARE]


def comparison_column(size: int, stride: float, layer: str, backbone_field: float | None, rates: Sequence[int],
                      fields: dict[int, float]) -> dict[str, str]:
    """One column of the comparison with the Keras example, by row name: everything but the receptive
    fields (``fields``: by rate, ``backbone_field``: None when unknown) follows from size, stride and rates."""
    cells = int(size // stride)
    taps = [dilation.valid_tap_stats(cells, rate) for rate in rates]
    collapsed = [str(rate) for rate, stat in zip(rates, taps) if stat["center_only_fraction"] >= ONE_BY_ONE_SHARE]
    return {
        "input": f"{size} × {size} px",
        "ASPP input (layer)": layer,
        "output stride · ASPP map": f"{stride:g} · {cells} × {cells}",
        "backbone field": "?" if backbone_field is None else f"{backbone_field:g} px",
        "atrous rates": " / ".join(map(str, rates)),
        "tap spacing": " / ".join(f"{rate * stride:g}" for rate in rates) + " px",
        "atrous branch fields": " / ".join(f"{fields[rate]:g}" if rate in fields else "?" for rate in rates)
                                + " px",
        "valid taps (mean over positions)": " / ".join(f"{stat['valid_tap_fraction']:.0%}" for stat in taps),
        "rates that act as 1 × 1 everywhere": ", ".join(collapsed) or "none",
    }


def comparison_sentence(example, rates: Sequence[int], feature_size: tuple[int, int]) -> str:
    """What the comparison says: how much of its taps the widest rate of the Keras example (``example``, its
    ``ModelConfig``) and of this model (``rates`` on a ``feature_size`` map) keeps on the map."""
    example_cells = example.image_size // example.output_stride
    widest = max(example.atrous_rates)
    example_kept = dilation.valid_tap_stats(example_cells, widest)["valid_tap_fraction"]
    text = (f"The Keras example reads {example.image_size} px images on a {example_cells} × {example_cells} map: "
            f"its widest rate, {widest}, keeps {example_kept:.0%} of its taps on the map, and its taps lie "
            f"{min(example.atrous_rates) * example.output_stride} to {widest * example.output_stride} px apart.")
    if rates:
        this_kept = dilation.valid_tap_stats(feature_size, max(rates))["valid_tap_fraction"]
        text += (f" This model's widest rate, {max(rates)}, keeps {this_kept:.0%} of its taps on its "
                 f"{feature_size[0]} × {feature_size[1]} map.")
    return text + (" Whether a branch's taps read neighbouring features at all depends on its rate compared with "
                   "the width of the map, not on the rate alone: a smaller model on smaller images needs smaller "
                   "rates for the same job.")


def rates_need(rates: Sequence[int], stride: float) -> str:
    """What these rates need (true for any rates): a rate-r branch reads a neighbour somewhere only while
    the map is wider than r cells ("" without rates)."""
    if not rates:
        return ""
    cells = max(rates) + 1
    text = (f"Rate {max(rates)} reads a neighbour only on maps of at least {cells} × {cells} cells, "
            f"so this model's rates {'/'.join(map(str, rates))} need inputs of {cells * stride:g} px or more.")
    if list(rates) == [6, 12, 18] and stride == 16:
        text += " DeepLab chose 6/12/18 for 513 px crops (a 33 × 33 map)."
    return text


def collapse_hint(rates: Sequence[int], stride: float, size: int, sizes: Sequence[int], fixed_size: bool) -> str:
    """The largest of ``sizes`` below ``size`` at which some of these rates act as 1 × 1, and how to get
    there (``fixed_size``: the model's size cannot be moved, pick its preset)."""
    for smaller in sorted((s for s in sizes if s < size), reverse=True):
        cells = int(smaller // stride)
        collapsed = [rate for rate in rates if rate >= cells]
        if collapsed:
            how = (" (pick this model's preset above to change the size)" if fixed_size else
                   " (move the size slider)")
            return (f"At {smaller} px (a {cells} × {cells} map) rate{'s' if len(collapsed) > 1 else ''} "
                    f"{' and '.join(map(str, collapsed))} would act as 1 × 1 everywhere{how}.")
    return "No smaller size on offer turns one of them into a 1 × 1 convolution."
