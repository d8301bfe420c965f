"""The Training page's start form: a preset fills every field, any field can be changed, and an
estimate of the time and the planned learning rate show before Start is pressed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import streamlit as st

from seglib import settings
from seglib.config import LOSSES, OPTIMIZER_NAMES, OPTIMIZERS, WEIGHT_LABELS, WEIGHT_STARTS, WEIGHTS
from seglib.presets import get_preset, preset_names
from seglib.errors import SeglibError
from seglib.model.pretrained import start_explanation
from seglib.training import planning, scheduler
from seglib.training.runs.state import run_state
from seglib.figures import progress_text
from seglib.figures import slides
from seglib.figures import training as training_figures
from ui import datasets
from ui.drawing import config_source, error_boundary, guarded, plot
from ui.instructor import is_instructor
from ui.markdown import md_text
from ui.training.state import ERROR_CHARS, LIVE_STATUSES, LOSS_LABELS, allowed, notice, show_notice, show_run

#: Form fields: dotted config field -> widget key.
FORM_FIELDS = ("train.epochs", "train.batch_size", "model.image_size", "data.train_count", "data.val_count",
               "train.optimizer", "train.learning_rate", "train.decay_steps", "train.decay_rate",
               "train.weight_decay", "train.early_stopping_patience", "model.width", "model.aspp_filters",
               "model.decoder_filters", "data.augment", "model.weights", "train.freeze_backbone_epochs",
               "train.loss")
PRESET_KEY = "form_preset"
NAME_KEY = "form_name"


def _key(field: str) -> str:
    return "form_" + field.replace(".", "_")


def _preset_value(config, field: str):
    section, name = field.split(".")
    return getattr(getattr(config, section), name)


def _fill_form(force: bool = False) -> None:
    """Prefill every field from the chosen preset (all of them when the preset changes)."""
    config = get_preset(st.session_state[PRESET_KEY])
    for field in FORM_FIELDS:
        if force or _key(field) not in st.session_state:
            st.session_state[_key(field)] = _preset_value(config, field)


def _form_config(data_root: str):
    """The RunConfig the form describes (ConfigError with the offending field if a value is wrong)."""
    overrides = {field: st.session_state[_key(field)] for field in FORM_FIELDS}
    overrides["data.root"] = data_root
    return get_preset(st.session_state[PRESET_KEY]).with_overrides(overrides)


@guarded("Starting the run")
def _on_start(data_root: str) -> None:
    if not allowed("start", "Starting"):
        return
    try:
        config = _form_config(data_root)
        run_id = scheduler.start_run(config, name=st.session_state.get(NAME_KEY) or None)
        progress = run_state(run_id)
    except SeglibError as error:
        notice("start", "error", f"The run was not started: {md_text(error, limit=ERROR_CHARS)}")
        return
    show_run(run_id)
    if progress.get("status") == "queued":
        notice("live", "info", f"Another run is training: this one is queued (position "
                               f"{progress.get('queue_position') or 1}) and starts when the machine is free.",
               while_status=("queued",))
    else:
        notice("live", "success", "Started. The worker imports TensorFlow and compiles the model before the "
                                  "first step; each start-up step shows below while it happens.",
               while_status=LIVE_STATUSES)


def _dataset_root_value(root: Path) -> str:
    """The config's ``data.root``: relative to the data folder when inside it (a portable config)."""
    try:
        return root.relative_to(settings.data_dir()).as_posix() or "."
    except ValueError:
        return str(root)


def start_form() -> None:
    presets = preset_names()
    if st.session_state.get(PRESET_KEY) not in presets:
        st.session_state[PRESET_KEY] = presets[0]
    _fill_form()
    disabled = not is_instructor()

    dataset = None
    with error_boundary("Opening the dataset", stop=False):
        dataset = datasets.current_dataset()
    if dataset is not None:
        counts = {name: len(pairs) for name, pairs in dataset.splits.items()}
        st.caption(f"Data: **{md_text(dataset.name)}** from the sidebar ("
                   + ", ".join(f"{count:,} {name}" for name, count in counts.items())
                   + " images). Change it in the sidebar.")

    preset_config = _preset_row(presets, disabled)
    _data_and_schedule_fields(disabled)
    _backbone_start_fields(preset_config, disabled)
    _optimizer_fields(disabled)
    _model_fields(preset_config, disabled)

    data_root = _dataset_root_value(datasets.current_dataset_root()) if dataset is not None else ""
    config = None
    try:
        config = _form_config(data_root or "synthetic")
    except SeglibError as error:
        st.error(f"Fix this before starting: {md_text(error, limit=ERROR_CHARS)}", icon=":material/error:")
    if config is not None:
        _estimate(config)

    st.button("Start training", key="training_start", type="primary", icon=":material/play_arrow:",
              on_click=_on_start, args=(data_root,), disabled=disabled or dataset is None)
    show_notice("start")
    if disabled:
        st.caption(":material/lock: Starting, stopping and deleting runs is for the instructor "
                   "(passcode in the sidebar). You can watch every run.")


def _preset_row(presets: list[str], disabled: bool):
    """The preset (changing it refills every field), the run's name and the preset's description; return
    the chosen preset's config."""
    top = st.columns([1, 1.3, 2.2], vertical_alignment="bottom")
    top[0].selectbox("Preset", presets, key=PRESET_KEY, on_change=_fill_form, kwargs={"force": True},
                     disabled=disabled, help="Every field below starts from the preset; change any of them.")
    top[1].text_input("Run name", key=NAME_KEY, placeholder="e.g. lecture, lower lr", disabled=disabled,
                      max_chars=200, help="Shown in the runs list; the run id stays the date and preset.")
    preset_config = get_preset(st.session_state[PRESET_KEY])
    top[2].caption(preset_config.description)
    return preset_config


def _data_and_schedule_fields(disabled: bool) -> None:
    st.markdown("**Data and schedule**")
    row = st.columns(5)
    row[0].number_input("Epochs", min_value=1, max_value=10_000, step=1, key=_key("train.epochs"),
                        disabled=disabled, help="Passes over the training images.")
    row[1].number_input("Batch size", min_value=1, max_value=4096, step=1, key=_key("train.batch_size"),
                        disabled=disabled, help="Images per optimizer step.")
    row[2].number_input("Image size (px)", min_value=32, max_value=2048, step=16, key=_key("model.image_size"),
                        disabled=disabled, help="Square input size; a multiple of 16 (the output stride).")
    row[3].number_input("Training images", min_value=0, step=50, key=_key("data.train_count"),
                        disabled=disabled, help="0 = all training images of the dataset.")
    row[4].number_input("Validation images", min_value=0, step=10, key=_key("data.val_count"),
                        disabled=disabled, help="0 = all validation images.")


def _backbone_start_fields(preset_config, disabled: bool) -> None:
    """Where the backbone's weights come from, how long it stays fixed, and what the chosen start means."""
    st.markdown("**Where the backbone starts**")
    row = st.columns([1.2, 1, 2.6], vertical_alignment="bottom")
    row[0].selectbox("Backbone start", list(WEIGHTS), key=_key("model.weights"), disabled=disabled,
                     format_func=lambda name: WEIGHT_LABELS[name][:1].upper() + WEIGHT_LABELS[name][1:],
                     help="Where the backbone's weights come from: "
                          + "; ".join(f"{WEIGHT_LABELS[name]}, {WEIGHT_STARTS[name]}" for name in WEIGHTS if
                                      WEIGHT_STARTS[name] != WEIGHT_LABELS[name])
                          + ". The note beside it says what the chosen start means for the curves.")
    row[1].number_input("Backbone fixed for (epochs)", min_value=0, max_value=10_000, step=1,
                        key=_key("train.freeze_backbone_epochs"), disabled=disabled,
                        help="During these first epochs only the new ASPP, decoder and head learn; the backbone "
                             "keeps its weights. 0 = the backbone learns from the first step.")
    row[2].caption(start_explanation(dataclasses.replace(preset_config.model,
                                                         weights=st.session_state[_key("model.weights")])))


def _optimizer_fields(disabled: bool) -> None:
    """The optimizer, its learning-rate schedule, weight decay and early stopping, and the loss in the last
    column."""
    st.markdown("**Optimizer**")
    row = st.columns(7)
    row[6].selectbox("Loss", list(LOSSES), key=_key("train.loss"), disabled=disabled,
                     format_func=LOSS_LABELS.get,
                     help="Plain cross-entropy weighs every class by its pixel count. The weighted one gives "
                          "each class a median-frequency weight, focal loss down-weights easy pixels, Dice "
                          "scores the overlap of each class. Compare two runs that differ only here on the "
                          "IoU of the rare classes (exercise 13-4).")
    row[0].selectbox("Optimizer", list(OPTIMIZERS), key=_key("train.optimizer"), disabled=disabled,
                     format_func=OPTIMIZER_NAMES.get,
                     help="AdamW is Adam plus decoupled weight decay: every step also shrinks each kernel a "
                          "little, apart from the gradient's update.")
    row[1].number_input("Initial learning rate", min_value=0.0, max_value=1.0, step=1e-4, format="%.1e",
                        key=_key("train.learning_rate"), disabled=disabled,
                        help="Step size at the start of training.")
    row[2].number_input("Decay steps", min_value=1, step=50, key=_key("train.decay_steps"), disabled=disabled,
                        help="lr = initial × rate ^ (step / decay steps).")
    row[3].number_input("Decay rate", min_value=0.0, max_value=1.0, step=0.05, format="%.2f",
                        key=_key("train.decay_rate"), disabled=disabled, help="1.0 keeps the rate constant.")
    row[4].number_input("Weight decay", min_value=0.0, max_value=1.0, step=1e-4, format="%.1e",
                        key=_key("train.weight_decay"), disabled=disabled,
                        help="Used by AdamW only. " + planning.DECOUPLED_RULE + " Under the form, the shrink it "
                             "alone gives over the planned steps.")
    row[5].number_input("Early stopping", min_value=0, step=1, key=_key("train.early_stopping_patience"),
                        disabled=disabled,
                        help="Stop when the validation loss has not improved for this many epochs; 0 = off.")


def _model_fields(preset_config, disabled: bool) -> None:
    with st.expander("Model size and augmentation"):
        row = st.columns(4)
        row[0].number_input("Backbone width", min_value=0.05, max_value=2.0, step=0.05, format="%.2f",
                            key=_key("model.width"),
                            disabled=disabled or preset_config.model.backbone != "mobilenetv2",
                            help="MobileNetV2 width multiplier (ResNet50 has no width).")
        row[1].number_input("ASPP filters", min_value=1, step=16, key=_key("model.aspp_filters"),
                            disabled=disabled, help="Channels of each ASPP branch.")
        row[2].number_input("Decoder filters", min_value=1, step=16, key=_key("model.decoder_filters"),
                            disabled=disabled, help="Channels of the decoder's 3 × 3 convolutions.")
        row[3].checkbox("Augment (flip + scale)", key=_key("data.augment"), disabled=disabled,
                        help="Random horizontal flips (left/right labels swapped) and scale jitter.")


def _estimate(config) -> None:
    """The time the run should take on this machine, its optimizer steps, what weight decay alone does over
    them, and the planned learning rate."""
    estimate_column, schedule_column = st.columns([1, 1.6])
    with estimate_column:
        seconds = planning.estimate_seconds(config)
        _, startup, basis = planning.throughput_basis(config)
        steps_per_epoch = planning.steps_per_epoch(config)
        st.metric("Estimated time on this machine", progress_text.format_duration(seconds),
                  help=f"Start-up (import, compile) about {progress_text.format_duration(startup)}, "
                       f"then the epochs; throughput from {basis}.")
        st.caption(f"{steps_per_epoch:,} steps per epoch × {config.train.epochs} epochs = "
                   f"{steps_per_epoch * config.train.epochs:,} optimizer steps. About "
                   f"{progress_text.format_duration(startup)} of start-up (importing TensorFlow and "
                   f"compiling) comes first. Throughput: {basis}.")
        st.caption(planning.weight_decay_sentence(config, steps_per_epoch * config.train.epochs))
        st.caption(config.summary())
    with schedule_column:
        schedule = planning.lr_schedule(config, steps=steps_per_epoch * config.train.epochs)
        plot(training_figures.lr_figure(schedule, steps_per_epoch=steps_per_epoch,
                                        title="Planned learning rate", height=240), key="form_lr_chart",
             caption=slides.caption_line(**config_source(config)))
