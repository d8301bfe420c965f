"""The lab's statements follow what the dashboard measures (issue 24 §1, §5 and §6).

The loss shares are measured on the default synthetic data (drawn by the project's own generator with its
default settings: a few validation images) for the shipped demo model and for a model with random weights,
and every sentence that states a direction is checked against them. The other statements are checked
against the numbers that decide them (receptive fields, strides, rates, the presets' augmentation), and
the lab's texts against the words they must no longer use.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seglib import settings
from seglib.analysis.aspp import BRANCH_HEADINGS
from seglib.presets import get_preset
from seglib.lab import checks as lab_checks
from seglib.lab import exercises as ex
from seglib.lab.exercises.labels import flip_premise
from seglib.lab import facts as lab_facts
from seglib.analysis import loss_shares
from seglib.evaluation import losses

ROOT = Path(__file__).resolve().parent.parent
NOTES = (ROOT / "assets" / "instructor_notes.md").read_text(encoding="utf-8")
#: Validation images of the default data the shares are measured on (first of the split, as the page does).
SHARE_IMAGES = 12


def _all_text(exercises) -> str:
    parts = []
    for exercise in exercises:
        parts += [exercise.intro, *exercise.notes]
        for question in exercise.questions:
            parts += [question.text, question.hint, question.model_answer]
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# §1 What the loss does with imbalance, as measured
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shares(tmp_path_factory):
    """``loss_shares`` of the demo model and of the lecture model with random weights, on the first
    validation images of the default synthetic data (the generator's default settings, drawn at its
    default size: the demo model learnt from those drawings shrunk to its 160 px, and drawings made
    at 160 px directly differ enough to halve its IoU). The images are fed at the model's 160 px."""
    from seglib.data.dataset import open_dataset
    from seglib.data.synth import generate_dataset
    from seglib.model.deeplab import build_model
    from seglib.model.saving import load_model
    from seglib.training import demo

    if not demo.has_demo_model():
        pytest.skip("the demo model is not shipped in this checkout")
    default = settings.DEFAULT_SYNTH
    folder = tmp_path_factory.mktemp("default-data") / "synthetic"
    generate_dataset(folder, train=1, val=SHARE_IMAGES, size=default["size"], seed=default["seed"], workers=1)
    pairs = open_dataset(folder).split("val")
    random_model = build_model(get_preset("lecture").with_overrides({"model.weights": "none"}).model)
    return {"demo": loss_shares.loss_shares(load_model(demo.demo_model_path()), pairs, None, 20, limit=None),
            "random": loss_shares.loss_shares(random_model, pairs, None, 20, limit=None)}


RARE_PARTS = ("Glove", "Sunglasses", "Socks")


def _ratios(table) -> pd.Series:
    return pd.Series(loss_shares.share_ratios(table), index=table["class"])


@pytest.mark.slow
def test_the_measured_directions(shares):
    """What RANDOM_VS_TRAINED says, measured: a trained model's background carries less than its pixel
    share (far less: under half) and every other class more, the rare parts several times (over 2x);
    a model with random weights weighs every class by its pixel count (within SHARE_TOLERANCE)."""
    demo, random = _ratios(shares["demo"]).dropna(), _ratios(shares["random"]).dropna()
    assert loss_shares.share_direction(demo["Background"]) == "less" and demo["Background"] < 0.5
    assert (demo.drop("Background") > 1).all(), demo
    assert all(demo[name] > 2 for name in RARE_PARTS if name in demo), demo
    assert {loss_shares.share_direction(value) for value in random} == {"about"}, random


@pytest.mark.slow
def test_the_sentence_under_the_chart_reads_the_direction_from_the_shares(shares):
    demo = loss_shares.loss_share_sentence(shares["demo"])
    background = shares["demo"].iloc[0]
    assert "but only" in demo and "least wrong on it" in demo
    assert loss_shares.share_text(background["pixel share"]) in demo
    assert loss_shares.share_text(background["cross-entropy share"]) in demo
    random = loss_shares.loss_share_sentence(shares["random"])
    assert "about equally wrong everywhere" in random and "by its pixel count" in random
    assert "but only" not in random


@pytest.mark.slow
def test_what_the_other_losses_do_as_the_dataset_explorer_says(shares):
    """Weighted cross-entropy lifts the rarest class whatever the model; focal loss takes weight from
    background only once the model has learnt something."""
    for table in shares.values():
        rarest = table[table["pixels"] > 0].sort_values("pixels").iloc[0]
        assert rarest["weighted-cross-entropy share"] > 10 * rarest["pixel share"]
    demo, random = shares["demo"].iloc[0], shares["random"].iloc[0]
    assert demo["focal share"] < demo["cross-entropy share"]
    assert random["focal share"] == pytest.approx(random["cross-entropy share"], rel=loss_shares.SHARE_TOLERANCE)


@pytest.mark.slow
def test_every_sentence_that_states_a_direction_matches_the_measurement(shares):
    """The statements written once (losses' constants) and those of the exercise, the notes and the demo
    card: each direction they state is the measured one."""
    demo, random = _ratios(shares["demo"]).dropna(), _ratios(shares["random"]).dropna()
    trained_less = loss_shares.share_direction(demo["Background"]) == "less"
    random_by_count = {loss_shares.share_direction(value) for value in random} == {"about"}
    rare_several = all(demo[name] > 2 for name in RARE_PARTS if name in demo)
    statements = {
        loss_shares.RANDOM_VS_TRAINED: {
            "random weights is about equally wrong everywhere, so its loss weighs each class by its pixel count":
                random_by_count,
            "background, which then carries less of the loss than of the pixels": trained_less,
            "the classes it still gets wrong carry more than theirs": bool((demo.drop("Background") > 1).all())},
        ex.build_exercises({})[3].questions[-1].model_answer: {
            "With random weights the blue bars repeat the grey ones": random_by_count,
            "background carries far less of the loss than of the pixels": demo["Background"] < 0.5,
            "the rare parts several times their pixel share": rare_several},
        NOTES: {
            "With the demo model background holds\n     far less of the loss than of the pixels":
                demo["Background"] < 0.5,
            "switch to an untrained model and the shares follow the pixels": random_by_count,
            "the rare parts several times their pixel share": rare_several,
            "With an untrained model the blue bars repeat the grey ones": random_by_count},
        (ROOT / "assets" / "demo_model" / "model_card.md").read_text(encoding="utf-8"): {
            "even at several times their pixel share of the loss": rare_several},
    }
    for text, claims in statements.items():
        flat = " ".join(text.split())
        for claim, measured in claims.items():
            assert " ".join(claim.split()) in flat, claim
            assert measured, claim
    # What the texts said before, which the measurement contradicts, is gone everywhere.
    everything = " ".join((_all_text(ex.build_exercises({})) + NOTES + losses.__doc__ + loss_shares.__doc__).split())
    for wrong in ("counts as much as it has pixels", "dominates the gradient",
                  "follows its share of the pixels", "the pixel counts do", "also holds most of the loss"):
        assert wrong not in everything, wrong


def _table(pixels, ce) -> pd.DataFrame:
    """A ``loss_shares``-like table from pixel counts and cross-entropy sums per class (by hand)."""
    pixels, ce = np.asarray(pixels, float), np.asarray(ce, float)
    table = pd.DataFrame({"class id": range(len(pixels)), "class": [f"c{i}" for i in range(len(pixels))],
                          "pixels": pixels.astype(int), "pixel share": pixels / pixels.sum(),
                          "mean cross-entropy": ce / np.maximum(pixels, 1),
                          "cross-entropy share": ce / ce.sum()})
    table.attrs["mean_loss"] = {"cross-entropy": ce.sum() / pixels.sum()}
    return table


def test_the_sentence_for_each_direction():
    less = loss_shares.loss_share_sentence(_table([80, 15, 5], [8, 6, 6]))
    assert less.startswith("Here background has 80.0% of the pixels but only 40.0% of the cross-entropy")
    assert "2 to 6 times their pixel share" in less and "c2, holds 5.0% of the pixels and 30.0% of the loss" in less
    about = loss_shares.loss_share_sentence(_table([80, 15, 5], [80, 15, 5]))
    assert "about equally wrong everywhere" in about
    more = loss_shares.loss_share_sentence(_table([80, 15, 5], [90, 5, 5]))
    assert "more than its pixel share" in more and "more wrong on background" in more
    assert "cannot be compared" in loss_shares.loss_share_sentence(_table([0, 5], [0, 1]))
    assert [loss_shares.share_direction(r) for r in (0.5, 0.95, 1.05, 2.0)] == ["less", "about", "about", "more"]


# ---------------------------------------------------------------------------
# §6 Statements decided by a number
# ---------------------------------------------------------------------------

def test_the_stride_is_the_grids_spacing_not_what_a_unit_sees():
    lecture = get_preset("lecture").model
    facts = {**lab_checks.config_numbers(lecture), "model_preset": "lecture"}
    answer = next(q for q in ex.all_questions(ex.build_exercises(facts)) if q.key == "stride").model_answer
    field, size = facts["backbone_field"], facts["image_size"]
    assert field > 10 * facts["stride"]  # "several hundred pixels", not a 16 x 16 block
    assert f"sit {facts['stride']:g} input pixels apart" in answer and "not what a unit sees" in answer
    assert f"{field:g} px wide" in answer
    assert (f"more than the whole {size} px image" in answer) == (field >= size)
    assert "block of input pixels" not in _all_text(ex.build_exercises(facts))


def test_the_instructor_notes_numbers_on_the_atrous_page():
    """At the lecture model's size every ASPP unit's field covers the image, so the notes may not read
    taps as what a branch sees; the numbers they quote are the model's."""
    lecture = get_preset("lecture").model
    field = lab_checks.backbone_receptive_field(lecture.backbone)
    assert field >= lecture.image_size
    flat = " ".join(NOTES.split())
    assert f"at {lecture.image_size} px every ASPP unit's receptive field is already {field} px" in flat
    assert f"every unit's theoretical field ({field} px) covers the whole image" in flat
    assert f"rate-{min(lecture.atrous_rates)} branch's taps ({min(lecture.atrous_rates) * lecture.output_stride} " \
           "px apart)" in flat
    assert f"Neighbouring ASPP units are {lecture.output_stride} px apart" in flat
    assert "already reaches around the small person" not in flat and "reach around" not in flat


def test_the_encoder_answer_says_taps_combine_features_when_fields_cover_the_image():
    lecture = get_preset("lecture").model
    facts = {**lab_checks.config_numbers(lecture), "model_preset": "lecture"}
    answer = next(q for q in ex.all_questions(ex.build_exercises(facts)) if q.key == "encoder_scales").model_answer
    assert (f"receptive field of {facts['backbone_field']:g} px, more than the whole image" in answer) == (
        facts["backbone_field"] >= facts["image_size"])
    assert "covers a larger square of the image" not in answer


def test_any_size_is_said_with_the_rates_that_must_fit():
    """The weights run at any size; at a smaller size offered on the Model page, some rate of the lecture
    preset reads only padding (what the Model page's caption and 13-3's answer add)."""
    lecture = get_preset("lecture").model
    smaller = lab_checks.probe_size(lecture.atrous_rates, lecture.output_stride)
    assert smaller < lecture.image_size
    assert lab_checks.one_by_one_rates(lecture.atrous_rates, smaller // lecture.output_stride)
    source = (ROOT / "pages" / "model.py").read_text(encoding="utf-8")
    assert "can label images of any size" not in source and "at smaller inputs the wide rates read only padding" \
        in source
    why = next(q for q in ex.all_questions(ex.build_exercises({})) if q.key == "why_shape").model_answer
    assert "the atrous rates suit one feature-map size" in why


@pytest.mark.parametrize("preset", ["lecture", "course", "keras-example"])
def test_the_flip_premise_follows_the_presets_augmentation(preset):
    augment = get_preset(preset).data.augment
    for trained in (True, False):
        premise = flip_premise(augment, trained)
        assert ("flips some images left to right (augmentation, `data.augment = True`)" in premise
                or "flipped some images" in premise) == augment
        assert ("`data.augment = False`" in premise) == (not augment)
    question = next(q for q in ex.all_questions(ex.build_exercises({"augment": augment, "augment_trained": False}))
                    if q.key == "flip_label")
    assert question.text.startswith(flip_premise(augment, False))


def test_the_pixel_question_asks_for_what_the_page_does_not_print():
    """The page prints softmax(logits); the question asks for softmax(logits / T)."""
    logits = np.zeros(20)
    logits[[3, 7]] = [2.0, 1.6]
    numbers = lab_checks.pixel_numbers(logits)
    assert numbers["probability"] < 0.9
    expected = np.exp(2.0 / 2) / (np.exp(2.0 / 2) + np.exp(1.6 / 2) + 18)
    assert numbers["tempered_probability"] == pytest.approx(expected)
    assert abs(numbers["tempered_probability"] - numbers["probability"]) > 0.05


def test_the_uncertain_pixel_is_the_one_nearest_the_target():
    """A prediction whose winning probability grows from left to right: the pixel chosen is on the
    inspector's grid, with a winning probability near 0.6, well below 0.9."""
    from seglib.evaluation.inference import Prediction, softmax
    from seglib.figures.inspector import inspector_grid

    size = 32
    logits = np.zeros((size, size, 20), np.float32)
    logits[:, :, 5] = np.linspace(0.0, 8.0, size)[None, :]
    prediction = Prediction(model_logits=logits, mask=np.full((size, size), 5, np.uint8), input_size=size,
                            image_size=(size, size), class_counts=np.zeros(20, np.int64))
    row, column = lab_checks.uncertain_pixel(prediction)
    rows, columns = inspector_grid(size, size)
    assert row in rows and column in columns
    chosen = float(softmax(prediction.logits_at(row, column)).max())
    on_grid = softmax(prediction.logits_on(rows, columns)).max(axis=-1)
    assert abs(chosen - lab_checks.UNCERTAIN_TARGET) == pytest.approx(np.abs(on_grid - 0.6).min(), abs=1e-5)
    assert chosen < 0.75


def test_the_hint_names_the_column_as_the_atrous_page_heads_it():
    hint = next(q for q in ex.all_questions(ex.build_exercises({})) if q.key == "widest_receptive_field").hint
    assert f"'{BRANCH_HEADINGS['receptive field (px)']}' column" in hint
    source = (ROOT / "ui" / "atrous.py").read_text(encoding="utf-8")  # the Atrous page's branch table
    assert 'aspp.BRANCH_HEADINGS["receptive field (px)"]' in source  # the page heads it from the same table


def test_words_that_were_wrong_are_gone():
    texts = {"lab": _all_text(ex.build_exercises({})), "notes": NOTES}
    for folder in ("pages", "ui", "seglib"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            texts[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    for name, text in texts.items():
        flat = " ".join(text.split())
        for wrong in ("softmax means something", "softmax outputs mean something", "table above",
                      "as the Keras example starts from ImageNet", "16 × 16 block"):
            assert wrong not in flat, (name, wrong)


#: How the texts may use "photo": about real photos, never for an image of the synthetic data.
_PHOTO_ALLOWED = re.compile(r"real photos?|not photos|seen a photo|photos of everyday|ImageNet's photos|"
                            r"CIHP('s)? photos|photo_library|Human Parsing photos|Upload a photo", re.IGNORECASE)


def test_no_text_calls_a_synthetic_image_a_photo():
    sources = [ROOT / "assets" / "instructor_notes.md", *sorted((ROOT / "pages").glob("*.py")),
               *sorted((ROOT / "seglib" / "lab").glob("*.py")), ROOT / "seglib" / "data" / "synthetic.py",
               *sorted((ROOT / "ui").glob("*.py"))]
    wrong = []
    for path in sources:
        flat = " ".join(path.read_text(encoding="utf-8").replace('"', " ").split())
        for match in re.finditer(r"photo", flat, re.IGNORECASE):
            context = flat[max(0, match.start() - 30):match.end() + 20]
            if not _PHOTO_ALLOWED.search(context):
                wrong.append((path.name, context))
    assert not wrong, wrong


# ---------------------------------------------------------------------------
# §5 Checks that ask for reasoning
# ---------------------------------------------------------------------------

def test_at_least_eight_checks_need_a_step_of_reasoning(tiny_dataset):
    from seglib.data.dataset import open_dataset
    from seglib.data.stats import dataset_stats

    facts = {**lab_facts.dataset_numbers(dataset_stats(open_dataset(tiny_dataset), split="train")),
             **lab_checks.config_numbers(get_preset("lecture").model), "model_preset": "lecture",
             "pixel_row": 3, "pixel_column": 4, "pixel_winner": 5, "pixel_probability": 0.6,
             "pixel_tempered_probability": 0.4, "pixel_margin": 0.5, "pixel_runner_up": 2,
             "pixel_logits": [0.0] * 20, "swap_error": 0.001, "swap_misclassified": 0.02}
    questions = ex.all_questions(ex.build_exercises(facts))
    reasoned = [q for q in questions if q.checkable and q.reasoning]
    assert len(reasoned) >= 8, [q.key for q in reasoned]
    # No checked value is given away by its own question, hint or the exercise's introduction.
    exercises = {e.key: e for e in ex.build_exercises(facts)}
    for question in reasoned:
        if question.kind != "number":
            continue
        value = float(question.answer)
        forms = {f"{value:.3f}", f"{value:,.0f}" if value >= 100 else f"{value:.2f}"}
        shown = " ".join([question.text, question.hint, exercises[question.exercise].intro])
        assert not [form for form in forms if form in shown], (question.key, forms)


def test_no_open_questions_model_answer_gives_away_a_checked_value(tiny_dataset):
    """An open question's model answer shows after an attempt at that question only: it may not print a
    value another question checks (the background share, the channel count, the weight ratio ...)."""
    from seglib.data.dataset import open_dataset
    from seglib.data.stats import dataset_stats

    facts = {**lab_facts.dataset_numbers(dataset_stats(open_dataset(tiny_dataset), split="train")),
             **lab_checks.config_numbers(get_preset("lecture").model), "model_preset": "lecture",
             "synthetic_data": True}
    questions = ex.all_questions(ex.build_exercises(facts))
    forms = set()
    for question in questions:
        if question.checkable and question.kind == "number":
            value = float(question.answer)
            forms |= {f"{value:.2f}", f"{value:.3f}", f"{value:.0%}"} if value < 1 else {
                f"{value:g}", f"{value:,.0f}"}
    for question in questions:
        if question.kind == "text":
            found = [form for form in forms if re.search(rf"(?<![\d.,]){re.escape(form)}(?![\d%])",
                                                         question.model_answer)]
            assert not found, (question.key, found)
