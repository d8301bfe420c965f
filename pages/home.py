"""Home: what the lab is and which dataset is loaded."""

import streamlit as st

from seglib import settings

st.title("Semantic segmentation lab")
st.write(
    "Label every pixel of a crowd photo with one of 20 body-part classes using DeepLabV3+. "
    "Explore the data, look inside the model, train it live and inspect where it fails."
)
dataset = settings.default_dataset_dir()
if (dataset / ".complete").exists():
    st.success(f"Dataset loaded: **{settings.display_path(dataset)}** (synthetic crowd, CIHP layout).")
else:
    st.warning("The synthetic dataset has not been generated yet: run `make run` or "
               "`python -m seglib data synth --default`.")
