"""Home: what semantic segmentation is, the lab's flow, and what is loaded."""

import streamlit as st

from seglib import settings
from seglib.classes import CLASS_NAMES
from seglib.presets import get_preset
from seglib.data import synthetic
from seglib.lab import comparison
from seglib.training import diagnosis
from ui import datasets, drawing, models, palette, registry, url_state
from ui.components import browser
from ui.markdown import md_code, md_text
from ui.page import page_header
from ui.training.files import reference_comparison


page_header(
    "home.py",
    "**Semantic segmentation** gives every pixel of an image a class. Here the classes are "
    f"{len(CLASS_NAMES)} human body parts and clothes (hair, face, arms, shoes, ...) plus the "
    "background, and the images are crowds of people. A DeepLabV3+ network reads the whole "
    "image and returns, for each pixel, one score per class; the highest score is the label.",
)

# The lab follows the data through the model: look at the data, look inside the model, train it,
# then look at what it predicts and where it is wrong.
st.subheader("How the lab flows")
steps = [page for page in registry.PLANNED_PAGES if page.step]
for index, info in enumerate(steps):
    if index % 3 == 0:
        columns = st.columns(3)
    with columns[index % 3].container(border=True, height="stretch"):
        st.markdown(f"**{index + 1} · {info.title}**")
        st.caption(info.summary)
        if info.exists:
            registry.page_link(info.file, label=f"Open {info.title}")
            if info.exercises:
                st.caption("Exercises " + ", ".join(info.exercises))
        else:
            st.caption(":material/schedule: This page is not part of the dashboard yet.")

st.subheader("Where each exercise is answered")
questions = {
    "13-1": "Do the colour-coded labels follow the structure of the people, and are they the same in every image?",
    "13-2": "Which scales appear in the data, how does the encoder cover them, and what shape is the last layer?",
    "13-3": "Why does the output have the input's height and width, and 20 channels?",
    "13-4": "How unbalanced are the classes? How much does each class weigh in plain cross-entropy (a mean over "
            "pixels), what would shift weight to the rare ones, and what else makes cross-entropy the default?",
    "13-5": "How are the logits of a pixel turned into one class?",
    "13-6": "How large are the regions with high error compared with the whole image?",
}
for exercise, question in questions.items():
    pages = [page for page in registry.available_pages() if exercise in page.exercises]
    row = st.columns([0.6, 4, 2.4], vertical_alignment="center")
    row[0].markdown(f"**{exercise}**")
    row[1].markdown(question)
    with row[2]:
        if pages:
            for page in pages:
                registry.page_link(page.file)
        else:
            st.caption("Its page is not part of the dashboard yet.")
        registry.page_link("exercises.py", "Answer it", {"exercise": exercise})

# Where this dashboard departs from the Keras example, with the numbers read from the presets.
example, course, lecture = get_preset("keras-example"), get_preset("course"), get_preset("lecture")
st.subheader("Where this differs from the Keras example")
st.markdown(
    "The lab is built on the Keras example *Multiclass semantic segmentation using DeepLabV3+* "
    "(the `keras-example` preset reproduces its settings). What this dashboard does differently, and why:")
st.markdown(comparison.differences_markdown(example, course, lecture, diagnosis.summary_text(reference_comparison())))

# The default data is drawn by the project: what sets it apart from CIHP, in numbers read from the generator.
st.subheader(synthetic.SECTION_TITLE, anchor=synthetic.SECTION_ANCHOR)
default_root = settings.default_dataset_dir()
st.markdown(
    "The default dataset is made by this project's generator (`seglib.data.synth`): people drawn part by part in "
    "the CIHP folder layout, with the 20 CIHP classes. It is built to teach with, and differs from the real CIHP "
    "photos the handout uses:")
st.markdown("\n".join(f"- {item}" for item in synthetic.differences_from_cihp(
    synthetic.synthetic_params(default_root))))
if url_state.param("section") == synthetic.SECTION_ANCHOR:
    browser.scroll_to_section(synthetic.SECTION_ANCHOR, key="home_scroll_to_section")

st.subheader("What is loaded")
left, right = st.columns(2)
with left.container(border=True):
    st.markdown("**Dataset**")
    try:
        dataset = datasets.current_dataset()
    except Exception as error:  # noqa: BLE001 - shown, never raised
        drawing.show_error(error)
        if not settings.default_dataset_dir().exists():
            st.code("python -m seglib data synth --default", language="bash")
    else:
        counts = {name: len(pairs) for name, pairs in dataset.splits.items()}
        st.markdown(
            f":material/check_circle: **{md_text(dataset.name)}** "
            f"({'CIHP layout' if dataset.layout == 'cihp' else 'images/ + masks/ folder'}), "
            f"folder {md_code(settings.display_path(dataset.root), limit=160)}"
        )
        st.markdown(" · ".join(f"{count:,} {name} images" for name, count in counts.items()))
        datasets.synthetic_note(dataset, link=False)
        skipped = sum(problem.skipped for problem in dataset.problems)
        if skipped:  # the problems also hold notes (a converted file), which skip nothing
            st.warning(f"{skipped} files or pairs were skipped; the Dataset explorer lists them.",
                       icon=":material/warning:")

with right.container(border=True):
    st.markdown("**Model**")
    choice = models.current_model_choice()
    st.markdown(f":material/memory: **{md_text(choice.label)}**")
    st.caption(md_text(choice.note, limit=300))
    if choice.kind == "untrained":
        st.info("No trained model is selected: predictions will be random until you train one "
                "(Training page) or pick a checkpoint in the sidebar.", icon=":material/info:")

st.caption(f"Palette: {palette.PALETTE_LABELS[palette.current_palette_name()]}. "
           "Change the dataset, the model and the class colours in the sidebar; "
           "the page address keeps your choices, so a copied link shows the same view.")
