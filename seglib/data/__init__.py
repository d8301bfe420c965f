"""Data: image and mask files, dataset folders and their checks, statistics, the synthetic generator, tf.data.

``images`` and ``masks`` read single files; ``layout`` finds the pairs of a
dataset folder and ``dataset`` opens and checks one; ``stats`` (with
``mask_stats`` and ``processes``) describes a split; ``synth`` (with
``synth_person``) writes the synthetic default; ``pipeline`` feeds training.
"""
