"""Analysis: atrous (dilated) scales and receptive fields of a model, and where each loss puts its weight
class by class (``loss_shares``), measured on real images."""
