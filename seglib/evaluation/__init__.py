"""Evaluation: inference on images, metrics (pixel accuracy, IoU, confusion), the losses (``losses``: what
``train.loss`` names, on label masks and logits), and ground truth vs prediction tables."""
