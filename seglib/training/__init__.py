"""Training: the worker process, run folders and their scheduling, losses, the demo model and the reference runs."""
