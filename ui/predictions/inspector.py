"""The Predictions page's pixel inspector (exercise 13-5): the logits, softmax and argmax of one pixel,
the lines of ``seglib.evaluation.inference`` that compute them, and why that pixel got its class
(``ui.why_pixel``). A fragment: a click on its figure reruns this part only."""

from __future__ import annotations

import inspect

import numpy as np
import streamlit as st

from seglib.classes import CLASS_NAMES
from seglib.evaluation import evaluate, inference
from seglib.figures import inspector as inspector_figures
from ui import drawing, selection, url_state, why_pixel

#: Which trace of ``inspector_figure`` a click selects a pixel on: the picture, then the clickable grid.
GRID_CURVE = 1


def _apply_click(chart_key: str) -> None:
    """A new click on the inspector figure (last run) moves the inspected pixel."""
    points = selection.points(chart_key, curve=GRID_CURVE)
    marker = (chart_key, tuple((p.get("x"), p.get("y")) for p in points)) if points else None
    if selection.is_new("pred_click_applied", marker):
        st.session_state["pred_px"] = int(round(float(points[-1]["x"])))
        st.session_state["pred_py"] = int(round(float(points[-1]["y"])))


def _walk_through(scores, prediction: inference.Prediction, pixel: tuple[int, int], num_classes: int) -> str:
    """The inference steps as code, with this pixel's numbers in the comments."""
    row, column = pixel
    height, width = prediction.image_size
    chosen = scores.loc[scores["chosen"]].iloc[0]
    values = [f"{value:.2f}" for value in scores["logit"]]
    rows_of_values = ",\n#   ".join(", ".join(values[i:i + 5]) for i in range(0, len(values), 5))
    return (f"# one pass: a score per class for every pixel\n"
            f"logits = model(image_batch)[0]     # {prediction.input_size} x {prediction.input_size} x {num_classes}\n"
            f"logits = resize(logits, ({height}, {width}))  # image size\n"
            f"probabilities = softmax(logits, axis=-1)\n"
            f"mask = argmax(logits, axis=-1)\n\n"
            f"logits[{row}, {column}]\n# [{rows_of_values}]\n"
            f"probabilities[{row}, {column}, {chosen['id']}]  # {chosen['probability']:.4f}\n"
            f"mask[{row}, {column}]  # {chosen['id']} = {chosen['name']}")


@st.fragment
@drawing.guarded("Pixel inspector")  # a fragment rerun runs outside the page's guard
def pixel_inspector(model, model_key: tuple, image_id: str, image: np.ndarray, prediction: inference.Prediction,
                    opacity: float, palette, truth: np.ndarray | None, sample: why_pixel.Sample | None) -> None:
    height, width = prediction.image_size
    chart_key = f"pred-inspector-{image_id}"
    _apply_click(chart_key)
    for key, axis_size, url_key in (("pred_px", width, "px"), ("pred_py", height, "py")):
        url_state.seed_int(key, axis_size // 2, 0, axis_size - 1, url_key=url_key)

    left, right = st.columns([1, 1.25])
    with left:
        inputs = st.columns(2)
        column = inputs[0].number_input("x (column)", 0, width - 1, step=1, key="pred_px")
        row = inputs[1].number_input("y (row)", 0, height - 1, step=1, key="pred_py")
        url_state.sync("pred_px", width // 2, url_key="px")
        url_state.sync("pred_py", height // 2, url_key="py")
        figure = inspector_figures.inspector_figure(prediction.mask, image, palette=palette, opacity=opacity,
                                                    selected=(int(row), int(column)), height=420,
                                                    title="Click a pixel of the prediction",
                                                    image_size=prediction.image_size)
        st.plotly_chart(drawing.for_presentation(figure), key=chart_key, on_select="rerun", selection_mode="points",
                        width="stretch", config=drawing.chart_config("pred-inspector"), theme=None)
    scores = evaluate.pixel_table(prediction.logits_at(int(row), int(column)), CLASS_NAMES)
    chosen = scores.loc[scores["chosen"]].iloc[0]
    with right:
        drawing.plot(inspector_figures.logits_figure(
            scores["logit"].to_numpy(), palette=palette,
            title=f"Pixel x {column}, y {row}: argmax = {chosen['id']} {chosen['name']}"), key="pred-logits")
    runner_up = scores.sort_values("probability", ascending=False).iloc[1]
    st.markdown(
        f"At this pixel the highest logit is **{chosen['logit']:.2f}** for **{chosen['name']}**, so the mask says "
        f"{chosen['name']} (class {chosen['id']}), with probability {chosen['probability']:.1%}; the runner-up is "
        f"{runner_up['name']} ({runner_up['probability']:.1%}). Softmax never changes which class wins: it only "
        "turns the scores into probabilities that sum to 1.")
    walk = st.columns(2)
    with walk[0]:
        st.markdown("**The same steps, on this pixel**")
        st.code(_walk_through(scores, prediction, (row, column), int(model.output_shape[-1])), language="python")
    with walk[1]:
        st.markdown("**The lines of `seglib.evaluation.inference` that do it**")
        st.code(inspect.getsource(inference.prediction_from_logits) + "\n\n"
                + inspect.getsource(inference.resize_logits), language="python", wrap_lines=True)
    drawing.show_source(inference.predict_batch)
    why_pixel.pixel_section(model, model_key, image_id, image, truth, prediction, (int(row), int(column)), sample)
