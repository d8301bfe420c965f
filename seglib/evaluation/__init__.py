"""Evaluation: inference on images, metrics (pixel accuracy, IoU, confusion), and ground truth vs prediction tables."""
