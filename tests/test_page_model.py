"""The Model page under AppTest: the parameter count is the evidence that nothing depends on the
input size, and a Keras-example column sits beside the model's numbers."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import error_free, open_app
from seglib import keras_example
from seglib.presets import get_preset

pytestmark = pytest.mark.slow  # every test runs the page


def _run(size: int) -> AppTest:
    at = open_app("pages/model.py", query={"size": size})
    error_free(at)
    return at


def _parameters(at: AppTest) -> int:
    return int(next(m.value for m in at.metric if m.label == "Parameters").replace(",", ""))


def test_the_parameter_count_is_the_same_at_every_input_size(tiny_dataset):
    at = _run(64)
    count = _parameters(at)
    caption = next(c.value for c in at.caption if "parameters stay the same" in c.value)
    assert f"{count:,}" in caption and "no dense layer" in caption
    at.select_slider(key="size").set_value(96).run()
    error_free(at)
    assert at.dataframe[-1].value["output shape"].iloc[-1].endswith("96, 96, 20)")  # the shapes follow ...
    assert _parameters(at) == count                                                # ... the weights do not


def test_a_keras_example_column_beside_the_model(tiny_dataset):
    at = _run(64)
    example, lecture = get_preset("keras-example"), get_preset("lecture")
    table = next(frame.value for frame in at.dataframe if "Keras example (ResNet50, 512 px)" in frame.value.columns)
    rows = {name: (mine, theirs) for name, mine, theirs in table.itertuples(index=False)}
    assert rows["input"] == ("64 × 64 × 3", "512 × 512 × 3")
    assert rows["logits"] == ("64 × 64 × 20", "512 × 512 × 20")
    assert rows["ASPP input (backbone output)"][1] == "32 × 32 × 256"       # conv4_block6_2_relu at stride 16
    assert rows["atrous rates"] == ("2 / 4 / 6", "6 / 12 / 18")
    assert rows["parameters"][0] == f"{_parameters(at):,}"
    assert int(rows["parameters"][1].replace(",", "")) > 10 * _parameters(at)
    assert rows["optimizer"] == (f"AdamW, weight decay {lecture.train.weight_decay:g}", "Adam, no weight decay")
    assert rows["learning rate"] == (
        f"{lecture.train.learning_rate:g} (× {lecture.train.decay_rate:g} every {lecture.train.decay_steps:,} steps)",
        f"{example.train.learning_rate:g} (constant)")
    assert rows["mask resizing"][0].startswith("nearest neighbour")
    assert rows["backbone starts from"][1].startswith("ImageNet (here: ")
    text = "\n".join(m.value for m in at.markdown)
    assert f"`model.weights='{lecture.model.weights}'`" in text
    assert keras_example.differences_markdown() in text   # the same list as the Home page


def test_the_final_layer_is_described_as_it_is(tiny_dataset):
    # The lecture preset upsamples the logits after its 1 x 1 convolution: the last layer is an
    # UpSampling2D, which the page used to call a layer with a 1 x 1 kernel.
    at = _run(64)
    layers = at.dataframe[-1].value
    assert layers["type"].iloc[-1] == "UpSampling2D" and layers["type"].iloc[-2] == "Conv2D"
    callout = "\n".join(i.value for i in at.info)
    assert "(UpSampling2D, 1 × 1 kernel)" not in callout
    assert f"The last convolution, `{layers['name'].iloc[-2]}` (Conv2D, 1 × 1 kernel), gives the class scores " \
           "at 16 × 16" in callout
    assert "`logits` (UpSampling2D, no weights), enlarges them and outputs **64 × 64 × 20**" in callout


def test_the_model_page_says_where_the_backbone_starts():
    at = open_app("pages/model.py")
    captions = "\n".join(c.value for c in at.caption)
    assert "In-domain pretraining" in captions and "never on masks" in captions   # lecture: the pretrained start
