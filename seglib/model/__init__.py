"""Models: DeepLabV3+ (build, describe, save/load) and the shipped pretrained backbone."""
