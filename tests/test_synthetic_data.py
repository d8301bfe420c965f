"""The data says what it is (issue 24 §4): the generator's marker, the description of the synthetic data
computed from the generator's settings (and true of the images it draws), what a model was trained on,
and the pages that say so: Home's section, the Dataset explorer's note and link, and the warning before a
model trained only on drawings labels an uploaded image."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from apptest_support import bug_free, open_app, text
from image_support import encoded, random_picture
from seglib import settings
from seglib.classes import CLASS_NAMES, IGNORE_LABEL
from seglib.data import synth, synth_person, synthetic
from seglib.training import provenance
from seglib.training.runs import folders


# ---------------------------------------------------------------------------
# The marker and the words, from the generator's own settings
# ---------------------------------------------------------------------------

def test_the_generators_marker_decides_not_the_folder_name(tiny_dataset, tmp_path):
    assert synthetic.is_synthetic(tiny_dataset)
    assert synthetic.synthetic_params(tiny_dataset)["size"] == 64
    impostor = tmp_path / "synthetic"  # named like the default, without the generator's synth.json
    shutil.copytree(tiny_dataset / "Training", impostor / "Training")
    assert not synthetic.is_synthetic(impostor)
    (impostor / synth.PARAMS_FILE).write_text('{"generator": "someone else"}')
    assert not synthetic.is_synthetic(impostor)
    (impostor / synth.PARAMS_FILE).write_text("not json")
    assert not synthetic.is_synthetic(impostor)


def test_the_differences_are_computed_from_the_generators_settings(monkeypatch):
    items = "\n".join(synthetic.differences_from_cihp({"size": 96}))
    for name, probability in synth_person.ACCESSORIES.items():
        if name in ("hat", "sunglasses", "gloves", "socks", "scarf"):
            assert f"{probability:.0%}" in items, name
    for probability in (*synth_person.TOP_GARMENTS.values(), *synth_person.LOWER_GARMENTS.values()):
        assert f"{probability:.0%}" in items
    low, high = synth.PEOPLE_PER_IMAGE
    assert f"{low} to {high} people" in items
    assert f"{synth.PERSON_HEIGHT[0]:.0%} to {synth.PERSON_HEIGHT[1]:.0%} of the image height" in items
    assert "96 × 96 px" in items  # the folder's own size
    assert f"{settings.DEFAULT_SYNTH['size']} × {settings.DEFAULT_SYNTH['size']} px" in "\n".join(
        synthetic.differences_from_cihp(None))
    # A changed setting changes the words: nothing is typed in twice.
    monkeypatch.setitem(synth_person.ACCESSORIES, "hat", 0.37)
    assert "hat with probability 37%" in "\n".join(synthetic.differences_from_cihp({"size": 96}))


@pytest.fixture(scope="module")
def drawn():
    """Twelve images drawn by the generator (its own random streams), with their person ids."""
    return [synth.render_sample(128, seed=0, split="val", index=index) for index in range(12)]


def test_what_the_section_says_is_true_of_the_drawn_images(drawn):
    """Everyone faces the camera (left parts on the image's right), labels are exact (no unlabelled
    pixel) and each person wears one garment class: Coat, UpperClothes or Dress, never two."""
    left_right = [(synth_person.SIDE_CLASSES[1][part], synth_person.SIDE_CLASSES[-1][part])
                  for part in ("arm", "leg", "shoe")]
    compared = 0
    for _, mask, people in drawn:
        assert not np.any(mask == IGNORE_LABEL)
        for person in np.unique(people[people > 0]):
            own = mask[people == person]
            columns = np.nonzero(people == person)[1]
            garments = {CLASS_NAMES[c] for c in np.unique(own)} & {"Coat", "UpperClothes", "Dress"}
            assert len(garments) <= 1, garments
            for left, right in left_right:
                on_left, on_right = columns[own == left], columns[own == right]
                if on_left.size >= 20 and on_right.size >= 20:
                    assert on_left.mean() > on_right.mean(), (CLASS_NAMES[left], person)
                    compared += 1
    assert compared >= 10  # enough people seen whole to mean something
    assert CLASS_NAMES[synth_person.SIDE_CLASSES[1]["arm"]] == "Left-arm"


# ---------------------------------------------------------------------------
# What a model was trained on
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_dataset(data_root, tiny_dataset):
    """A dataset the generator did not write (an images/ + masks/ folder made from a few pairs)."""
    folder = data_root / "photos-like"
    if not folder.exists():
        (folder / "images").mkdir(parents=True)
        (folder / "masks").mkdir()
        for image in sorted((tiny_dataset / "Training" / "Images").glob("*.jpg"))[:8]:
            shutil.copy(image, folder / "images" / image.name)
            shutil.copy(tiny_dataset / "Training" / "Category_ids" / f"{image.stem}.png",
                        folder / "masks" / f"{image.stem}.png")
    return folder


def _finished_run(root: str, name: str) -> str:
    """A finished run on dataset ``root`` whose best.keras is a small real model; its sidebar key."""
    from run_support import small_config
    from seglib.model.deeplab import build_model
    from seglib.model.saving import save_model
    from ui import models

    config = small_config(**{"data.root": root})
    folder = folders.create_run(config, name=name, status="finished")
    save_model(build_model(config.model), folder / "best.keras", include_optimizer=False)
    models.refresh_model_options()
    return f"run:{folder.name}"


def test_a_run_knows_whether_it_trained_on_drawings(tiny_dataset, real_dataset):
    from run_support import small_config

    on_drawings = folders.create_run(small_config(), name="drawn", status="finished")
    record = provenance.training_record(on_drawings / "best.keras")
    assert record.synthetic is True and record.dataset == "synthetic" and record.augment is False
    on_photos = folders.create_run(small_config(**{"data.root": real_dataset.name, "data.augment": True}),
                                   name="real", status="finished")
    record = provenance.training_record(on_photos / "best.keras")
    assert record.synthetic is False and record.augment is True
    gone = folders.create_run(small_config(**{"data.root": "deleted-since"}), name="gone", status="finished")
    assert provenance.training_record(gone / "best.keras").synthetic is None  # nothing says: no claim


def test_the_demo_models_card_says_synthetic():
    from seglib.training import demo

    if not demo.has_demo_model():
        pytest.skip("the demo model is not shipped in this checkout")
    record = provenance.training_record(demo.demo_model_path())
    assert record.synthetic is True and record.preset == "lecture"


# ---------------------------------------------------------------------------
# The pages
# ---------------------------------------------------------------------------

@pytest.mark.slow
def test_home_has_the_section_the_other_pages_link_to(tiny_dataset):
    at = open_app()
    assert (synthetic.SECTION_TITLE, synthetic.SECTION_ANCHOR) in [(h.value, h.proto.anchor) for h in at.subheader]
    shown = text(at)
    assert "Everyone faces the camera" in shown
    assert f"hat with probability {synth_person.ACCESSORIES['hat']:.0%}" in shown
    assert "The handout wants a metric beyond accuracy, such as mAP" in shown


@pytest.mark.slow
def test_the_dataset_explorer_says_synthetic_and_links_home(tiny_dataset):
    at = open_app(query={"loss_images": 4})  # the dashboard, so that page links are real links
    at.switch_page("pages/dataset.py").run()
    bug_free(at)
    assert synthetic.SYNTHETIC_NOTE in text(at)
    links = [(link.proto.page, link.proto.query_string) for link in at.get("page_link")]
    assert ("", f"section={synthetic.SECTION_ANCHOR}") in links, links  # Home is the default page (path "")
    assert "photo and a" not in text(at)  # the images are drawings


def _upload(model_key: str):
    at = open_app("pages/predictions.py", session={"model": model_key}, run=False)
    at.run()
    at.segmented_control(key="pred_split").set_value("upload").run()
    at.file_uploader(key="pred_upload").set_value(
        ("street.png", encoded(random_picture(48, 40), ".png"), "image/png")).run()
    bug_free(at)
    return at


@pytest.mark.slow
def test_an_upload_is_warned_about_a_model_that_only_saw_drawings(tiny_dataset, real_dataset):
    at = _upload(_finished_run("synthetic", "drawn only"))
    warnings = [w.value for w in at.warning if "trained only on synthetic drawings" in w.value]
    assert warnings and "python -m seglib train --preset course --data cihp" in warnings[0]
    # Said before the result: the warning comes before the first figure of the upload.
    nodes = list(at.main)
    kinds = [getattr(node, "type", "") for node in nodes]
    warned = [i for i, node in enumerate(nodes)
              if kinds[i] == "warning" and "trained only on synthetic drawings" in node.value]
    assert "plotly_chart" in kinds and warned and warned[0] < kinds.index("plotly_chart")

    at = _upload(_finished_run(real_dataset.name, "real photos"))
    assert not [w for w in at.warning if "synthetic drawings" in w.value]


@pytest.mark.slow
def test_the_training_pages_previews_say_they_are_drawings(tiny_dataset):
    """The shipped demo-model reference run trained on the default data: its validation previews are the
    generator's drawings, and the page says so."""
    at = open_app("pages/training.py", query={"run": "reference-demo-model"})
    bug_free(at)
    assert "**Validation previews**" in text(at)
    assert synthetic.SYNTHETIC_NOTE in text(at)
