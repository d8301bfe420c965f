"""Analysis: atrous (dilated) scales and receptive fields of a model, where each loss puts its weight
class by class (``loss_shares``), and what each part of the model does when it is switched off, on one
image (``ablation``) and over a split by the size of the people (``split_ablation``), measured on real
images."""
