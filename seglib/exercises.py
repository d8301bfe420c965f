"""The lab's exercises 13-1 ... 13-6: questions, checkable answers and the Markdown export.

The questions are written for this project. Questions with a number or a class
for an answer are *checked*: the expected value is computed from the dataset,
model and receptive-field analysis in use (``key_numbers``), never typed in as
a constant, so the check stays right when a student switches dataset, preset
or input size. Open questions are kept as text and exported with the answers.

No Streamlit here: the exercises page draws what this module returns.

>>> facts = {"num_classes": 20, "output_height": 64, "output_width": 64, "image_size": 64}
>>> question = next(q for q in build_exercises(facts)[2].questions if q.key == "output_channels")
>>> check_answer(question, "20").correct
True
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Sequence

from seglib.classes import CLASS_NAMES

#: Question kinds: free text, a number (with tolerance), an image size ``H x W``,
#: or a class (by name or id).
KINDS = ("text", "number", "size", "class")


@dataclasses.dataclass(frozen=True)
class Link:
    """A page of the dashboard that shows what a question asks about.

    ``page`` is the file under ``pages/``; ``params`` the query parameters that
    preselect the view there (image, pixel, preset, run ...).
    """

    page: str
    label: str
    params: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Question:
    """One question of an exercise.

    ``answer`` is the value a checkable question expects (``None`` for open
    questions, or when the data needed to compute it is missing); ``tolerance``
    the absolute tolerance of numbers; ``accepted`` the class ids that count as
    right for class questions (ties); ``hint`` where to look when the answer is
    not right yet.
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
        if self.kind == "size":
            return f"{self.answer[0]} × {self.answer[1]}"
        if self.kind == "class":
            return " or ".join(f"{i} {CLASS_NAMES[i]}" for i in self.accepted)
        return format_number(self.answer) + (f" {self.unit}" if self.unit else "")


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One exercise: its number, a title, why it matters, questions and links."""

    key: str
    title: str
    intro: str
    questions: tuple[Question, ...]
    links: tuple[Link, ...] = ()


@dataclasses.dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: ``status`` is 'empty', 'open' (not checkable),
    'correct', 'not_yet' or 'unreadable' (the text is not a number/class)."""

    status: str
    message: str

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
        return f"{value:.0f}" if value.is_integer() else f"{value:.3g}" if abs(value) < 1 else f"{value:.4g}"
    return str(value)


def dataset_numbers(stats) -> dict[str, Any]:
    """Class-balance numbers of one split (a ``seglib.stats.DatasetStats``).

    The most frequent class is taken *excluding* background (id 0); the rarest
    among the classes that appear at all (absent classes are listed apart), so
    both questions have an answer a student can find in the bar chart.
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
    return numbers


def model_numbers(model) -> dict[str, Any]:
    """Shape and scale numbers of a Keras segmentation model.

    Output height, width and channels are read from the last layer; the stride
    and the widest atrous branch's tap spacing and receptive field from
    ``seglib.receptive.aspp_analysis`` (they follow the model's input size and
    rates, so a demo model with other rates gets other answers).
    """
    from seglib import model as seglib_model
    from seglib import receptive

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
    return numbers


def run_numbers(run_id: str | None) -> dict[str, Any]:
    """The run a model came from, with its best validation mean IoU (empty without a run)."""
    if not run_id:
        return {}
    from seglib import runs

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


# ---------------------------------------------------------------------------
# The exercises
# ---------------------------------------------------------------------------

def _class_list(ids: Sequence[int]) -> str:
    return ", ".join(f"{i} {CLASS_NAMES[i]}" for i in ids)


def build_exercises(facts: dict[str, Any]) -> list[Exercise]:
    """The six exercises, with checkable answers taken from ``facts``
    (the merged output of ``dataset_numbers``, ``model_numbers`` and ``run_numbers``).

    A fact that is missing (no dataset, a model without ASPP) leaves its
    question open instead of checking against a made-up value.
    """
    get = facts.get
    size = get("image_size")
    rate = get("widest_rate")
    run_params = {"run": facts["run_id"]} if get("run_id") else {}
    rate_text = f"rate-{rate}" if rate else "widest atrous"
    # The Model page rebuilds the architecture of the model in use (its preset at its input size).
    model_params = {key: str(value) for key, value in
                    (("preset", get("model_preset")), ("size", size)) if value}

    exercises = [
        Exercise(
            "13-1", "Labels that mean something",
            "Each mask pixel carries a class id; the colours only make the ids visible. "
            "Before training anything, check that the ids describe the people in the photo.",
            (
                Question("labels_meaning", "13-1",
                         "Pick one person and name three coloured regions with the body part or garment "
                         "under them. Do the labels follow how a body is built? Give one example "
                         "(e.g. where the face region sits relative to hair and upper clothes)."),
                Question("labels_consistent", "13-1",
                         "Is a class drawn with the same id (and colour) in every image? "
                         "What would a network learn if the same id meant 'hair' in one image and 'hat' in another?"),
                Question("num_classes", "13-1",
                         "How many different labels can one pixel take (background included)?",
                         kind="number", answer=get("num_classes") or get("num_classes_data"),
                         hint="Count the entries of the class legend on the Dataset explorer."),
            ),
            (Link("dataset.py", "Images and masks side by side"),),
        ),
        Exercise(
            "13-2", "Scales, and how the encoder covers them",
            "People in the photos range from a few pixels to the whole frame, and their parts even more so. "
            "The backbone shrinks the image by its output stride; the ASPP branches then look at "
            "neighbours spaced further and further apart.",
            (
                Question("scales", "13-2",
                         "Describe the range of scales you see in the masks: the smallest and largest people, "
                         "and the smallest parts (shoes, gloves, sunglasses)."),
                Question("stride", "13-2",
                         "By how many input pixels does one step on the ASPP input map move (the output stride)?",
                         kind="number", answer=get("stride"), unit="px",
                         hint="The Atrous scales page prints it next to the ASPP map size."),
                Question("widest_spacing", "13-2",
                         f"How far apart, in input pixels, are neighbouring taps of the {rate_text} branch?",
                         kind="number", answer=get("widest_spacing"), unit="px",
                         hint="The spacing is the rate times the output stride; the branch table on the "
                              "Atrous scales page lists it."),
                Question("widest_receptive_field", "13-2",
                         f"How wide (in input pixels) is the theoretical receptive field of one unit of the "
                         f"{rate_text} branch?",
                         kind="number", answer=get("widest_receptive_field"), unit="px",
                         tolerance=max(1.0, 0.01 * (get("widest_receptive_field") or 0)),
                         hint="Look at the 'receptive field (px)' column of the branch table."),
                Question("encoder_scales", "13-2",
                         "Using the numbers above, explain which range of scales the encoder combines "
                         "and why the image-pooling branch is there."),
                Question("output_size", "13-2",
                         f"For a {size} px input, what are the height × width of the model's output?",
                         kind="size",
                         answer=(get("output_height"), get("output_width")) if get("output_height") else None,
                         hint="The last row of the layer table on the Model page."),
            ),
            (Link("atrous.py", "Atrous taps on a real image"), Link("dataset.py", "Person heights"),
             Link("model.py", "Layer table", model_params)),
        ),
        Exercise(
            "13-3", "Why this output shape",
            "The network is fully convolutional: no dense layer, so its output is a map, not a vector.",
            (
                Question("output_channels", "13-3",
                         "How many channels does the last layer output?",
                         kind="number", answer=get("num_classes"),
                         hint="The channel count is the last number of the output shape on the Model page."),
                Question("why_shape", "13-3",
                         "In a sentence or two: why must the output have the input's height and width, "
                         "and why this many channels?"),
            ),
            (Link("model.py", "Layer table and stages", model_params),),
        ),
        Exercise(
            "13-4", "Class imbalance and the loss",
            "Count pixels per class over the training split: a few classes own most of the pixels.",
            (
                Question("background_fraction", "13-4",
                         "What fraction of the labelled pixels is background? (two decimals, e.g. 0.42)",
                         kind="number", answer=get("background_fraction"), tolerance=0.01,
                         hint="The class-balance chart on the Dataset explorer; background is class 0."),
                Question("most_frequent", "13-4",
                         "Apart from background, which class has the most pixels? (name or id)",
                         kind="class", answer=(get("most_frequent") or [None])[0],
                         accepted=tuple(get("most_frequent") or ()),
                         hint="Sort the class-balance bars, skip background."),
                Question("rarest", "13-4",
                         "Which class that appears at all has the fewest pixels? (name or id)",
                         kind="class", answer=(get("rarest") or [None])[0], accepted=tuple(get("rarest") or ()),
                         hint="The shortest non-zero bar of the class-balance chart (log scale helps)."),
                Question("imbalance", "13-4",
                         "What do these fractions say about class imbalance, and would you expect the same "
                         "in other segmentation problems (roads, medical scans)? Why?"),
                Question("loss_choice", "13-4",
                         "Why does sparse categorical cross-entropy on the logits suit this problem? "
                         "What does it do with the ignore label, and what could you add against the imbalance?"),
            ),
            (Link("dataset.py", "Class balance"), Link("training.py", "Loss curves", run_params)),
        ),
        Exercise(
            "13-5", "From logits to a class per pixel",
            "The model returns raw scores (logits), one per class for every pixel; no softmax is built in.",
            (
                Question("logits_per_pixel", "13-5",
                         "How many logits does the model give for one pixel?",
                         kind="number", answer=get("num_classes"),
                         hint="Click a pixel on the Predictions page: the logit chart has one bar per class."),
                Question("argmax", "13-5",
                         "How is one class chosen from these numbers, and why does adding a softmax first "
                         "not change the answer?"),
            ),
            (Link("predictions.py", "Logits of one pixel", {"image": "0"}),),
        ),
        Exercise(
            "13-6", "Where the errors are",
            "The difference view shows |truth − prediction| scaled to [0, 1]; bright pixels are wrong.",
            (
                Question("error_regions", "13-6",
                         "How large are the bright (high-error) regions compared with the whole image? "
                         "Which classes are they, and what does that say about class imbalance?"),
            ),
            (Link("predictions.py", "Truth, prediction and difference", {"image": "0"}),
             Link("training.py", "Per-class IoU of the run", run_params)),
        ),
    ]
    return exercises


def all_questions(exercises: Sequence[Exercise]) -> list[Question]:
    return [question for exercise in exercises for question in exercise.questions]


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


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def parse_class(text: str) -> int | None:
    """A class id from its id ('5') or name ('upper clothes', 'UpperClothes', 'left arm')."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        value = int(text)
        return value if 0 <= value < len(CLASS_NAMES) else None
    wanted = _normalise(text)
    if not wanted:
        return None
    for class_id, name in enumerate(CLASS_NAMES):
        if _normalise(name) == wanted:
            return class_id
    leading = re.match(r"\d+", text)
    if leading and int(leading.group()) < len(CLASS_NAMES):  # "5 UpperClothes"
        return int(leading.group())
    return None


def check_answer(question: Question, text: str | None) -> Feedback:
    """Compare a student's answer with the value computed for ``question``."""
    text = (text or "").strip()
    if not text:
        return Feedback("empty", "")
    if not question.checkable:
        return Feedback("open", "Saved. This question has no single number to check; discuss it in class.")
    hint = f" Hint: {question.hint}" if question.hint else ""
    if question.kind == "number":
        value = parse_number(text)
        if value is None:
            return Feedback("unreadable", "Please answer with a number.")
        tolerance = question.tolerance or 1e-6 * max(1.0, abs(float(question.answer)))
        if abs(value - float(question.answer)) <= tolerance + 1e-12:
            return Feedback("correct", f"Correct: {question.answer_text()}.")
        return Feedback("not_yet", f"Not yet: {format_number(value)} is not what this model and data give.{hint}")
    if question.kind == "size":
        value = parse_size(text)
        if value is None:
            return Feedback("unreadable", "Please answer as height × width, e.g. 128 x 128.")
        if tuple(value) == tuple(question.answer):
            return Feedback("correct", f"Correct: {question.answer_text()}.")
        return Feedback("not_yet", f"Not yet: {value[0]} × {value[1]} is not the output size.{hint}")
    value = parse_class(text)
    if value is None:
        return Feedback("unreadable", "Please answer with a class name (as in the legend) or its id.")
    if value in question.accepted:
        return Feedback("correct", f"Correct: {question.answer_text()}.")
    return Feedback("not_yet", f"Not yet: {value} {CLASS_NAMES[value]} is not it.{hint}")


# ---------------------------------------------------------------------------
# Markdown export
# ---------------------------------------------------------------------------

_FACT_LABELS = (
    ("dataset", "Dataset"), ("split", "Split analysed"), ("num_images", "Images in the split"),
    ("model_label", "Model"), ("model_preset", "Preset"), ("backbone", "Backbone"),
    ("image_size", "Input size (px)"), ("params", "Parameters"), ("atrous_rates", "Atrous rates"),
    ("run_id", "Run"), ("run_best_val_mean_iou", "Best validation mean IoU of the run"),
)


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


def answers_markdown(exercises: Sequence[Exercise], answers: dict[str, str], facts: dict[str, Any],
                     *, title: str = "Semantic segmentation lab: my answers") -> str:
    """The student's answers as a Markdown file, with the key numbers of the
    dataset, model and run they were looking at and, for checkable questions,
    the computed value and whether the answer matched it."""
    lines = [f"# {title}", "", "## What I was looking at", ""]
    lines += [f"- **{label}:** {value}" for label, value in key_number_rows(facts)]
    for exercise in exercises:
        lines += ["", f"## Exercise {exercise.key}: {exercise.title}", ""]
        for number, question in enumerate(exercise.questions, start=1):
            answer = (answers.get(question.key) or "").strip()
            lines.append(f"{number}. {question.text}")
            lines.append("")
            lines.append("   **Answer:** " + (answer.replace("\n", "\n   ") if answer else "_(no answer yet)_"))
            if question.checkable:
                feedback = check_answer(question, answer)
                verdict = {"correct": "correct", "empty": "not answered"}.get(feedback.status, "not yet")
                lines.append(f"   *Computed value: {question.answer_text()} ({verdict}).*")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
