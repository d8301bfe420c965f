"""The arithmetic of dilated (atrous) kernels, without a model.

* ``valid_tap_stats`` / ``valid_tap_curve``: how many of a dilated kernel's taps
  read real features rather than zero padding on a map of a given size; when
  the rate reaches the map size only the centre tap is left and the kernel
  acts as a 1x1 filter (the DeepLab v3 paper's figure 4).
* ``stack_receptive_field`` / ``dilated_stack_coverage``: the field of stacked
  dilated convolutions, and through how many paths each input pixel reaches
  the centre (Yu & Koltun, 2016, figure 1).

>>> stack_receptive_field([1, 2, 4])
15
>>> valid_tap_stats(8, 12)["center_only_fraction"]
1.0
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from seglib.analysis.fields import as_pair

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
    rows, columns = as_pair(feature_size)
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
    rows, columns = as_pair(feature_size)
    if rates is None:
        rates = range(1, max(rows, columns) + 3)
    return [valid_tap_stats((rows, columns), rate, kernel_size) for rate in rates]


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
