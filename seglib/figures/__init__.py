"""Figures: Plotly figures and images the pages draw (masks, training curves, predictions, receptive fields). No Streamlit."""
