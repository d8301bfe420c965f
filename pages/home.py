"""Home: what semantic segmentation is, the lab's flow, and what is loaded."""

import streamlit as st

from seglib import keras_example, settings
from seglib.classes import CLASS_NAMES
from seglib.config import RunConfig, get_preset
from seglib.data import synthetic
from seglib.evaluation.metrics import MEAN_IOU_NOT_MAP
from seglib.training import diagnosis, planning
from ui import datasets, drawing, models, palette, registry, url_state
from ui.components import browser
from ui.markdown import md_code, md_text
from ui.page import page_header
from ui.training.files import reference_comparison


def _rate(config: RunConfig) -> str:
    train = config.train
    decay = ("constant" if train.decay_rate >= 1.0 else
             f"× {train.decay_rate:g} every {train.decay_steps:,} steps")
    optimizer = ("AdamW, weight decay " + f"{train.weight_decay:g}" if train.optimizer == "adamw" and train.weight_decay
                 else "Adam, no weight decay" if train.optimizer == "adam" else train.optimizer)
    return f"{optimizer}, learning rate {train.learning_rate:g} ({decay})"


def _field(config: RunConfig, field: str):
    section, name = field.split(".")
    return getattr(getattr(config, section), name)


def _start(config: RunConfig) -> str:
    from seglib.model import pretrained

    weights = config.model.weights
    if weights == "pretrained":
        available = pretrained.pretrained_status(config.model)["available"]
        return ("a backbone this project pretrained itself on image-level labels of synthetic images (which parts "
                "and how many people an image shows; other seeds than the lab's data), never on masks"
                + ("" if available else " (its file is missing here, so it falls back to random weights)"))
    if weights == "imagenet":
        return "ImageNet weights when they are already in the Keras cache, random weights otherwise"
    return "random weights"


def differences_markdown(example: RunConfig, course: RunConfig, lecture: RunConfig,
                         reading: str = "") -> str:
    """The bullets of 'Where this differs from the Keras example', from the three presets, the project's
    deliberate differences (``seglib.keras_example.DIFFERENCES``) and ``reading``, what the reference
    runs show (``seglib.training.diagnosis.summary_text``)."""
    lower = "lower" if course.train.learning_rate < example.train.learning_rate else "not lower"
    lecture_vs = ("higher than the example's" if lecture.train.learning_rate > example.train.learning_rate
                  else "lower than the example's")
    changes = keras_example.differing_fields(course)
    course_changes = "; ".join(
        f"`{field}` {changes[field][0]!r} → {changes[field][1]!r} ({why})" if field in changes
        else f"`{field}` {_field(course, field)!r} ({why})"
        for field, why in keras_example.COURSE_CHANGES.items())
    return "\n".join([
        f"- **Optimizer and learning rate.** The example trains with {_rate(example)}. The `course` preset, as "
        f"the lab asks, uses {_rate(course)}: a {lower} start that keeps shrinking, and weight decay. "
        f"{planning.DECOUPLED_RULE} {planning.weight_decay_sentence(course)} "
        f"The `lecture` preset, made for a few minutes on a laptop CPU, uses {_rate(lecture)}: a start "
        f"{lecture_vs}, tuned on two CPU cores, where a small network given {lecture.train.epochs} short epochs "
        f"with batches of {lecture.train.batch_size} got further from a higher start; the decay then steadies it.",
        "- **What the optimizer changes do, measured.** The handout reads the example's erratic curves as "
        "over-fitting; a step too large, the noise of a small validation set and over-fitting proper look alike "
        "on a chart, and the Training page tells them apart (Compare runs). " + reading,
        f"- **The `course` preset** is the example with the course's changes and nothing else: {course_changes}.",
        f"- **Where the backbone starts.** The example's {example.model.backbone.replace('resnet50', 'ResNet50')} "
        "starts from ImageNet weights: transfer learning from photos of everyday objects to people. Nothing can "
        f"be downloaded here, so the `lecture` preset's MobileNetV2 starts from {_start(lecture)} "
        f"(`model.weights='{lecture.model.weights}'`): in-domain pretraining on the generator's own drawings, "
        "not transfer from another domain, so it has never seen a photo either. "
        f"The `course` and `keras-example` presets start from {_start(course)} "
        f"(`model.weights='{course.model.weights}'`); every run records which start it used.",
        keras_example.differences_markdown(),
        f"- **A model for a CPU.** The `lecture` preset is a narrow MobileNetV2 (width "
        f"{lecture.model.width:g}) at {lecture.model.image_size} px with atrous rates "
        f"{'/'.join(map(str, lecture.model.atrous_rates))}, scaled to its "
        f"{lecture.model.image_size // lecture.model.output_stride} × "
        f"{lecture.model.image_size // lecture.model.output_stride} feature map; the example's ResNet50 at "
        f"{example.model.image_size} px uses rates {'/'.join(map(str, example.model.atrous_rates))} on a "
        f"{example.model.image_size // example.model.output_stride} × "
        f"{example.model.image_size // example.model.output_stride} map (the Model and Atrous pages set the "
        f"two side by side). Its BatchNorm layers keep moving statistics with momentum "
        f"{lecture.model.bn_momentum:g} instead of the example's {example.model.bn_momentum:g}: in a few short "
        f"epochs on a CPU, {example.model.bn_momentum:g} leaves the statistics used for validation and prediction "
        "behind the weights.",
    ])


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
steps = [
    ("dataset.py", "1 · Data", "Images and their colour-coded masks; how unbalanced the classes are; "
                               "how big people and parts are."),
    ("model.py", "2 · Model", "DeepLabV3+: a backbone (encoder), ASPP with atrous convolutions, a decoder "
                              "and a 1×1 convolution giving H × W × 20 logits."),
    ("atrous.py", "3 · Scales", "What atrous (dilated) convolutions at different rates see on a real image."),
    ("training.py", "4 · Training", "A worker process trains the model; loss and accuracy curves update live."),
    ("predictions.py", "5 · Predictions", "Ground truth, prediction and their difference; the logits of a pixel."),
    ("playground.py", "6 · Metrics", registry.page_info("playground.py").summary),
    ("exercises.py", "7 · Exercises", "The lab's questions and where each one is answered."),
]
for index, (file, title, text) in enumerate(steps):
    if index % 3 == 0:
        columns = st.columns(3)
    info = registry.page_info(file)
    with columns[index % 3].container(border=True, height="stretch"):
        st.markdown(f"**{title}**")
        st.caption(text)
        if info.exists:
            registry.page_link(file, label=f"Open {info.title}")
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
st.markdown(differences_markdown(example, course, lecture, diagnosis.summary_text(reference_comparison())))
st.markdown("- **Mean IoU where the handout suggests mAP.** " + MEAN_IOU_NOT_MAP)

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
