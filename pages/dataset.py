"""Dataset explorer: images and masks, class imbalance, object scales
(exercises 13-1, 13-2 part 1 and 13-4 part 1)."""

import html

import numpy as np
import streamlit as st

from seglib.classes import CLASS_NAMES, IGNORE_LABEL, class_label, numbered_label
from seglib.config import field_names
from seglib.analysis import loss_shares
from seglib.data.stats import height_sentence, height_spread, imbalance_sentence
from seglib.evaluation import losses
from seglib.figures import loss_shares as loss_share_figures
from seglib.figures import charts as chart_figures
from ui import datasets, drawing, models, url_state
from ui import explorer as page_state
from ui.explorer import ALL_CLASSES
from ui.markdown import md_text
from ui.page import page_header
from ui.palette import current_palette, current_palette_name

page_header(
    "dataset.py",
    "Each training example is an image and a **mask** of the same size in which every pixel holds a "
    "class id (0 = background, 1 = hat, ... 19 = right shoe). The mask is drawn in colour, one colour "
    "per class, so you can compare it with the people in the image. Hover any pixel to read its class.",
)

with drawing.error_boundary():
    dataset = datasets.current_dataset()

page_state.about(dataset)  # its name, layout, image counts and folder; synthetic or not; its problems
splits = [name for name, pairs in dataset.splits.items() if len(pairs)]
palette = current_palette()

# --- 1. Samples: image | colour mask | overlay (exercise 13-1) ---
st.header("Images and masks", divider="gray")
st.markdown(
    "Do the colours mean something? Compare each coloured region with the body part under it, and "
    "check that the same part has the same colour in every image: the model can only learn a class "
    "that is labelled consistently."
)

url_state.seed("seed", 0, cast=int)

controls = st.columns([1.1, 1, 1, 1.3], vertical_alignment="bottom")
url_state.seed("split", splits[0], options=splits)
split = controls[0].segmented_control("Split", splits, required=True, key="split",
                                      format_func=lambda s: {"train": "Training", "val": "Validation"}.get(s, s)
                                      ) or splits[0]
url_state.sync("split", splits[0])
pairs = dataset.split(split)
count = controls[1].number_input("Images", min_value=1, max_value=min(8, len(pairs)),
                                 value=min(3, len(pairs)), step=1, key="samples")
seed = controls[2].number_input("Seed", min_value=0, max_value=10**6, step=1, key="seed",
                                help="The same seed always shows the same images.")
controls[3].button("Reshuffle", icon=":material/shuffle:", on_click=page_state.reshuffle,
                   help="Show other images (adds one to the seed).")
url_state.sync("seed", 0)

options = st.columns([1, 2.2], vertical_alignment="bottom")
opacity = options[0].slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="opacity",
                            help="0 shows only the image, 1 only the mask colours.")
with options[1]:
    buttons = st.columns(3)
    buttons[0].button("All classes", on_click=page_state.show_classes, args=(ALL_CLASSES,), width="stretch")
    buttons[1].button("People only", on_click=page_state.show_classes, args=(ALL_CLASSES[1:],), width="stretch",
                      help="Everything but the background.")
    buttons[2].button("No class", on_click=page_state.show_classes, args=([],), width="stretch")
visible = st.pills("Classes drawn (click to switch a class on or off)", ALL_CLASSES, selection_mode="multi",
                   default=ALL_CLASSES, format_func=numbered_label, key="visible")
hidden = [c for c in range(len(CLASS_NAMES)) if c not in visible]
drawing.class_legend(palette, hidden=hidden)


rng = np.random.default_rng(int(seed))
indices = sorted(int(i) for i in rng.choice(len(pairs), size=min(int(count), len(pairs)), replace=False))
samples = page_state.sample_rows(dataset, split, indices, opacity, visible)

# --- 2. Class imbalance (exercise 13-4) ---
st.header("Class imbalance", divider="gray")
st.markdown(
    "How many pixels belong to each class? Most pixels are background, and among the body parts a "
    "few large ones (clothes, legs, hair) outnumber the small ones (sunglasses, gloves, socks) by "
    "orders of magnitude. A model that only ever said *background* would already be right for most "
    "pixels, so plain accuracy flatters it; the rare classes are the hard ones."
)
with st.spinner(f"Counting the pixels of every class in the {split} split (once; then cached)..."):
    # seglib counts in a child process: a file that crashes a native decoder comes
    # back as a DatasetError naming it (shown here), never as a dead server.
    with drawing.error_boundary("Computing the statistics"):
        stats = datasets.load_stats(dataset.root, split)
page_state.skipped_masks(stats, split, len(pairs))

chart_controls = st.columns([1, 1, 2], vertical_alignment="bottom")
scale = chart_controls[0].segmented_control("Scale", ["linear", "log"], default="linear", required=True,
                                            key="scale") or "linear"
include_background = chart_controls[1].toggle("Include background", value=True, key="background")
split_fractions = np.asarray(stats.fractions, dtype=np.float64)
split_counts = np.asarray(stats.class_counts, dtype=np.int64)
drawing.plot(chart_figures.class_fraction_figure(
    split_fractions, counts=split_counts, palette=palette, log=scale == "log",
    include_background=include_background,
    title=f"Share of pixels per class, {split} split ({len(pairs):,} images)"), key="split-fractions")
st.caption(imbalance_sentence(split_fractions))
ignored = int(stats.ignored_pixels)
st.caption(
    f"**The ignore label, {IGNORE_LABEL}.** A mask pixel holding {IGNORE_LABEL} has no class: it marks a pixel "
    "nobody could label (a blurred boundary, a region the annotator skipped). It is drawn magenta, left out of "
    f"these shares ({ignored:,} such pixels in this split), and counts nowhere in training or evaluation: not in "
    "the loss, not in accuracy, not in IoU. Better an unlabelled pixel than a wrong label the model would learn.")

st.subheader("One image")
if samples:
    chosen = st.selectbox("Image", [s[0] for s in samples], key="detail",
                          format_func=lambda i: f"{split} image {i + 1} · {next(s[1] for s in samples if s[0] == i)}")
    index, stem, image, mask = next(s for s in samples if s[0] == chosen)
    image_counts, image_fractions = chart_figures.mask_fractions(mask, len(CLASS_NAMES))
    left, right = st.columns([1, 2])
    with left:
        drawing.plot(datasets.sample_figure(dataset.root, split, index, "overlay", opacity, visible,
                                            current_palette_name(), max_size=384, height=340),
                     key="detail-overlay")
    with right:
        drawing.plot(chart_figures.class_fraction_figure(
            image_fractions, counts=image_counts, palette=palette, log=scale == "log",
            include_background=include_background, reference=split_fractions,
            reference_name=f"{split} split", name="this image",
            title=f"Share of pixels per class in {html.escape(stem)} (bars) and over the split (◆)"),
            key="image-fractions")
    absent = [class_label(c) for c in range(1, len(CLASS_NAMES)) if image_counts[c] == 0]
    st.caption(f"{len(absent)} of {len(CLASS_NAMES) - 1} part classes do not appear in this image"
               + (f": {', '.join(absent)}." if absent else "."))

# --- 2b. Where the loss puts its weight (exercise 13-4 part 2) ---
st.subheader("Imbalance and the loss", anchor="imbalance-and-the-loss")
st.markdown("Does the usual loss correct this imbalance? " + loss_shares.CROSS_ENTROPY_WEIGHTING + " "
            + loss_shares.RANDOM_VS_TRAINED)
st.markdown(
    "The chart measures it for the sidebar model: the grey bars are each class's "
    "share of the pixels, the blue bars its share of the cross-entropy, and the sentence under the chart reads "
    "them. Two common changes move weight towards the rare classes on purpose: **weighted** cross-entropy "
    "multiplies each pixel's loss by a class weight (here *median frequency*: the median class frequency divided "
    "by the class's own, so rare classes count many times more and the background much less), which lifts the "
    "rare classes' orange bars whatever the model; **focal** loss multiplies it by (1 − *p*)^γ, close to 0 "
    "where the model is already right, so it takes weight only from what a model has learnt (for a trained "
    "model, mostly background; a model with random weights is right nowhere). The IoU row below shows where "
    "the model is weakest.")
st.markdown("Cross-entropy remains the sound default for other reasons. " + losses.CROSS_ENTROPY_DEFAULT)


loss_controls = st.columns([1.2, 1, 1, 2.2], vertical_alignment="bottom")
url_state.seed("loss_images", datasets.LOSS_IMAGES_DEFAULT, options=datasets.LOSS_IMAGES, cast=int)
loss_images = loss_controls[0].select_slider("Images measured", datasets.LOSS_IMAGES, key="loss_images",
                                             help="The first images of the split; more is slower (forward "
                                                  "passes only, once per model, split and count).")
url_state.sync("loss_images", datasets.LOSS_IMAGES_DEFAULT)
url_state.seed("loss_scale", "linear", options=["linear", "log"])
loss_scale = loss_controls[1].segmented_control("Share axis", ["linear", "log"], required=True,
                                                key="loss_scale") or "linear"
url_state.sync("loss_scale", "linear")
loss_background = loss_controls[2].toggle("Background", value=True, key="loss_background",
                                          help="Hide the background to see the small classes on a linear axis.")
with drawing.error_boundary("Measuring the losses", stop=False):
    with st.spinner("Running the model on the split's first images (once per model and split)..."):
        loss_choice = models.current_model_choice()
        loss_table = datasets.loss_table(loss_choice, dataset.root, split, loss_images, split_counts)
    loss_controls[3].caption(f"Model: {md_text(loss_choice.label)} · the first "
                             f"{loss_table.attrs['images']} images of the {split} split, at "
                             f"{loss_table.attrs['image_size']} px.")
    drawing.plot(loss_share_figures.loss_share_figure(
        loss_table, log=loss_scale == "log", include_background=loss_background, palette=palette,
        title=f"Share of the pixels and of each loss per class, and the model's IoU ({split} split)"),
        key="loss-shares")
    st.markdown(loss_shares.loss_share_sentence(loss_table))
    if caption := loss_shares.rarest_class_caption(loss_table, split):
        st.caption(caption)
    if loss_choice.kind == "untrained":
        st.info("This model has random weights: the sentence above shows what that does to the shares. Pick the "
                "demo model or a trained run in the sidebar to see where a trained model's loss lies.",
                icon=":material/info:")
    if "loss" in field_names().get("train", []):
        st.caption("A training run can use the other losses too: the loss choice of the Training form "
                   "(`train.loss`), so you can test whether weighting or focal loss lifts the rare classes' IoU.")
    with st.expander("The numbers as a table"):
        st.dataframe(loss_table, hide_index=True, width="stretch", column_config=page_state.LOSS_COLUMNS)
    drawing.show_source(losses.make_loss)

# --- 3. Object scales (exercise 13-2 part 1) ---
st.header("Object scales", divider="gray")
st.markdown(
    "People appear at very different sizes: a person close to the camera can fill the image, one "
    "far away is a few dozen pixels tall, and their parts range from large regions (coats, legs) to "
    "a handful of pixels (sunglasses, gloves). The model has to recognise all of them, which is what "
    "the atrous (dilated) convolutions of the ASPP block are for."
)
heights = np.asarray(stats.person_heights, dtype=np.float64)
image_heights = np.asarray(stats.image_shapes, dtype=np.float64).reshape(-1, 2)[:, 0]
reference_height = float(np.median(image_heights)) if len(image_heights) else 1.0
objects = stats.objects
left, right = st.columns([3, 2], vertical_alignment="center")
with left:
    unit = st.segmented_control("Person height in", ["pixels", "fraction of the image height"],
                                default="pixels", required=True, key="height_unit") or "pixels"
    in_pixels = unit == "pixels"
    drawing.plot(chart_figures.histogram_figure(
        heights if in_pixels else heights / reference_height,
        xaxis_title="person height (pixels)" if in_pixels else "person height / image height",
        percent_axis=not in_pixels, yaxis_title="people",
        title=f"Heights of {len(heights):,} people ({split} split)"), key="heights")
with right:
    if len(heights):
        spread = height_spread(heights)
        numbers = st.columns(3)
        numbers[0].metric("Small (10th percentile)", f"{spread['p10']:.0f} px")
        numbers[1].metric("Median", f"{spread['median']:.0f} px")
        numbers[2].metric("Large (90th percentile)", f"{spread['p90']:.0f} px")
        st.markdown(height_sentence(heights, reference_height))
    else:
        st.info("No people were found in this split's masks.")

measure = st.segmented_control("Part size as", ["height", "area"], default="height", required=True,
                               format_func=lambda m: {"height": "height (pixels)", "area": "area (pixels)"}[m],
                               key="part_measure") or "height"
values_by_class = {int(class_id): group[measure].to_numpy()
                   for class_id, group in objects.groupby("class_id")} if len(objects) else {}
drawing.plot(chart_figures.class_box_figure(
    values_by_class, palette=palette,
    yaxis_title="height of one region (pixels)" if measure == "height" else "area of one region (pixels)",
    title="Sizes of the body-part regions, per class"), key="part-sizes")
st.caption("Each box holds the middle half of the regions of one class (a region is one connected patch of "
           "a class, e.g. one shoe); the line inside is the median, the whiskers reach the smallest and the "
           "largest region. The y axis is logarithmic: each grid step is a factor of 10.")
with st.expander("Region sizes per class as a table"):
    summary = stats.object_summary
    st.dataframe(summary, hide_index=True, width="stretch",
                 column_config={"id": st.column_config.NumberColumn(width="small"),
                                "count": st.column_config.NumberColumn("regions", format="localized")})
