"""The facts the lab's answers are computed from: numbers of the dataset split, the
model, the image the Predictions page opens and the run, and the Keras example's
numbers beside the sidebar model's.

Each ``*_numbers`` function returns a flat dict; ``seglib.lab.exercises.build_exercises``
takes them merged. Numbers are read from the data and the model in use (the
receptive-field analysis for scale), never typed in, so a check stays right when
a student switches dataset, preset or input size.

>>> sidebar_label({"model_preset": "lecture", "image_size": 160, "atrous_rates": [2, 4, 6]})
'the sidebar model (lecture, 160 px, rates 2/4/6)'
"""

from __future__ import annotations

from typing import Any, Sequence

from seglib.classes import CLASS_NAMES
from seglib.config import BACKBONE_NAMES
from seglib.lab import checks as lab_checks

def dataset_numbers(stats) -> dict[str, Any]:
    """Class-balance numbers of one split (a ``seglib.data.stats.DatasetStats``).

    The most frequent class is taken *excluding* background (id 0); the rarest
    among the classes that appear at all (absent classes are listed apart), so
    both questions have an answer a student can find in the bar chart. Also the
    scores of a model that always answers background, and which left class the
    flip question asks about.
    """
    fractions = [float(f) for f in stats.fractions]
    counts = [int(c) for c in stats.class_counts]
    present = [i for i in range(1, len(counts)) if counts[i] > 0]
    numbers: dict[str, Any] = {
        "dataset": stats.dataset, "split": stats.split, "num_images": int(stats.num_images),
        "labelled_pixels": int(stats.total_pixels), "num_classes_data": int(stats.num_classes),
        "background_fraction": fractions[0] if fractions else float("nan"),
        "absent_classes": [i for i in range(1, len(counts)) if counts[i] == 0],
    }
    if present:
        top = max(counts[i] for i in present)
        low = min(counts[i] for i in present)
        numbers["most_frequent"] = [i for i in present if counts[i] == top]
        numbers["rarest"] = [i for i in present if counts[i] == low]
        numbers["most_frequent_fraction"] = fractions[numbers["most_frequent"][0]]
        numbers["rarest_fraction"] = fractions[numbers["rarest"][0]]
    ratio = lab_checks.rare_weight_ratio(counts) if sum(counts) else None
    if ratio is not None:
        numbers["rare_weight_class"], numbers["rare_weight_ratio"] = ratio["class"], ratio["ratio"]
    if sum(counts):
        background = lab_checks.always_background(counts)
        numbers["all_background_accuracy"] = background["pixel_accuracy"]
        numbers["all_background_mean_iou"] = background["mean_iou"]
        numbers["classes_present"] = background["classes_present"]
    numbers["flip_left"], numbers["flip_right"] = lab_checks.flip_pair(counts if sum(counts) else None)
    return numbers


def model_numbers(model) -> dict[str, Any]:
    """Shape and scale numbers of a Keras segmentation model.

    Output height, width and channels are read from the last layer; the stride
    and the widest atrous branch's tap spacing and receptive field from
    ``seglib.analysis.aspp.aspp_analysis`` (they follow the model's input size and
    rates, so a demo model with other rates gets other answers).
    """
    from seglib.analysis.aspp import aspp_analysis
    from seglib.model.deeplab import model_config_of
    from seglib.model.summary import total_params

    shape = tuple(model.output.shape)
    numbers: dict[str, Any] = {
        "model_name": model.name, "image_size": int(model.input.shape[1]),
        "output_height": int(shape[1]), "output_width": int(shape[2]), "num_classes": int(shape[-1]),
        "output_values": int(shape[1]) * int(shape[2]) * int(shape[-1]), "params": total_params(model),
    }
    try:
        config = model_config_of(model)
        numbers["backbone"] = config.backbone
        numbers["atrous_rates"] = list(config.atrous_rates)
        numbers["weights"] = config.weights
    except Exception:  # noqa: BLE001 - a foreign model still has shapes
        pass
    try:
        analysis = aspp_analysis(model)
    except Exception:  # noqa: BLE001 - a model without ASPP: no scale questions
        return numbers
    numbers["stride"] = float(analysis.stride)
    numbers["feature_size"] = int(analysis.feature_size[0])
    numbers["backbone_field"] = float(analysis.receptive_field)
    atrous = [b for b in analysis.branches if b.kind == "conv" and b.rate and b.rate > 1]
    if atrous:
        widest = max(atrous, key=lambda b: b.rate)
        numbers["widest_rate"] = int(widest.rate)
        numbers["widest_spacing"] = float(widest.spacing_px)
        numbers["widest_receptive_field"] = float(widest.receptive_field_px)
        numbers["atrous_rates"] = sorted(int(b.rate) for b in atrous)
    return numbers


def sample_numbers(split: str, index: int, mask, logits=None, pixel: tuple[int, int] | None = None,
                   num_classes: int = len(CLASS_NAMES)) -> dict[str, Any]:
    """Numbers of one dataset image (the one the Predictions page opens): what a
    left/right swap would cost, and (with the model's ``logits`` at ``pixel`` =
    (row, column)) the winning class, its probability (and at ``lab_checks.TEMPERATURE``) and its margin."""
    height, width = int(mask.shape[0]), int(mask.shape[1])
    swap = lab_checks.swap_error(mask, num_classes)
    numbers: dict[str, Any] = {
        "sample_split": split, "sample_index": int(index), "sample_height": height, "sample_width": width,
        "swap_error": swap["average_error"], "swap_misclassified": swap["misclassified_rate"],
    }
    if logits is not None and pixel is not None:
        pixel_facts = lab_checks.pixel_numbers(logits)
        numbers.update({"pixel_row": int(pixel[0]), "pixel_column": int(pixel[1]),
                        "pixel_winner": pixel_facts["winner"], "pixel_probability": pixel_facts["probability"],
                        "pixel_temperature": pixel_facts["temperature"],
                        "pixel_tempered_probability": pixel_facts["tempered_probability"],
                        "pixel_runner_up": pixel_facts["runner_up"], "pixel_margin": pixel_facts["margin"],
                        "pixel_logits": pixel_facts["logits"]})
    return numbers


def run_numbers(run_id: str | None) -> dict[str, Any]:
    """The run a model came from, with its best validation mean IoU (empty without a run)."""
    if not run_id:
        return {}
    from seglib.training.runs.state import list_runs

    numbers: dict[str, Any] = {"run_id": run_id}
    try:
        info = next((r for r in list_runs() if r.id == run_id), None)
    except Exception:  # noqa: BLE001 - a broken run folder must not break the exercises
        info = None
    if info is not None:
        numbers["run_name"] = info.name
        numbers["run_preset"] = info.preset
        numbers["run_epochs"] = info.epochs_done
        if info.best_val_mean_iou is not None:
            numbers["run_best_val_mean_iou"] = float(info.best_val_mean_iou)
    return numbers


def keras_example_numbers() -> dict[str, Any]:
    """The Keras example's shape and scale numbers (preset ``keras-example``), from its config."""
    from seglib.presets import get_preset

    return lab_checks.config_numbers(get_preset("keras-example").model)


def rates_text(rates: Sequence[int] | None) -> str:
    """Atrous rates as '6/12/18' ('?' when unknown)."""
    return "/".join(str(r) for r in rates) if rates else "?"


def sidebar_label(facts: dict[str, Any]) -> str:
    """'the sidebar model (lecture, 160 px, rates 2/4/6)'."""
    name = facts.get("model_preset") or facts.get("model_label") or "in use"
    parts = [str(name)]
    if facts.get("image_size"):
        parts.append(f"{facts['image_size']} px")
    if facts.get("atrous_rates"):
        parts.append(f"rates {rates_text(facts['atrous_rates'])}")
    return "the sidebar model (" + ", ".join(parts) + ")"


def keras_label(keras: dict[str, Any]) -> str:
    """'the Keras example (ResNet50, 512 px, rates 6/12/18)'."""
    backbone = BACKBONE_NAMES.get(keras.get("backbone"), keras.get("backbone"))
    rates = rates_text(keras.get("atrous_rates"))
    return f"the Keras example ({backbone}, {keras.get('image_size')} px, rates {rates})"
