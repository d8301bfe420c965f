"""Reading training curves: what a run's history shows, in numbers and in sentences computed from them.

The lab's handout reads erratic curves as over-fitting. A history can show three different things, and
this module tells them apart from the numbers of ``history.csv`` alone:

* **A step too large.** The optimizer overshoots: the training loss itself (a mean over a whole epoch
  of steps) goes *up* from one epoch to the next. A lower or decaying learning rate removes it.
* **Noise of the measurement.** The validation curve jumps from epoch to epoch while the training
  curve is smooth. A few dozen validation images make a noisy measurement (a handful of images decide
  a class's IoU), and the model is evaluated with BatchNorm's moving statistics, which at a small batch
  follow the last few batches; both move the validation numbers without the model getting better or
  worse. The history cannot tell these two apart; together they set how large a difference between
  two epochs, or two runs, must be to mean anything.
* **Over-fitting proper.** The gap between the validation and the training loss *widens* while the
  validation loss stops improving: the model fits its training images better and the others no better.

``read_history`` measures one history (``Reading``). Over-fitting can be read from one history
(``causes``); a step too large cannot be told from measurement noise in one history, so it is read from
two runs that differ in the learning rate only (``step_share``): the jumps that the lower, decaying
rate removes came from the step, what it keeps is the noise floor. ``reading_text`` and
``comparison_text`` put the numbers into sentences. ``reference_comparison`` reads the shipped
optimizer reference runs (``seglib.training.reference``), so what the Training page says about them is
computed from their files and cannot outlive a re-recording; ``sweep_rows`` is the weight-decay sweep's
table.

>>> import pandas as pd
>>> history = pd.DataFrame({"epoch": range(1, 9), "loss": [1.0, .8, .7, .62, .56, .52, .49, .47],
...                         "val_loss": [1.0, .85, .76, .70, .66, .63, .61, .60]})
>>> causes(read_history(history))
[]
>>> round(read_history(history).gap_late, 3)
0.12
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: Fewer epochs than this and a history is too short to read.
MIN_EPOCHS = 6
#: The step counts as a cause of the jumps when the run with the larger rate wiggles at least this many
#: times as much as the run with the lower, decaying one.
STEP_RATIO = 1.5
#: The gap counts as widening when its mean over the last quarter of the epochs exceeds its mean over
#: the second quarter by this fraction of itself, and by more than twice the validation loss's wiggle.
GAP_WIDENING = 0.25

OVERFITTING, GAP_ONLY = "overfitting", "gap"
#: What each finding of ``causes`` means, in a sentence.
MEANINGS = {
    OVERFITTING: ("over-fitting: the gap between validation and training loss widened while the validation "
                  "loss stopped improving"),
    GAP_ONLY: ("a widening gap between validation and training loss while the validation loss still improved: "
               "the model learns its training images faster than the others, but is not over-fitting yet"),
}


@dataclass(frozen=True)
class Reading:
    """The numbers one history shows (NaN where its file lacks a column)."""

    epochs: int
    #: Epochs of the second half whose training (validation) loss rose above the previous epoch's.
    train_rises: int
    val_rises: int
    #: How far the loss jumps from epoch to epoch over the second half: the root mean square distance of
    #: the points from a smooth trend (a parabola fitted to them), relative to the curve's mean level
    #: there (0.01 = 1 %).
    train_wiggle: float
    val_wiggle: float
    #: Mean of (validation - training loss) over the second quarter and over the last quarter of the epochs.
    gap_early: float
    gap_late: float
    early_epochs: tuple[int, int]
    late_epochs: tuple[int, int]
    best_val_loss: float
    best_val_loss_epoch: int
    last_val_loss: float
    first_loss: float
    last_loss: float
    best_val_iou: float
    best_val_iou_epoch: int
    last_val_iou: float
    #: The same for the validation mean IoU, in IoU (not relative): its noise from epoch to epoch.
    val_iou_wiggle: float
    first_weight_norm: float
    last_weight_norm: float
    #: Lowest validation loss before the last quarter, and within it.
    val_loss_before_late: float
    val_loss_in_late: float

    @property
    def val_loss_noise(self) -> float:
        """The validation loss's epoch-to-epoch wiggle in loss units."""
        return self.val_wiggle * self.last_val_loss

    @property
    def gap_widened(self) -> bool:
        """The gap grew by ``GAP_WIDENING`` of itself and by more than twice the validation loss's wiggle."""
        growth = self.gap_late - self.gap_early
        return growth > GAP_WIDENING * abs(self.gap_early) and growth > 2 * self.val_loss_noise

    @property
    def val_loss_stalled(self) -> bool:
        """The last quarter of the epochs did not lower the validation loss by more than its wiggle."""
        return self.val_loss_in_late > self.val_loss_before_late - self.val_loss_noise


def read_history(history: "pd.DataFrame") -> Reading:
    """Measure one history (``seglib.training.runs.readers.read_history``); ValueError when it has fewer
    than MIN_EPOCHS epochs."""
    frame = history.sort_values("epoch").reset_index(drop=True)
    epochs = len(frame)
    if epochs < MIN_EPOCHS:
        raise ValueError(f"A history needs at least {MIN_EPOCHS} epochs to be read. Received: {epochs} epochs")
    loss = _column(frame, "loss")
    val_loss = _column(frame, "val_loss")
    val_iou = _column(frame, "val_mean_iou")
    norm = _column(frame, "weight_norm")
    half = epochs // 2
    quarter = max(2, epochs // 4)
    early = slice(quarter, 2 * quarter)
    late = slice(epochs - quarter, epochs)
    gap = val_loss - loss
    numbers = frame["epoch"].to_numpy()
    best_loss_index = int(np.nanargmin(val_loss)) if np.isfinite(val_loss).any() else epochs - 1
    best_iou_index = int(np.nanargmax(val_iou)) if np.isfinite(val_iou).any() else epochs - 1
    return Reading(
        epochs=epochs,
        train_rises=_rises(loss, half),
        val_rises=_rises(val_loss, half),
        train_wiggle=_wiggle(loss, half),
        val_wiggle=_wiggle(val_loss, half),
        gap_early=float(np.nanmean(gap[early])),
        gap_late=float(np.nanmean(gap[late])),
        early_epochs=(int(numbers[early][0]), int(numbers[early][-1])),
        late_epochs=(int(numbers[late][0]), int(numbers[late][-1])),
        best_val_loss=float(val_loss[best_loss_index]),
        best_val_loss_epoch=int(numbers[best_loss_index]),
        last_val_loss=float(val_loss[-1]),
        first_loss=float(loss[0]),
        last_loss=float(loss[-1]),
        best_val_iou=float(val_iou[best_iou_index]),
        best_val_iou_epoch=int(numbers[best_iou_index]),
        last_val_iou=float(val_iou[-1]),
        val_iou_wiggle=_wiggle(val_iou, half, relative=False),
        first_weight_norm=float(norm[0]),
        last_weight_norm=float(norm[-1]),
        val_loss_before_late=float(np.nanmin(val_loss[:late.start])),
        val_loss_in_late=float(np.nanmin(val_loss[late])),
    )


def causes(reading: Reading) -> list[str]:
    """What one history shows on its own: ``[OVERFITTING]``, ``[GAP_ONLY]`` or ``[]`` (a steady gap).

    Jumps cannot be blamed on the step or on the noise from one history; ``step_share`` compares two."""
    if not reading.gap_widened:
        return []
    return [OVERFITTING if reading.val_loss_stalled else GAP_ONLY]


def _runs(runs: "Reading | Sequence[Reading]") -> list[Reading]:
    return [runs] if isinstance(runs, Reading) else list(runs)


def step_share(larger_step: "Reading | Sequence[Reading]", smaller_step: "Reading | Sequence[Reading]",
               curve: str = "val") -> float:
    """The share of the larger-step run's jumps (``curve`` 'val' or 'train') that the smaller, decaying step
    removed (0 when it removed none): what came from the step size; the rest is the noise floor. With
    repeats of the runs (sequences), the least jumpy larger-step run against the jumpiest smaller-step one."""
    larger = min(getattr(run, f"{curve}_wiggle") for run in _runs(larger_step))
    smaller = max(getattr(run, f"{curve}_wiggle") for run in _runs(smaller_step))
    if not larger > 0:
        return 0.0
    return max(0.0, 1 - smaller / larger)


def step_is_a_cause(larger_step: "Reading | Sequence[Reading]", smaller_step: "Reading | Sequence[Reading]",
                    curve: str = "val") -> bool:
    """The larger step's ``curve`` ('val' or 'train' loss) jumps at least ``STEP_RATIO`` times as much as
    the smaller's; with repeats (sequences), in every larger-step run against every smaller-step one."""
    larger = min(getattr(run, f"{curve}_wiggle") for run in _runs(larger_step))
    smaller = max(getattr(run, f"{curve}_wiggle") for run in _runs(smaller_step))
    return larger >= STEP_RATIO * smaller


def reading_text(name: str, reading: Reading) -> str:
    """One run's numbers and what it shows on its own, as a Markdown paragraph."""
    second_half = reading.epochs - reading.epochs // 2
    sentences = [
        f"**{name}.** Training loss {reading.first_loss:.3f} → {reading.last_loss:.3f}; over the last "
        f"{second_half} epochs the validation loss jumps {_percent(reading.val_wiggle)} of its level from epoch "
        f"to epoch (training loss {_percent(reading.train_wiggle)}) and rose in "
        f"{_count(reading.val_rises, 'epoch')} (training loss in {reading.train_rises}).",
        f"Gap (validation − training loss) {reading.gap_early:.3f} in epochs {_span(reading.early_epochs)}, "
        f"{reading.gap_late:.3f} in epochs {_span(reading.late_epochs)}; lowest validation loss "
        f"{reading.best_val_loss:.3f} at epoch {reading.best_val_loss_epoch}, last {reading.last_val_loss:.3f}.",
        f"Validation mean IoU best {reading.best_val_iou:.3f} (epoch {reading.best_val_iou_epoch}), last "
        f"{reading.last_val_iou:.3f}.",
    ]
    if math.isfinite(reading.first_weight_norm) and math.isfinite(reading.last_weight_norm):
        sentences.append(f"Kernels' L2 norm {reading.first_weight_norm:.2f} after epoch 1, "
                         f"{reading.last_weight_norm:.2f} at the end.")
    found = causes(reading)
    sentences.append("It shows " + (MEANINGS[found[0]] if found else "a steady gap: no over-fitting") + ".")
    return " ".join(sentences)


def noise_floor(readings: Mapping[str, Reading]) -> float:
    """How far apart two runs' best validation mean IoUs can end with nothing changed: twice the epoch-to-
    epoch wiggle of (b) and (c), or the distance between a run and its repeat with another seed (keys
    'a′', 'b′'), whichever is larger."""
    floor = 2 * max(readings["b"].val_iou_wiggle, readings["c"].val_iou_wiggle)
    for label in ("a", "b"):
        if f"{label}′" in readings:
            floor = max(floor, abs(readings[f"{label}′"].best_val_iou - readings[label].best_val_iou))
    return floor


def comparison_text(readings: Mapping[str, Reading], weight_decay: float, val_images: int | None) -> list[str]:
    """What the optimizer runs show side by side, from their readings (keys 'a', 'b', 'c': the example's
    optimizer, the lower decaying rate, and that plus ``weight_decay``; optionally 'a′' and 'b′', (a) and
    (b) repeated with another seed): Markdown bullets."""
    a, b, c = readings["a"], readings["b"], readings["c"]
    images = f"{val_images} validation images" if val_images else "the validation images"
    wiggle = max(b.val_iou_wiggle, c.val_iou_wiggle)
    noise = noise_floor(readings)
    floor = (f"the noise of measuring on {images}, with BatchNorm statistics that follow the last few small "
             "batches (the history cannot tell the two apart)")
    larger = [readings[label] for label in ("a", "a′") if label in readings]
    smaller = [readings[label] for label in ("b", "b′") if label in readings]

    def each(curve: str, labels: Sequence[str]) -> str:
        return ", ".join(f"{_percent(getattr(readings[label], curve + '_wiggle'))} ({label})"
                         for label in labels if label in readings)

    jumps = (f"the training loss jumps {each('train', ('a', 'a′'))} of its level from epoch to epoch with Adam at "
             f"a constant 1e-3 and {each('train', ('b', 'b′'))} with the lower, decaying rate; the validation "
             f"loss {each('val', ('a', 'a′'))} against {each('val', ('b', 'b′'))}")
    in_training, in_validation = step_is_a_cause(larger, smaller, "train"), step_is_a_cause(larger, smaller)
    if in_validation:
        step = (f"**A step too large.** Over the last {a.epochs - a.epochs // 2} epochs {jumps}: about "
                f"{step_share(larger, smaller):.0%} of the validation jumps of Adam at 1e-3 came from its step "
                f"size. What the lower rate keeps is {floor}.")
    elif in_training:
        step = (f"**A step too large, hidden by the noise.** Over the last {a.epochs - a.epochs // 2} epochs "
                f"{jumps}. The larger step shows in the loss on the images the model trains on; on the validation "
                f"curve it is lost in {floor}.")
    else:
        step = (f"**A step too large?** Not measurably here: over the last {a.epochs - a.epochs // 2} epochs "
                f"{jumps}" + (", differences that do not hold from one run to its repeat" if len(larger) > 1
                              else "") + f". The jumps are {floor}.")
    repeats = [f"({label}′) ended {abs(readings[label + '′'].best_val_iou - readings[label].best_val_iou):.3f} "
               f"away from ({label}) ({readings[label + '′'].best_val_iou:.3f} against "
               f"{readings[label].best_val_iou:.3f})" for label in ("a", "b") if f"{label}′" in readings]
    bullets = [step, (
        f"**The noise.** With nothing changed, the validation mean IoU of (b) and (c) moves about {wiggle:.3f} "
        "away from its trend from one epoch to the next"
        + (f", and the same settings run again with another seed end apart: {'; '.join(repeats)}" if repeats
           else "")
        + f". Runs whose best mean IoUs differ by less than about {noise:.3f} cannot be told apart by these "
        "measurements.")]
    labelled = (("(a)", a), ("(b)", b), ("(c)", c))
    bullets.append(_overfitting_bullet(labelled + tuple((f"({label})", readings[label]) for label in ("a′", "b′")
                                                        if label in readings)))
    bullets.append(_weight_decay_bullet(b, c, weight_decay, noise))
    best = max(labelled, key=lambda item: item[1].best_val_iou)
    worst = min(labelled, key=lambda item: item[1].best_val_iou)
    if best[1].best_val_iou - worst[1].best_val_iou < noise:
        verdict = "within the noise of each other"
    else:
        verdict = f"{best[0]} ahead of {worst[0]} by more than the noise"
    bullets.append(
        "**Mean IoU.** Best validation mean IoU " + ", ".join(
            f"{label} {reading.best_val_iou:.3f}" for label, reading in labelled)
        + "; at the last epoch " + ", ".join(f"{label} {reading.last_val_iou:.3f}" for label, reading in labelled)
        + f": {verdict}.")
    return bullets


def _overfitting_bullet(labelled: Sequence[tuple[str, Reading]]) -> str:
    def state(label: str, reading: Reading) -> str:
        found = causes(reading)
        what = ("over-fits (its gap widens and its validation loss stops improving)" if OVERFITTING in found
                else "has a widening gap while its validation loss still improves" if GAP_ONLY in found
                else "keeps a steady gap")
        return (f"{label} {what}: gap {reading.gap_early:.3f} → {reading.gap_late:.3f}, lowest validation loss "
                f"at epoch {reading.best_val_loss_epoch} of {reading.epochs}")

    return "**Over-fitting proper.** " + "; ".join(state(label, reading) for label, reading in labelled) + "."


def _weight_decay_bullet(b: Reading, c: Reading, weight_decay: float, noise: float) -> str:
    norms = math.isfinite(b.last_weight_norm) and math.isfinite(c.last_weight_norm) and b.last_weight_norm > 0
    text = f"**Weight decay.** Adding weight decay {weight_decay:g} to (b) gives (c): "
    if norms:
        change = c.last_weight_norm / b.last_weight_norm - 1
        text += (f"the kernels' L2 norm ends at {c.last_weight_norm:.2f} against {b.last_weight_norm:.2f} "
                 f"({change:+.0%}), ")
    text += f"the last gap is {c.gap_late:.3f} against {b.gap_late:.3f}, "
    difference = c.best_val_iou - b.best_val_iou
    if abs(difference) < noise:
        text += (f"and the best validation mean IoU differs by {difference:+.3f}, within the noise. One reason: "
                 "every convolution of this model but the last feeds a BatchNorm layer, which divides out the "
                 "scale of its kernel, so smaller kernels there hardly change what the model computes.")
    else:
        text += (f"and the best validation mean IoU is {'higher' if difference > 0 else 'lower'} by "
                 f"{abs(difference):.3f}, more than the noise.")
    return text


def summary_text(comparison: Mapping[str, Any] | None) -> str:
    """What the shipped reference runs show, in two sentences (``reference_comparison``'s result; "" when
    there is none): for the Home page, beside the course's optimizer."""
    if not comparison:
        return ""
    readings = comparison["readings"]
    a, b, c = readings["a"], readings["b"], readings["c"]
    noise = noise_floor(readings)
    larger = [readings[label] for label in ("a", "a′") if label in readings]
    smaller = [readings[label] for label in ("b", "b′") if label in readings]
    if step_is_a_cause(larger, smaller):
        step = (f"the lower, decaying rate removed about {step_share(larger, smaller):.0%} of the validation jumps "
                "of Adam at 1e-3")
    elif step_is_a_cause(larger, smaller, "train"):
        step = ("the lower, decaying rate calmed the training loss of Adam at 1e-3 but not its validation curve, "
                "where the noise of the measurement is larger")
    else:
        step = ("the lower, decaying rate calmed neither the training nor the validation curve of Adam at 1e-3 "
                "measurably (the differences did not hold in repeats with another seed)" if len(larger) > 1 else
                "the lower, decaying rate calmed neither the training nor the validation curve of Adam at 1e-3")
    named = (("Adam at 1e-3", a), ("the lower decaying rate", b), ("the lower decaying rate with weight decay", c))
    over = [name for name, reading in named if OVERFITTING in causes(reading)]
    overfitting = (f"{' and '.join(over)} over-fit{'s' if len(over) == 1 else ''} (a widening gap while the "
                   "validation loss stops improving)" if over else "no run over-fits within its epochs")
    difference = c.best_val_iou - b.best_val_iou
    decay = (f"weight decay {comparison['weight_decay']:g} moved the best validation mean IoU by {difference:+.3f}, "
             + ("within the noise" if abs(difference) < noise else "more than the noise"))
    return (f"In the recorded reference runs (the lecture model, same images, one change at a time) {step}; "
            f"{overfitting}; {decay} (runs with the same settings end up to {noise:.3f} apart). Best validation "
            "mean IoU: Adam at "
            f"1e-3 {a.best_val_iou:.3f}, the lower decaying rate {b.best_val_iou:.3f}, with weight decay "
            f"{c.best_val_iou:.3f}.")


def sweep_rows(histories: Mapping[float, "pd.DataFrame"]) -> list[dict[str, Any]]:
    """The weight-decay sweep's table: one row per weight decay (weight norm after epoch 1 and at the
    end, last training and validation loss, their gap, best and last validation mean IoU)."""
    rows = []
    for weight_decay, history in sorted(histories.items()):
        frame = history.sort_values("epoch")
        last = frame.iloc[-1]
        rows.append({
            "weight decay": weight_decay,
            "weight norm after epoch 1": float(frame["weight_norm"].iloc[0]),
            "weight norm at the end": float(last["weight_norm"]),
            "last training loss": float(last["loss"]),
            "last validation loss": float(last["val_loss"]),
            "gap": float(last["val_loss"] - last["loss"]),
            "best val mean IoU": float(frame["val_mean_iou"].max()),
            "last val mean IoU": float(last["val_mean_iou"]),
        })
    return rows


def reference_comparison() -> dict[str, Any] | None:
    """The shipped optimizer reference runs, read: ``{"runs": {key: (name, Reading)}, "readings": {label:
    Reading}, "bullets": [...], "weight_decay": float, "val_images": int}``; None when (a), (b) or (c) is
    missing or too short (a missing repeat is left out)."""
    from seglib.errors import RunError
    from seglib.training import reference
    from seglib.training.runs import folders, readers, state

    labels = {"keras-example-optimizer": "a", "lower-decaying-rate": "b", "weight-decay": "c"}
    for key, spec in reference.REPEAT_RUNS.items():
        labels[key] = labels[spec["repeats"]] + "′"
    readings, runs = {}, {}
    val_images = None
    weight_decay = float("nan")
    for key, label in labels.items():
        run_id = folders.REFERENCE_PREFIX + key
        try:
            folder = folders.run_dir(run_id)
            reading = read_history(readers.read_history(folder))
            config = state.training_config(folder)
        except (RunError, ValueError):
            if label.endswith("′"):
                continue
            return None
        readings[label], runs[key] = reading, (reference.SHIPPED_RUNS[key]["name"], reading)
        val_images = val_images or state.run_state(run_id).get("val_images")
        if label == "c":
            weight_decay = config.train.weight_decay
    return {"runs": runs, "readings": readings, "bullets": comparison_text(readings, weight_decay, val_images),
            "weight_decay": weight_decay, "val_images": val_images}


# -- measurements --------------------------------------------------------------------------------------

def _column(frame: "pd.DataFrame", name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return frame[name].to_numpy(dtype=np.float64)


def _rises(values: np.ndarray, start: int) -> int:
    """Epochs from index ``start`` on whose value is above the previous epoch's."""
    steps = np.diff(values[max(start - 1, 0):])
    return int(np.sum(steps[np.isfinite(steps)] > 0))


def _wiggle(values: np.ndarray, start: int, relative: bool = True) -> float:
    """Root mean square distance of the points from index ``start`` on from a parabola fitted to them:
    how far the curve jumps around its smooth trend from one epoch to the next (relative to its mean
    level unless ``relative`` is False)."""
    part = values[start:]
    part = part[np.isfinite(part)]
    if len(part) < 4:
        return float("nan")
    epochs = np.arange(len(part), dtype=np.float64)
    trend = np.polyval(np.polyfit(epochs, part, 2), epochs)
    size = float(np.sqrt(np.mean((part - trend) ** 2)))
    if not relative:
        return size
    level = float(np.mean(np.abs(part)))
    return size / level if level > 0 else float("nan")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _percent(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{100 * value:.1f} %"


def _span(epochs: Sequence[int]) -> str:
    return f"{epochs[0]}–{epochs[1]}" if epochs[0] != epochs[1] else f"{epochs[0]}"
