"""Analysis: atrous (dilated) scales and receptive fields of a model, measured on real images."""
