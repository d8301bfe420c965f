"""Data: image and mask files, dataset folders and their checks, statistics, the synthetic generator, tf.data.

``images`` and ``masks`` read single files; ``layout`` finds the pairs of a
dataset folder and ``dataset`` opens and checks one; ``stats`` (with
``mask_stats`` and ``processes``) describes a split; ``synth`` (with
``synth_person``) writes the synthetic default and ``synthetic`` says what it is (the marker
the generator writes, how it differs from CIHP); ``pipeline`` feeds training.
"""
