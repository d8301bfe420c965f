"""The Dataset explorer's answers to exercise 13-4 under AppTest: where the loss puts its
weight (pixel share against loss share per class, next to IoU) and the ignore label."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import charts, error_free, open_app, param
from markdown_check import plain

pytestmark = pytest.mark.slow  # every test runs the page


def _run(**query) -> AppTest:
    at = open_app("pages/dataset.py", query=query)
    error_free(at)
    return at


def _loss_chart(at: AppTest) -> dict:
    found = [c for c in charts(at) if any(t.get("name") == "IoU of the model" for t in c["data"])]
    assert len(found) == 1, "the loss-share chart is missing"
    return found[0]


@pytest.fixture(scope="module")
def counted(tiny_dataset, tmp_path_factory):
    """The page once, with every call of seglib.analysis.loss_shares.loss_shares counted."""
    import streamlit as st

    from seglib.analysis import loss_shares

    calls = []
    original = loss_shares.loss_shares

    def counting(*args, **kwargs):
        calls.append(args[1:4])
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        # An earlier test may have measured this model and split already, and the result is kept on disk
        # (ui.kept) as well as in Streamlit's cache: a cache folder of this module's own.
        patch.setenv("SEGLIB_CACHE_DIR", str(tmp_path_factory.mktemp("dataset-page-cache")))
        patch.setattr(loss_shares, "loss_shares", counting)
        st.cache_data.clear()
        yield _run(), calls


def test_the_section_has_its_anchor_and_says_cross_entropy_does_not_rebalance(counted):
    at, _ = counted
    assert any(h.proto.anchor == "imbalance-and-the-loss" and h.value == "Imbalance and the loss"
               for h in at.subheader)
    text = "\n".join(plain(m.value) for m in at.markdown)
    assert "how wrong the model is there" in text and "times how wrong the model is on it" in text
    assert "proper scoring rule" in text and "calibrated" in text
    # The direction is read from the shares the page measured, in a sentence next to the chart.
    from seglib.analysis import loss_shares

    table = next(d.value for d in at.dataframe if "cross-entropy share" in d.value.columns)
    background = table.iloc[0]
    assert f"Here background has {loss_shares.share_text(background['pixel share'])} of the pixels" in text
    direction = loss_shares.share_direction(background["cross-entropy share"] / background["pixel share"])
    assert {"less": "but only", "more": "more than its pixel share", "about": "about"}[direction] in text
    assert "suits the imbalance" not in text


def test_the_chart_sets_pixel_shares_against_three_losses_and_iou(counted):
    at, calls = counted
    chart = _loss_chart(at)
    names = [trace["name"] for trace in chart["data"]]
    assert names == ["pixels", "cross-entropy", "weighted cross-entropy (median frequency)", "focal",
                     "IoU of the model"]
    assert chart["data"][0]["x"][0] == "Background"        # sorted by pixel share
    assert len(chart["data"][0]["x"]) == 20
    captions = "\n".join(plain(c.value) for c in at.caption)
    assert "the background holds" in captions and "of the weighted cross-entropy" in captions
    assert "the first 12 images of the train split, at 160 px" in captions  # all 12 (of 16 asked), at the demo model's input size
    assert len(calls) == 1


def test_log_scale_hidden_background_and_the_cache(counted, tiny_dataset):
    at, calls = counted
    at.segmented_control(key="loss_scale").set_value("log").run()
    at.toggle(key="loss_background").set_value(False).run()
    error_free(at)
    chart = _loss_chart(at)
    assert chart["layout"]["yaxis"]["type"] == "log"
    assert "Background" not in chart["data"][0]["x"]
    assert len(calls) == 1                                   # the same model and split: from the cache
    assert param(at, "loss_scale") == "log"
    at.segmented_control(key="split").set_value("val").run()
    error_free(at)
    assert len(calls) == 2 and "the first 4 images of the val split" in "\n".join(c.value for c in at.caption)


def test_the_log_scale_and_image_count_come_from_the_url(tiny_dataset):
    at = _run(loss_scale="log", loss_images=4)
    assert at.segmented_control(key="loss_scale").value == "log"
    assert _loss_chart(at)["layout"]["yaxis"]["type"] == "log"
    assert "the first 4 images of the train split" in "\n".join(c.value for c in at.caption)


def test_the_ignore_label_is_explained_next_to_the_class_chart(counted):
    at, _ = counted
    caption = next(plain(c.value) for c in at.caption if "ignore label" in c.value)
    assert "255" in caption and "not in the loss" in caption and "0 such pixels" in caption
