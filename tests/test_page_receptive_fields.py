"""Receptive fields as the pages name them, under AppTest. The Model page's "Receptive field layer by
layer": the sidebar's model (the shipped demo model) beside the Keras example, each table equal to
``depth_profile`` of that model computed here, and one name for each quantity in the text, the tables
and the plot. And a column an exercise hint names is headed with that name where the hint sends you."""

from __future__ import annotations

import json
import re

import pytest

from apptest_support import charts, error_free, open_app
from seglib.analysis import fields
from seglib.lab.exercises import build_exercises
from seglib.model.saving import load_model
from seglib.model.summary import architecture
from seglib.training import demo

pytestmark = pytest.mark.slow  # runs the page and builds the Keras example's ResNet50


def test_receptive_fields_of_the_sidebar_model_beside_the_keras_example(tiny_dataset):
    at = open_app("pages/model.py")
    error_free(at)
    assert "Receptive field layer by layer" in [h.value for h in at.subheader]
    sidebar = load_model(demo.demo_model_path())
    keras_example = architecture("keras-example")
    expected = {"sidebar: Demo model (trained)": (sidebar, fields.depth_profile(fields.layer_fields(sidebar))),
                "Keras example (512 px)": (keras_example, fields.depth_profile(fields.layer_fields(keras_example)))}
    tables = [frame.value for frame in at.dataframe if fields.FIELD_COLUMN in frame.value.columns]
    assert len(tables) == 2
    text = "\n".join(m.value for m in at.markdown)
    for table, (name, (model, profile)) in zip(tables, expected.items()):
        assert f"**{name}**" in text
        assert table.reset_index(drop=True).equals(profile)
        size = int(model.input_shape[1])
        assert fields.profile_sentence(name, profile, size) in text
    # One name per quantity: the paragraph, the tables' columns and the plot's axes.
    assert f"**{fields.FIELD_NAME}**" in text and f"**{fields.STRIDE_NAME}**" in text
    assert "field px" not in text
    figure = next(chart for chart in charts(at) if chart["layout"].get("yaxis2", {}).get("title"))
    assert figure["layout"]["yaxis"]["title"]["text"] == fields.FIELD_COLUMN
    assert figure["layout"]["yaxis2"]["title"]["text"] == fields.STRIDE_COLUMN
    marked = {trace["name"]: trace["y"] for trace in figure["data"] if trace["name"].endswith(": input size")}
    assert marked == {"sidebar: Demo model (trained): input size": [int(sidebar.input_shape[1])] * 2,
                      "Keras example (512 px): input size": [512, 512]}


def test_the_untrained_sidebar_model_is_followed_too(tiny_dataset):
    at = open_app("pages/model.py", query={"model": "untrained:lecture"})
    error_free(at)
    text = "\n".join(m.value for m in at.markdown)
    assert "**sidebar: Untrained: lecture**" in text
    tables = [frame.value for frame in at.dataframe if fields.FIELD_COLUMN in frame.value.columns]
    expected = fields.depth_profile(fields.layer_fields(architecture("lecture")))
    assert tables[0].reset_index(drop=True).equals(expected)


def test_a_column_a_hint_names_is_headed_so_on_its_page(tiny_dataset):
    """A hint said 'receptive field (px)' where the Atrous page headed the column 'field px'."""
    named = []
    for exercise in build_exercises({}):
        for question in exercise.questions:
            link = exercise.link_for(question)
            for column in re.findall(r"'([^']+)' column", question.hint or ""):
                named.append((link.page, column))
    assert ("atrous.py", fields.FIELD_COLUMN) in named
    for page, column in named:
        at = open_app(f"pages/{page}", query={"atrous_model": "lecture", "atrous_size": 64})
        frames = [frame for frame in at.dataframe if column in frame.value.columns]
        assert frames, (page, column)
        for frame in frames:
            label = json.loads(frame.proto.columns or "{}").get(column, {}).get("label", column)
            assert label == column, (page, column, label)
