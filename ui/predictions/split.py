"""A split evaluated on the Predictions page: computed on demand (the Evaluate button), once per server
and shared by every session, one evaluation at a time; its hardest images as a table whose selected
row opens that image at the top of the page."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from seglib.classes import numbered_label
from seglib.evaluation import evaluate
from ui import drawing, selection, shared_work
from ui.predictions.view import SOURCE_LABELS

#: Session-state keys: the ``(split, index)`` of each row of the hardest-images table drawn last, and that
#: table's widget key (it changes with the evaluation).
HARDEST_ROWS = "pred_hardest_rows"
HARDEST_TABLE = "pred_hardest_table"
#: How the metrics are offered in the "Rank by" box.
RANKINGS = ["average_error", "misclassified_rate", "mean_iou"]

HARDEST_COLUMNS = {
    "image": st.column_config.NumberColumn("image", width="small"),
    "stem": st.column_config.TextColumn("file"),
    "average_error": st.column_config.NumberColumn("avg error", format="%.3f"),
    "misclassified_rate": st.column_config.NumberColumn("misclassified", format="percent"),
    "mean_iou": st.column_config.NumberColumn("mean IoU", format="%.3f"),
}


def ranking_name(metric: str) -> str:
    """'average error', 'misclassified rate', 'mean IoU'."""
    return metric.replace("_", " ").replace("iou", "IoU")


def open_picked_row() -> None:
    """Apply a new selection in the hardest-images table (drawn further down, last run): the image of the
    row becomes the one at the top (before its widgets are drawn)."""
    table_key = st.session_state.get(HARDEST_TABLE)
    rows = selection.rows(table_key) if table_key else []
    listed = st.session_state.get(HARDEST_ROWS, [])
    if not rows:
        selection.is_new("pred_hardest_applied", None)
        return
    if rows[0] >= len(listed) or not selection.is_new("pred_hardest_applied", (table_key, tuple(rows))):
        return
    split, index = listed[rows[0]]
    st.session_state["pred_split"] = split
    st.session_state["pred_image"] = int(index)
    st.toast(f"Opened {SOURCE_LABELS.get(split, split).lower()} image {int(index) + 1} in the view at the top.",
             icon=":material/image:")


#: The split evaluation as ``ui.shared_work`` names it (one at a time on this server, kept for every session).
SPLIT_EVALUATION = "split evaluation"


def kept_evaluation(key: tuple) -> evaluate.SplitEvaluation | None:
    """The evaluation ``key`` names if someone on this server has computed it."""
    return shared_work.kept(SPLIT_EVALUATION, key)


def evaluate_once(key: tuple, model, pairs, limit: int, num_classes: int) -> evaluate.SplitEvaluation | None:
    """Evaluate the first ``limit`` of ``pairs`` with a progress bar, unless another session finished it while
    this one waited for its turn; kept for every session under ``key``."""
    evaluation = None
    bar = st.progress(0.0, text="Waiting for the model (another evaluation may be running)...")
    with drawing.error_boundary("Evaluating the split"):
        evaluation = shared_work.compute_once(SPLIT_EVALUATION, key, lambda: evaluate.evaluate_split(
            model, pairs, None, limit=limit, num_classes=num_classes,
            progress=lambda done, total: bar.progress(done / total, text=f"Predicted {done} of {total} images")))
    bar.empty()
    return evaluation


def hardest_table(evaluation: evaluate.SplitEvaluation, key: tuple, split: str, rank_by: str) -> None:
    """The hardest images by ``rank_by``, as a table whose selected row ``open_picked_row`` opens."""
    hardest = evaluation.hardest(min(20, evaluation.count), by=rank_by)
    table_key = f"pred-hardest-{abs(hash(key)) % 10**8}-{rank_by}"
    st.session_state[HARDEST_TABLE] = table_key
    st.session_state[HARDEST_ROWS] = [(split, int(i)) for i in hardest["index"]]
    st.markdown(f"**The {len(hardest)} hardest images** by {ranking_name(rank_by)} (select a row to open it above)")
    shown = hardest.assign(image=hardest["index"] + 1)[list(HARDEST_COLUMNS)]
    st.dataframe(shown, key=table_key, on_select="rerun", selection_mode="single-row", hide_index=True,
                 width="stretch", height=min(38 + 35 * len(shown), 560), column_config=HARDEST_COLUMNS)


def class_iou_table(evaluation: evaluate.SplitEvaluation, num_classes: int) -> None:
    """The IoU of every class over the split, as bars in a table."""
    st.markdown("**IoU per class over the split**")
    per_class = pd.DataFrame({"class": [numbered_label(i) for i in range(num_classes)],
                              "IoU": evaluation.per_class_iou})
    st.dataframe(per_class, hide_index=True, width="stretch", height=min(38 + 35 * len(per_class), 560),
                 column_config={"IoU": st.column_config.ProgressColumn(format="%.2f", min_value=0.0, max_value=1.0)})
