"""Data: the synthetic CIHP-layout generator, reading and checking datasets, dataset statistics, and the tf.data input pipeline."""
