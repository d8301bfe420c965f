"""The lab's exercises 13-1 ... 13-6: questions, checkable answers, model answers,
and the Markdown export a student can load back.

The questions are written for this project. Questions with a number, a size, a
class or a set of rates for an answer are *checked*: the expected value is
computed from the dataset, model and receptive-field analysis in use (the
``facts`` built by ``dataset_numbers``, ``model_numbers``, ``sample_numbers``
and ``run_numbers``), never typed in as a constant, so a check stays right when
a student switches dataset, preset or input size. Several need reasoning rather
than reading one number off one view (``seglib.lab.checks`` computes those).

Students of the handout run the Keras example (ResNet50, 512 px, rates
6/12/18) while the dashboard's sidebar model is usually smaller; shape and
scale questions accept either model's answer and say which one it matches
(``Alternative``). Open questions have a model answer the page shows once the
student has answered.

Every question names the section (``Question.view``, a heading anchor) of a
linked page that answers it; ``Exercise.links`` lead there.

No Streamlit here: the pages draw what this module returns.

>>> facts = {"num_classes": 20, "output_height": 64, "output_width": 64, "image_size": 64}
>>> question = next(q for q in build_exercises(facts)[2].questions if q.key == "output_channels")
>>> check_answer(question, "20").correct
True
"""

from __future__ import annotations

import dataclasses
import datetime as _datetime
import json
import math
import re
from typing import Any, Sequence

from seglib.lab import checks as lab_checks
from seglib.classes import CLASS_NAMES

#: Question kinds: free text, a number (with tolerance), an image size ``H x W``,
#: a class (by name or id), or a set of whole numbers (e.g. atrous rates; 'none' = empty).
KINDS = ("text", "number", "size", "class", "set")

#: The URL parameters an exercise link adds: the section to scroll to and the exercise it came from.
SECTION_PARAM = "section"
EXERCISE_PARAM = "exercise"


@dataclasses.dataclass(frozen=True)
class Link:
    """A section of a dashboard page that shows what some questions ask about.

    ``page`` is the file under ``pages/``; ``anchor`` the id of the heading the
    link lands on; ``params`` the query parameters that preselect the view
    there (image, pixel, preset ...).
    """

    page: str
    label: str
    anchor: str
    params: dict[str, str] = dataclasses.field(default_factory=dict)

    def query(self, exercise: str) -> dict[str, str]:
        """The link's query parameters, with the section and the exercise it comes from."""
        return {**self.params, SECTION_PARAM: self.anchor, EXERCISE_PARAM: exercise}


@dataclasses.dataclass(frozen=True)
class Alternative:
    """Another model's right answer to a question (the Keras example's, beside the sidebar model's)."""

    answer: Any
    source: str
    accepted: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Question:
    """One question of an exercise.

    ``answer`` is the value a checkable question expects (``None`` for open
    questions, or when the data needed to compute it is missing), for the model
    ``source`` names (empty for questions about the data); ``alternatives``
    other models' answers that count as right too; ``tolerance`` the absolute
    tolerance of numbers; ``accepted`` the class ids that count as right for
    class questions (ties); ``hint`` where to look when the answer is not right
    yet; ``view`` the anchor of the section that answers it; ``model_answer``
    the worked answer shown once the student has answered (open questions) or
    got it right (checked ones).
    """

    key: str
    exercise: str
    text: str
    kind: str = "text"
    answer: Any = None
    tolerance: float = 0.0
    accepted: tuple[int, ...] = ()
    hint: str = ""
    unit: str = ""
    view: str = ""
    model_answer: str = ""
    source: str = ""
    alternatives: tuple[Alternative, ...] = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Question kind must be one of {KINDS}. Received: kind={self.kind!r}")

    @property
    def checkable(self) -> bool:
        return self.kind != "text" and self.answer is not None

    def answer_text(self) -> str:
        """The expected answer as people write it (empty for open questions)."""
        if not self.checkable:
            return ""
        return _value_text(self.kind, self.answer, self.accepted, self.unit)


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One exercise: its number, a title, why it matters, questions and links.

    ``notes`` are extra paragraphs (Markdown written by this module) shown
    under the introduction.
    """

    key: str
    title: str
    intro: str
    questions: tuple[Question, ...]
    links: tuple[Link, ...] = ()
    notes: tuple[str, ...] = ()

    def link_for(self, question: Question) -> Link | None:
        return next((link for link in self.links if link.anchor == question.view), None)


@dataclasses.dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: ``status`` is 'empty', 'open' (not checkable),
    'correct', 'not_yet' or 'unreadable' (the text is not a number/class);
    ``matched`` says whose answer it was: 'primary', 'both' or 'alternative'."""

    status: str
    message: str
    matched: str | None = None

    @property
    def correct(self) -> bool:
        return self.status == "correct"


# ---------------------------------------------------------------------------
# Key numbers computed from the dataset, the model and a run
# ---------------------------------------------------------------------------

def format_number(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value.is_integer():
            return f"{value:.0f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.4g}"
    return str(value)


def _value_text(kind: str, value: Any, accepted: Sequence[int] = (), unit: str = "") -> str:
    if kind == "size":
        return f"{value[0]} × {value[1]}"
    if kind == "class":
        ids = accepted or (value,)
        return " or ".join(f"{i} {CLASS_NAMES[i]}" for i in ids)
    if kind == "set":
        values = sorted(value)
        if not values:
            return "none"
        return ", ".join(str(v) for v in values[:-1]) + (" and " if len(values) > 1 else "") + str(values[-1])
    return format_number(value) + (f" {unit}" if unit else "")


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
    ``seglib.analysis.receptive.aspp_analysis`` (they follow the model's input size and
    rates, so a demo model with other rates gets other answers).
    """
    from seglib.model import deeplab as seglib_model
    from seglib.analysis import receptive

    shape = tuple(model.output.shape)
    numbers: dict[str, Any] = {
        "model_name": model.name, "image_size": int(model.input.shape[1]),
        "output_height": int(shape[1]), "output_width": int(shape[2]), "num_classes": int(shape[-1]),
        "params": seglib_model.total_params(model),
    }
    try:
        config = seglib_model.model_config_of(model)
        numbers["backbone"] = config.backbone
        numbers["atrous_rates"] = list(config.atrous_rates)
        numbers["weights"] = config.weights
    except Exception:  # noqa: BLE001 - a foreign model still has shapes
        pass
    try:
        analysis = receptive.aspp_analysis(model)
    except Exception:  # noqa: BLE001 - a model without ASPP: no scale questions
        return numbers
    numbers["stride"] = float(analysis.stride)
    numbers["feature_size"] = int(analysis.feature_size[0])
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
    (row, column)) the winning class, its probability and its margin."""
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
                        "pixel_runner_up": pixel_facts["runner_up"], "pixel_margin": pixel_facts["margin"],
                        "pixel_logits": pixel_facts["logits"]})
    return numbers


def run_numbers(run_id: str | None) -> dict[str, Any]:
    """The run a model came from, with its best validation mean IoU (empty without a run)."""
    if not run_id:
        return {}
    from seglib.training import runs

    numbers: dict[str, Any] = {"run_id": run_id}
    try:
        info = next((r for r in runs.list_runs() if r.id == run_id), None)
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
    from seglib.config import get_preset

    return lab_checks.config_numbers(get_preset("keras-example").model)


def _rates_text(rates: Sequence[int] | None) -> str:
    return "/".join(str(r) for r in rates) if rates else "?"


def sidebar_label(facts: dict[str, Any]) -> str:
    """'the sidebar model (lecture, 160 px, rates 2/4/6)'."""
    name = facts.get("model_preset") or facts.get("model_label") or "in use"
    parts = [str(name)]
    if facts.get("image_size"):
        parts.append(f"{facts['image_size']} px")
    if facts.get("atrous_rates"):
        parts.append(f"rates {_rates_text(facts['atrous_rates'])}")
    return "the sidebar model (" + ", ".join(parts) + ")"


def keras_label(keras: dict[str, Any]) -> str:
    """'the Keras example (ResNet50, 512 px, rates 6/12/18)'."""
    backbone = {"resnet50": "ResNet50", "mobilenetv2": "MobileNetV2"}.get(keras.get("backbone"), keras.get("backbone"))
    rates = _rates_text(keras.get("atrous_rates"))
    return f"the Keras example ({backbone}, {keras.get('image_size')} px, rates {rates})"


def comparison_rows(facts: dict[str, Any]) -> list[dict[str, str]]:
    """The sidebar model's numbers beside the Keras example's, one row per quantity
    (what the shape and scale questions ask about)."""
    keras = facts.get("keras") or keras_example_numbers()

    def column(numbers: dict[str, Any]) -> dict[str, str]:
        def text(value, unit=""):
            return "–" if value is None else f"{format_number(value)}{unit}"
        output = (f"{numbers['output_height']} × {numbers['output_width']} × {numbers['num_classes']}"
                  if numbers.get("output_height") else "–")
        feature = numbers.get("feature_size")
        rates = numbers.get("atrous_rates")
        one_by_one = (lab_checks.one_by_one_rates(rates, feature) if rates and feature else None)
        return {
            "Input (px)": text(numbers.get("image_size")),
            "Output (H × W × classes)": output,
            "Output stride (px)": text(numbers.get("stride")),
            "ASPP map (units)": f"{feature} × {feature}" if feature else "–",
            "Atrous rates": _rates_text(rates) if rates else "–",
            "Widest tap spacing (px)": text(numbers.get("widest_spacing")),
            "Widest receptive field (px)": text(numbers.get("widest_receptive_field")),
            "Rates acting as 1×1": ("–" if one_by_one is None else _value_text("set", one_by_one)),
        }

    mine, theirs = column(facts), column(keras)
    return [{"quantity": name, "sidebar model": mine[name], "Keras example": theirs[name]} for name in mine]


def keras_differences(facts: dict[str, Any]) -> list[str]:
    """Where the dashboard's training and data handling differ from the Keras example, and why
    (Markdown bullet items, with the numbers of the sidebar model's preset)."""
    from seglib.config import get_preset, preset_names

    preset = facts.get("model_preset") if facts.get("model_preset") in preset_names() else "lecture"
    train = get_preset(preset).train
    example = get_preset("keras-example").train
    schedule = (f"{train.optimizer.replace('adamw', 'AdamW').replace('adam', 'Adam')} from {train.learning_rate:g}, "
                f"× {train.decay_rate:g} every {train.decay_steps:,} steps, weight decay {train.weight_decay:g}")
    items = [
        f"**Learning rate.** The `{preset}` preset trains with {schedule}; the example uses "
        f"{example.optimizer.capitalize()} at a constant {example.learning_rate:g} without weight decay, which the "
        "course found too high (erratic, over-fitting curves). The lecture preset's rate is tuned for a small "
        "model on a CPU, so its curves differ from the course's GPU run too.",
    ]
    weights = facts.get("weights")
    if weights == "pretrained":
        start = ("ours starts from a backbone the project pretrained itself on image-level labels of synthetic "
                 "images (`model.weights='pretrained'`), not on ImageNet")
    elif weights == "imagenet":
        start = "ours uses ImageNet weights too (`model.weights='imagenet'`), when they are in the Keras cache"
    else:
        start = ("the sidebar model starts from random weights (`model.weights='none'`); the project's own "
                 "pretrained backbone, trained on image-level labels of synthetic images, is one setting away "
                 "(`model.weights='pretrained'`)")
    items.append(f"**Where the backbone starts.** The example loads ImageNet weights; {start}. A backbone that "
                 "has never seen real photos learns the parts more slowly, so expect more errors after the "
                 "same number of epochs.")
    items.append("**Mask resizing.** Masks are resized nearest-neighbour. The example resizes them bilinearly, "
                 "which averages label ids at part boundaries and invents classes that are not there (between "
                 "hair, 2, and face, 13, a pixel can become 7, Coat); those pixels show up as errors that are "
                 "the labels' fault, not the model's.")
    return items


# ---------------------------------------------------------------------------
# The exercises
# ---------------------------------------------------------------------------

def _alternative(theirs: Any, source: str) -> tuple[Alternative, ...]:
    """The Keras example's answer as an alternative (also when it equals ours: the message says 'both')."""
    if theirs is None:
        return ()
    return (Alternative(theirs, source),)


def build_exercises(facts: dict[str, Any]) -> list[Exercise]:
    """The six exercises, with checkable answers taken from ``facts`` (the merged
    output of ``dataset_numbers``, ``model_numbers``, ``sample_numbers`` and
    ``run_numbers``; ``facts['keras']`` defaults to ``keras_example_numbers()``).

    A fact that is missing (no dataset, a model without ASPP) leaves its
    question open instead of checking against a made-up value.
    """
    get = facts.get
    keras = get("keras") or keras_example_numbers()
    mine_source = sidebar_label(facts)
    theirs_source = keras_label(keras)
    size = get("image_size")
    rate = get("widest_rate")
    rate_text = f"rate-{rate}" if rate else "widest atrous"
    stride = get("stride")
    num_classes = get("num_classes") or len(CLASS_NAMES)
    # The Model page rebuilds the architecture of the model in use (its preset at its input size).
    model_params = {key: str(value) for key, value in
                    (("preset", get("model_preset")), ("size", size)) if value}

    def alt(key: str):
        return _alternative(keras.get(key), theirs_source)

    # -- 13-1: labels, and what a flip does to them
    left, right = get("flip_left"), get("flip_right")
    if left is None:
        left, right = lab_checks.flip_pair()
    limb = CLASS_NAMES[left].split("-")[-1].lower()

    # -- 13-2: which rates degenerate to 1x1 at a smaller input
    rates = get("atrous_rates")
    probe = lab_checks.probe_size(rates, int(stride)) if rates and stride else None
    probe_feature = probe // int(stride) if probe else None
    probe_answer = tuple(lab_checks.one_by_one_rates(rates, probe_feature)) if probe else None
    probe_keras = (tuple(lab_checks.one_by_one_rates(keras["atrous_rates"], probe // int(keras["stride"])))
                   if probe and keras.get("atrous_rates") else None)

    # -- 13-5 / 13-6: the image the Predictions page opens
    sample_split, sample_index = get("sample_split"), get("sample_index")
    split_name = {"val": "validation", "train": "training"}.get(sample_split, sample_split or "validation")
    image_text = f"{split_name} image {int(sample_index or 0) + 1}"
    pixel_params = {"split": str(sample_split or "val"), "image": str(int(sample_index or 0))}
    if get("pixel_row") is not None:
        pixel_params.update({"px": str(get("pixel_column")), "py": str(get("pixel_row"))})
    winner = get("pixel_winner")
    runner_up = get("pixel_runner_up")
    logits = get("pixel_logits") or []

    background = get("background_fraction")
    present = get("classes_present")

    exercises = [
        Exercise(
            "13-1", "Labels that mean something",
            "Every mask pixel holds a class id; the colour is only how the id is drawn. Before training "
            "anything, check that the ids describe the people in the photo, and that they mean the same "
            "thing in every image: a network can only learn what the labels say consistently.",
            (
                Question("labels_meaning", "13-1",
                         "Choose one person and name three coloured regions with the body part or garment under "
                         "each. Do the labels follow how a body is built? Give one example (where does the face "
                         "region sit relative to the hair and the upper clothes?).",
                         view="images-and-masks",
                         model_answer=(
                             "Yes. The regions sit where the parts are on a body: hair (and a hat, if any) on top, "
                             "the face just below the hair, upper clothes below the face with an arm region on "
                             "each side, then pants or a skirt, legs and shoes at the bottom. A region is one part "
                             "of one person, not a patch of one colour in the photo: a red hat and a red shirt get "
                             "different labels because they are different parts.")),
                Question("labels_consistent", "13-1",
                         "Does a class keep the same id (and colour) in every image? What would a network learn "
                         "if one id meant 'hair' in one image and 'hat' in another?",
                         view="images-and-masks",
                         model_answer=(
                             "Yes: the legend is the same for every mask (2 is always hair). Training compares the "
                             "prediction with these ids pixel by pixel, so an id must stand for one thing "
                             "everywhere. If its meaning changed between images, the loss would reward opposite "
                             "answers for the same evidence, and the best the network could do is hedge between "
                             "them.")),
                Question("flip_label", "13-1",
                         f"Training flips some images left to right (augmentation). A pixel labelled "
                         f"{CLASS_NAMES[left]} before the flip: which label must it carry after the flip? "
                         "(name or id)",
                         kind="class", answer=right, accepted=(right,), view="images-and-masks",
                         hint="Think of a mirror: in the flipped photo the person seems to raise the other hand. "
                              "The legend lists both sides.",
                         model_answer=(
                             f"{right} {CLASS_NAMES[right]}. The flipped photo shows a mirrored person, and the "
                             f"{limb} that was on the person's left now looks exactly like a right {limb} in an "
                             "unflipped photo. Keeping the old label would teach two opposite labels for the same "
                             "appearance, so the pipeline swaps 14↔15, 16↔17 and 18↔19 whenever it flips "
                             "(`seglib.classes.swap_left_right`).")),
            ),
            (Link("dataset.py", "Images and masks side by side", "images-and-masks"),),
        ),
        Exercise(
            "13-2", "Scales, and how the encoder covers them",
            "People in the photos range from a few pixels to the whole frame, and their parts even more so. "
            "The backbone shrinks the image by its output stride; the ASPP branches then look at neighbours "
            "spaced further and further apart. Number questions accept the answer of the sidebar model or of "
            "the Keras example (the table above has both).",
            (
                Question("scales", "13-2",
                         "Describe the range of scales you see in the masks: the smallest and largest people, "
                         "and the smallest parts (shoes, gloves, sunglasses).",
                         view="object-scales",
                         model_answer=(
                             "People range from a few dozen pixels tall (far back in a crowd) to almost the height "
                             "of the image. Parts spread even more: the sunglasses, gloves or shoes of a small "
                             "person cover a handful of pixels, the clothes of a large one a big share of the "
                             "frame. Region sizes of one class span more than a factor of ten, so the network "
                             "must recognise the same part at very different sizes.")),
                Question("stride", "13-2",
                         "By how many input pixels does one step on the ASPP input map move (the output stride)?",
                         kind="number", answer=stride, unit="px", view="where-each-branch-looks",
                         source=mine_source, alternatives=alt("stride"),
                         hint="The Atrous scales page prints it next to the ASPP map size.",
                         model_answer="The backbone halves the resolution four times (2⁴ = 16): each ASPP unit "
                                      "stands for a 16 × 16 block of input pixels."),
                Question("widest_spacing", "13-2",
                         f"How far apart, in input pixels, are neighbouring taps of the {rate_text} branch?",
                         kind="number", answer=get("widest_spacing"), unit="px", view="where-each-branch-looks",
                         source=mine_source, alternatives=alt("widest_spacing"),
                         hint="The spacing is the rate times the output stride; the branch table on the "
                              "Atrous scales page lists it.",
                         model_answer=(f"Rate × output stride = {rate} × {format_number(stride)} = "
                                       f"{format_number(get('widest_spacing'))} px." if rate else "")),
                Question("widest_receptive_field", "13-2",
                         f"How wide (in input pixels) is the theoretical receptive field of one unit of the "
                         f"{rate_text} branch?",
                         kind="number", answer=get("widest_receptive_field"), unit="px",
                         tolerance=max(1.0, 0.01 * (get("widest_receptive_field") or 0)),
                         view="where-each-branch-looks", source=mine_source,
                         alternatives=alt("widest_receptive_field"),
                         hint="Look at the 'receptive field (px)' column of the branch table.",
                         model_answer="The backbone's field at the ASPP input plus (3 − 1) × rate × stride for the "
                                      "dilated 3 × 3 kernel: wider than many people in the image."),
                Question("one_by_one", "13-2",
                         (f"Suppose the input were {probe} × {probe} px instead of {size}. Which of the atrous rates "
                          f"({_rates_text(rates)}) would then act as a 1×1 convolution at every position of the ASPP "
                          "map, because all taps but the centre land on padding? List the rates, or write 'none'."
                          if probe else "Which atrous rates act as a 1×1 convolution at every position of the "
                                        "ASPP map? List the rates, or write 'none'."),
                         kind="set", answer=probe_answer, view="taps-that-land-on-padding",
                         source=mine_source,
                         alternatives=((Alternative(probe_keras, f"{theirs_source} at {probe} px"),)
                                       if probe_keras is not None else ()),
                         hint=(f"At {probe} px the ASPP map has {probe_feature} × {probe_feature} units; a 3×3 "
                               "kernel at rate r reads r units to each side of its centre." if probe else ""),
                         model_answer=(
                             f"At {probe} px the ASPP map is {probe} / {format_number(stride)} = {probe_feature} "
                             f"units wide. A 3 × 3 kernel at rate r reads r units to each side of its centre; once "
                             f"r ≥ {probe_feature} those taps leave the map from every position and only the centre "
                             f"reads features: {_value_text('set', probe_answer)}. Such a branch adds nothing a "
                             "1×1 branch does not, which is why the rates must suit the input size."
                             if probe else "")),
                Question("encoder_scales", "13-2",
                         "Using the numbers above, explain which range of scales the encoder combines and why the "
                         "image-pooling branch is there.",
                         view="where-each-branch-looks",
                         model_answer=(
                             "The 1×1 branch keeps the backbone's own field; each atrous branch applies the same "
                             "3 × 3 pattern with taps rate × stride pixels apart, so it covers a larger square of "
                             "the image with no extra weights: from about the size of a part up to a whole person "
                             "and beyond. Image pooling averages the whole map, adding the context of the entire "
                             "image (how large the people are, how crowded it is) that a kernel with taps off the "
                             "map cannot give. Concatenating the branches lets each pixel's label draw on several "
                             "scales at once.")),
                Question("output_size", "13-2",
                         f"For a {size} px input, what are the height × width of the model's output?",
                         kind="size",
                         answer=(get("output_height"), get("output_width")) if get("output_height") else None,
                         view="the-final-layer", source=mine_source,
                         alternatives=(_alternative((keras["output_height"], keras["output_width"]), theirs_source)
                                       if keras.get("output_height") else ()),
                         hint="The last row of the layer table on the Model page.",
                         model_answer="The same as the input: the decoder upsamples back to full resolution, so "
                                      "every input pixel gets its own prediction."),
            ),
            (Link("dataset.py", "Object sizes in the data", "object-scales"),
             Link("atrous.py", "Atrous taps on a real image", "where-each-branch-looks"),
             Link("atrous.py", "Taps that land on padding", "taps-that-land-on-padding"),
             Link("model.py", "The final layer", "the-final-layer", model_params)),
        ),
        Exercise(
            "13-3", "Why this output shape",
            "The network is fully convolutional: no dense layer, so its output is a map, not a vector.",
            (
                Question("output_channels", "13-3",
                         "How many channels does the last layer output?",
                         kind="number", answer=get("num_classes"), view="the-final-layer",
                         source=mine_source, alternatives=alt("num_classes"),
                         hint="The channel count is the last number of the output shape on the Model page.",
                         model_answer="One channel per class: a score for each of the classes at every pixel."),
                Question("why_shape", "13-3",
                         "In a sentence or two: why must the output have the input's height and width, "
                         "and why this many channels?",
                         view="the-final-layer",
                         model_answer=(
                             "Semantic segmentation makes one decision per pixel, so the output needs one position "
                             "per input pixel: the decoder upsamples back to the input's height and width and the "
                             f"last 1 × 1 convolution keeps that size. At each position it gives one score per "
                             f"class, {num_classes} channels for {num_classes} classes, and the highest score becomes "
                             "the pixel's label. A dense layer would discard the spatial layout; convolutions keep "
                             "it (and work at any input size).")),
            ),
            (Link("model.py", "The final layer", "the-final-layer", model_params),),
        ),
        Exercise(
            "13-4", "Class imbalance and the loss",
            "Count the pixels of each class over the training split: a few classes own most of them. Then see "
            "what the loss does with that imbalance. Plain cross-entropy is the *mean* of the per-pixel losses, "
            "so every pixel counts the same, and a class counts as much as it has pixels.",
            (
                Question("background_fraction", "13-4",
                         "What fraction of the labelled pixels is background? (two decimals, e.g. 0.42)",
                         kind="number", answer=background, tolerance=0.01, view="class-imbalance",
                         hint="The class-balance chart on the Dataset explorer; background is class 0."),
                Question("most_frequent", "13-4",
                         "Apart from background, which class has the most pixels? (name or id)",
                         kind="class", answer=(get("most_frequent") or [None])[0],
                         accepted=tuple(get("most_frequent") or ()), view="class-imbalance",
                         hint="Sort the class-balance bars, skip background."),
                Question("rarest", "13-4",
                         "Which class that appears at all has the fewest pixels? (name or id)",
                         kind="class", answer=(get("rarest") or [None])[0], accepted=tuple(get("rarest") or ()),
                         view="class-imbalance",
                         hint="The shortest non-zero bar of the class-balance chart (log scale helps)."),
                Question("all_background_accuracy", "13-4",
                         "A 'model' that answers background for every pixel: what pixel accuracy would it reach "
                         "on this split? (two decimals)",
                         kind="number", answer=get("all_background_accuracy"), tolerance=0.01,
                         view="class-imbalance",
                         hint="Which pixels does it get right?",
                         model_answer=(
                             f"{format_number(get('all_background_accuracy'))}: every background pixel is right and "
                             "every other pixel wrong, so the accuracy is the background share. A high pixel "
                             "accuracy says little when one class dominates." if background is not None else "")),
                Question("all_background_mean_iou", "13-4",
                         "And its mean IoU over the classes present in this split? (three decimals)",
                         kind="number", answer=get("all_background_mean_iou"),
                         tolerance=max(0.002, 0.03 * (get("all_background_mean_iou") or 0)),
                         view="class-imbalance",
                         hint="IoU = overlap / union per class, then the mean over the classes present (count the "
                              "bars). What is background's union when every pixel is predicted background?",
                         model_answer=(
                             f"Background's IoU equals its share, {format_number(background)} (the prediction covers "
                             f"every pixel, so the union is the whole split); each of the other "
                             f"{(present or 1) - 1} classes present has IoU 0. The mean over {present} classes is "
                             f"{format_number(background)} / {present} = "
                             f"{format_number(get('all_background_mean_iou'))}. Mean IoU exposes what pixel accuracy "
                             "hides." if present else "")),
                Question("imbalance", "13-4",
                         "What do these fractions say about class imbalance, and would you expect the same in other "
                         "segmentation problems (road scenes, medical scans)? Why?",
                         view="class-imbalance",
                         model_answer=(
                             "Background takes most pixels, clothes and skin most of the rest, and the small parts "
                             "(sunglasses, gloves, socks, shoes) well under 1 % each: a hundred times fewer pixels "
                             "than background or more. Most segmentation problems look alike: the things of "
                             "interest are small against a large background (pedestrians and signs against road "
                             "and sky, a lesion inside an organ), because area grows with the square of size.")),
                Question("loss_choice", "13-4",
                         "The handout calls sparse categorical cross-entropy a good choice *given* the imbalance. "
                         "Compare each class's share of the total loss with its share of the pixels under plain "
                         "cross-entropy: does the loss correct the imbalance? Then say why it is still a sound "
                         "default, and name one change that does target the imbalance and what it costs "
                         "(per-class IoU helps).",
                         view="imbalance-and-the-loss",
                         model_answer=(
                             "Plain cross-entropy does not correct the imbalance: it averages over pixels, so each "
                             "class weighs in roughly with its pixel count and background dominates the gradient; "
                             "rare parts hardly count. It is a sound default for other reasons: the labels are "
                             "integer ids, so the sparse form needs no one-hot H × W × C tensor; it works on the "
                             "logits (from_logits=True), which is numerically stable and needs no softmax layer; "
                             "and it is a proper scoring rule, lowest when the predicted probabilities are the "
                             "true ones. To act against the imbalance, change the weighting: class-weighted "
                             "cross-entropy (e.g. median-frequency weights), focal loss (down-weights easy pixels, "
                             "mostly background) or Dice (an overlap score per class, so every class counts "
                             "alike). They usually lift the IoU of rare classes at the price of more false "
                             "positives for them and a lower pixel accuracy.")),
            ),
            (Link("dataset.py", "Class balance", "class-imbalance"),
             Link("dataset.py", "Imbalance and the loss", "imbalance-and-the-loss")),
        ),
        Exercise(
            "13-5", "From logits to a class per pixel",
            "The model returns raw scores (logits), one per class for every pixel; no softmax is built into the "
            "network. The link opens the pixel these questions are about.",
            (
                Question("pixel_probability", "13-5",
                         (f"On the Predictions page, {image_text}, pixel x = {get('pixel_column')}, "
                          f"y = {get('pixel_row')}: from the {len(logits) or num_classes} logits shown, compute the "
                          "softmax probability of the winning class (e.g. 0.42 or 42 %)."
                          if get("pixel_row") is not None else
                          "For one pixel on the Predictions page: from its logits, compute the softmax probability "
                          "of the winning class."),
                         kind="number", answer=get("pixel_probability"), tolerance=0.01,
                         view="inside-one-pixel",
                         hint="p = exp(winning logit) / sum of exp(logit) over all classes; subtracting the largest "
                              "logit first keeps the numbers small.",
                         model_answer=(
                             f"The winner is {winner} {CLASS_NAMES[winner]} with logit {logits[winner]:.2f}; "
                             f"exp of it divided by the sum of the exps of all {len(logits)} logits gives "
                             f"{get('pixel_probability'):.3f}." if winner is not None and logits else "")),
                Question("logit_margin", "13-5",
                         "By how much could the winning logit at that pixel drop before another class would win? "
                         "(two decimals)",
                         kind="number", answer=get("pixel_margin"), tolerance=0.02, view="inside-one-pixel",
                         hint="The mask takes the argmax: only the order of the logits matters.",
                         model_answer=(
                             f"Only the order matters: {CLASS_NAMES[winner]} stays the answer until its logit falls "
                             f"below the runner-up's ({CLASS_NAMES[runner_up]}, {logits[runner_up]:.2f}), a margin "
                             f"of {get('pixel_margin'):.2f}." if winner is not None and logits else "")),
                Question("argmax", "13-5",
                         "How is one class chosen from a pixel's logits, and why does applying a softmax first "
                         "not change the answer?",
                         view="inside-one-pixel",
                         model_answer=(
                             f"The output holds {num_classes} logits per pixel; taking the argmax over the last "
                             "axis gives the index of the largest, which is the class id, and the H × W array of "
                             "ids is the mask (coloured with the palette). Softmax exponentiates every logit and "
                             "divides all by the same sum, which keeps their order, so the largest logit always "
                             "has the largest probability. Probabilities are needed for the loss or to show "
                             "confidence, not to pick the class.")),
            ),
            (Link("predictions.py", "Logits of one pixel", "inside-one-pixel", pixel_params),),
        ),
        Exercise(
            "13-6", "Where the errors are",
            "The Predictions page shows ground truth | prediction | difference, as the course asks. The "
            "difference view draws |true id − predicted id|: its brightness says how far apart two *ids* are, "
            "not how wrong a pixel is, so a left arm taken for a right arm (ids 14 and 15) is nearly black. The "
            "**right/wrong map** beside it shows every mistake alike, and the per-class IoU says which classes "
            "they belong to. Only the single average error is scaled to [0, 1] (the mean difference divided "
            f"by {num_classes - 1}).",
            (
                Question("swap_error", "13-6",
                         f"Take {image_text} (the link opens it). Suppose a model labelled it perfectly except that "
                         "it swapped left and right everywhere (arms, legs, shoes). What would the course's average "
                         "error be? (Use the true pixel shares of the left and right classes in the Per class chart.)",
                         kind="number", answer=get("swap_error"),
                         tolerance=max(0.0003, 0.1 * (get("swap_error") or 0)), view="per-class",
                         hint=f"Each swapped pixel's ids differ by exactly 1, out of a maximum of {num_classes - 1}.",
                         model_answer=(
                             f"Every swapped pixel is wrong, yet adds only 1/{num_classes - 1} to the difference. "
                             f"{get('swap_misclassified'):.1%} of the labelled pixels lie on left or right parts, so "
                             f"the average error is {get('swap_misclassified'):.4f} / {num_classes - 1} = "
                             f"{get('swap_error'):.4f}, while {get('swap_misclassified'):.1%} of the pixels are "
                             "misclassified. A tiny average error can hide a systematic mistake."
                             if get("swap_error") is not None else "")),
                Question("error_regions", "13-6",
                         "Using the right/wrong map rather than the brightness of the difference view: how large "
                         "are the wrong regions compared with the whole image, which classes are they, and what "
                         "does that say about class imbalance?",
                         view="one-image",
                         model_answer=(
                             "The wrong pixels form thin bands along the borders between parts and blobs on small "
                             "parts (hands, shoes, the faces of distant people), sometimes a whole small part "
                             "missing. Together they cover a small share of the image, so pixel accuracy stays "
                             "high. That they sit on the small, rare classes is the imbalance at work: the loss "
                             "hardly rewards getting those right. The per-class IoU, low for rare classes, shows it; "
                             "the average error understates it, since neighbouring ids look nearly black.")),
            ),
            (Link("predictions.py", "Truth, prediction and difference", "one-image", pixel_params),
             Link("predictions.py", "Per-class IoU and pixel shares", "per-class", pixel_params)),
            notes=("**Where this dashboard differs from the Keras example**, so your numbers will not match the "
                   "handout's exactly:\n\n" + "\n".join(f"- {item}" for item in keras_differences(facts)),),
        ),
    ]
    return exercises


def all_questions(exercises: Sequence[Exercise]) -> list[Question]:
    return [question for exercise in exercises for question in exercise.questions]


def exercises_for_page(exercises: Sequence[Exercise], page: str) -> list[Exercise]:
    """The exercises with a link to ``page`` (a file under ``pages/``), in order."""
    return [exercise for exercise in exercises if any(link.page == page for link in exercise.links)]


# ---------------------------------------------------------------------------
# Checking answers
# ---------------------------------------------------------------------------

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?", re.IGNORECASE)


def parse_number(text: str) -> float | None:
    """The first number in ``text``; '42%' reads as 0.42. None when there is none."""
    match = _NUMBER.search(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
    if match is None:
        return None
    value = float(match.group())
    if text[match.end():].lstrip().startswith("%"):
        value /= 100.0
    return value


def parse_size(text: str) -> tuple[int, int] | None:
    """'64 x 64', '64×64', '(64, 64)' or one number (a square) as (height, width)."""
    numbers = [float(n) for n in _NUMBER.findall(text)]
    if not numbers or len(numbers) > 3 or any(not n.is_integer() for n in numbers):
        return None
    numbers = [int(n) for n in numbers]
    if len(numbers) == 3:  # "64 x 64 x 20": the spatial part
        numbers = numbers[:2]
    return (numbers[0], numbers[0]) if len(numbers) == 1 else (numbers[0], numbers[1])


_UNSIGNED = re.compile(r"\d+(?:\.\d+)?")
_KERNEL = re.compile(r"\d+\s*[x×*]\s*\d+")
_NONE = re.compile(r"\b(none|no|nothing|neither|zero)\b", re.IGNORECASE)


def parse_set(text: str) -> tuple[int, ...] | None:
    """Whole numbers listed in ``text`` ('4 and 6', 'rates 4, 6') as a sorted tuple;
    () for 'none' (or only 0); None when there is nothing readable. Kernel sizes
    such as '3x3' are not read as members."""
    text = _KERNEL.sub(" ", text)
    values = [float(n) for n in _UNSIGNED.findall(text)]  # 'rate-6' is rate 6, not minus 6
    if any(not v.is_integer() for v in values):
        return None
    members = sorted({int(v) for v in values if v > 0})
    if members:
        return tuple(members)
    if values or _NONE.search(text):
        return ()
    return None


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def _singular_forms(word: str) -> set[str]:
    """A normalised name and the forms it has without a plural ending ('gloves' -> 'glove')."""
    forms = {word}
    if word.endswith("es"):
        forms.add(word[:-2])
    if word.endswith("s"):
        forms.add(word[:-1])
    return forms


#: Other ways students name a class (normalised).
_SYNONYMS = {"shirt": 5, "tshirt": 5, "top": 5, "upperclothing": 5, "jacket": 7, "trousers": 9, "jeans": 9,
             "skin": 10, "torso": 10, "scarves": 11, "glasses": 4, "bg": 0}


def parse_class(text: str) -> int | None:
    """A class id from its id ('5') or name in any case, singular or plural
    ('upper clothes', 'UpperClothes', 'left arms', 'gloves')."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        value = int(text)
        return value if 0 <= value < len(CLASS_NAMES) else None
    wanted = _normalise(text)
    if not wanted:
        return None
    forms = _singular_forms(wanted)
    for class_id, name in enumerate(CLASS_NAMES):
        if forms & _singular_forms(_normalise(name)):
            return class_id
    synonym = next((_SYNONYMS[form] for form in forms if form in _SYNONYMS), None)
    if synonym is not None:
        return synonym
    leading = re.match(r"\d+", text)
    if leading and int(leading.group()) < len(CLASS_NAMES):  # "5 UpperClothes"
        return int(leading.group())
    return None


def _matches(question: Question, kind: str, expected: Any, accepted: Sequence[int], value: Any) -> bool:
    if kind == "number":
        tolerance = question.tolerance or 1e-6 * max(1.0, abs(float(expected)))
        return abs(value - float(expected)) <= tolerance + 1e-12
    if kind == "size":
        return tuple(value) == tuple(expected)
    if kind == "set":
        return tuple(sorted(value)) == tuple(sorted(expected))
    return value in (accepted or (expected,))


def _parse(kind: str, text: str):
    return {"number": parse_number, "size": parse_size, "set": parse_set}.get(kind, parse_class)(text)


_UNREADABLE = {
    "number": "Please answer with a number.",
    "size": "Please answer as height × width, e.g. 128 x 128.",
    "set": "Please list the numbers (e.g. '4, 6'), or write 'none'.",
    "class": "Please answer with a class name (as in the legend) or its id.",
}


def _shown(kind: str, value: Any) -> str:
    if kind == "size":
        return f"{value[0]} × {value[1]}"
    if kind == "class":
        return f"{value} {CLASS_NAMES[value]}"
    if kind == "set":
        return _value_text("set", value)
    return format_number(value)


def check_answer(question: Question, text: str | None) -> Feedback:
    """Compare a student's answer with the value computed for ``question`` and,
    when it has alternatives, with the other model's value."""
    text = (text or "").strip()
    if not text:
        return Feedback("empty", "")
    if not question.checkable:
        return Feedback("open", "Saved. This question has no single value to check; compare with the model "
                                "answer and discuss it in class.")
    hint = f" Hint: {question.hint}" if question.hint else ""
    value = _parse(question.kind, text)
    if value is None:
        return Feedback("unreadable", _UNREADABLE[question.kind])
    mine = _matches(question, question.kind, question.answer, question.accepted, value)
    alternatives = [alt for alt in question.alternatives
                    if alt.answer is not None and _matches(question, question.kind, alt.answer, alt.accepted, value)]
    if mine:
        same = [alt for alt in question.alternatives if alt.answer is not None and _matches(
            question, question.kind, alt.answer, alt.accepted, question.answer)]
        if same:
            return Feedback("correct", f"Correct: {question.answer_text()}, for {question.source} and "
                                       f"{same[0].source} alike.", "both")
        where = f" for {question.source}" if question.alternatives and question.source else ""
        return Feedback("correct", f"Correct{where}: {question.answer_text()}.", "primary")
    if alternatives:
        alt = alternatives[0]
        theirs = _value_text(question.kind, alt.answer, alt.accepted, question.unit)
        return Feedback("correct", f"Right for {alt.source}: {theirs}. {question.source[:1].upper()}"
                                   f"{question.source[1:]} gives {question.answer_text()}.", "alternative")
    return Feedback("not_yet", f"Not yet: {_shown(question.kind, value)} is not what this model and data give."
                               f"{hint}")


# ---------------------------------------------------------------------------
# Markdown export, and loading it back
# ---------------------------------------------------------------------------

_FACT_LABELS = (
    ("dataset", "Dataset"), ("split", "Split analysed"), ("num_images", "Images in the split"),
    ("model_label", "Model"), ("model_preset", "Preset"), ("backbone", "Backbone"),
    ("image_size", "Input size (px)"), ("params", "Parameters"), ("atrous_rates", "Atrous rates"),
    ("run_id", "Run"), ("run_best_val_mean_iou", "Best validation mean IoU of the run"),
)

#: Longest answer (characters) kept from a file or the browser's storage.
MAX_ANSWER_CHARS = 20_000
#: Longest student name kept.
MAX_NAME_CHARS = 200
_ANSWER_OPEN = re.compile(r"^\s*<!-- answer: ([A-Za-z0-9_]+) -->\s*$")
_ANSWER_CLOSE = re.compile(r"^\s*<!-- end of answer -->\s*$")
_STUDENT = re.compile(r"^- \*\*Student:\*\* ?(.*)$")
_NO_ANSWER = "_(no answer yet)_"


def key_number_rows(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """``(label, value)`` rows of the context a student was looking at."""
    rows = []
    for key, label in _FACT_LABELS:
        value = facts.get(key)
        if value is None or value == "" or value == []:
            continue
        if key == "params":
            value = f"{int(value):,}"
        elif key == "run_best_val_mean_iou":
            value = f"{float(value):.3f}"
        elif isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        rows.append((label, str(value)))
    return rows


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def answers_markdown(exercises: Sequence[Exercise], answers: dict[str, str], facts: dict[str, Any],
                     *, student: str = "", date: _datetime.date | str | None = None,
                     title: str = "Semantic segmentation lab: my answers") -> str:
    """The student's answers as a Markdown file: their name and the date, the key
    numbers of the dataset, model and run they were looking at and, for checkable
    questions, the computed value and whether the answer matched it.

    Each answer sits between two HTML comments (invisible when the file is
    rendered) so that ``parse_answers_markdown`` can load it back, edits included.
    """
    date = date or _datetime.date.today()
    date_text = date.isoformat() if isinstance(date, _datetime.date) else str(date)
    lines = [f"# {title}", "", f"- **Student:** {_one_line(student)[:MAX_NAME_CHARS]}",
             f"- **Date:** {date_text}", "", "## What I was looking at", ""]
    lines += [f"- **{label}:** {value}" for label, value in key_number_rows(facts)]
    for exercise in exercises:
        lines += ["", f"## Exercise {exercise.key}: {exercise.title}", ""]
        for number, question in enumerate(exercise.questions, start=1):
            answer = (answers.get(question.key) or "").strip()
            lines.append(f"{number}. {question.text}")
            lines.append("")
            lines.append(f"   <!-- answer: {question.key} -->")
            lines.append("   **Answer:** " + (answer.replace("\n", "\n   ") if answer else _NO_ANSWER))
            lines.append("   <!-- end of answer -->")
            if question.checkable:
                feedback = check_answer(question, answer)
                verdict = {"correct": "correct", "empty": "not answered"}.get(feedback.status, "not yet")
                if feedback.matched == "alternative":
                    verdict = "correct for the Keras example"
                lines.append("")
                lines.append(f"   *Computed value: {question.answer_text()} ({verdict}).*")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


@dataclasses.dataclass(frozen=True)
class SavedAnswers:
    """Answers read back from an exported file or the browser's storage."""

    student: str
    answers: dict[str, str]


def parse_answers_markdown(text: str) -> SavedAnswers:
    """Read the student's name and answers back from a file ``answers_markdown`` wrote.

    Raises:
        ValueError: when the text holds no answer written by ``answers_markdown``.
    """
    if not isinstance(text, str):
        raise ValueError(f"Expected the text of a Markdown file. Received: {type(text).__name__}")
    student = ""
    answers: dict[str, str] = {}
    key: str | None = None
    block: list[str] = []
    found = False
    for line in text.splitlines():
        if key is None:
            opened = _ANSWER_OPEN.match(line)
            if opened:
                key, block, found = opened.group(1), [], True
                continue
            named = _STUDENT.match(line)
            if named and not student:
                student = named.group(1).strip()[:MAX_NAME_CHARS]
            continue
        if _ANSWER_CLOSE.match(line):
            answer = "\n".join(block).strip()
            if answer.startswith("**Answer:**"):
                answer = answer[len("**Answer:**"):].strip()
            if answer and answer != _NO_ANSWER:
                answers[key] = answer[:MAX_ANSWER_CHARS]
            key = None
            continue
        block.append(line[3:] if line.startswith("   ") else line.lstrip(" "))
    if not found:
        raise ValueError("This file has no answers written by the Exercises page (each answer sits between "
                         "'<!-- answer: ... -->' and '<!-- end of answer -->'). Download your answers first, "
                         "then load that file.")
    return SavedAnswers(student, answers)


#: Version of what the browser keeps (``storage_text``).
STORAGE_VERSION = 1


def storage_text(answers: dict[str, str], student: str = "") -> str:
    """What the page keeps in the browser (JSON): the student's name and non-empty answers."""
    kept = {str(k): str(v)[:MAX_ANSWER_CHARS] for k, v in answers.items() if isinstance(v, str) and v.strip()}
    return json.dumps({"version": STORAGE_VERSION, "student": str(student or "")[:MAX_NAME_CHARS],
                       "answers": kept}, ensure_ascii=False, sort_keys=True)


_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def parse_storage(raw: Any) -> SavedAnswers:
    """Read what ``storage_text`` wrote; anything unreadable (another version, edited
    by hand, not JSON) gives no answers rather than an error."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        return SavedAnswers("", {})
    answers = {key: value[:MAX_ANSWER_CHARS] for key, value in list(data["answers"].items())[:500]
               if isinstance(key, str) and _KEY.match(key) and isinstance(value, str) and value.strip()}
    student = data.get("student") if isinstance(data.get("student"), str) else ""
    return SavedAnswers(student[:MAX_NAME_CHARS], answers)


def merge_answers(current: dict[str, str], saved: dict[str, str], *, replace: bool = False) -> dict[str, str]:
    """``current`` with ``saved`` added: with ``replace`` a saved answer wins, otherwise it
    only fills questions that have no answer yet (the browser's copy never overwrites
    what was typed in this session)."""
    merged = dict(current)
    for key, value in saved.items():
        if replace or not (merged.get(key) or "").strip():
            merged[key] = value
    return merged
