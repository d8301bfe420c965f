"""Training: the worker process, run folders and their scheduling, losses, the demo model and the reference runs.

A run folder: ``runfiles`` names its files and reads (validated) and writes
them, ``previews`` its preview strip, ``runfolder`` is what the pages read
(``read_progress``, ``list_runs``, ...). Scheduling: ``scheduler`` starts,
stops, resumes and deletes runs (one job per machine), ``liveness`` tells
whether a worker is alive, ``planning`` estimates a run before it starts.
The worker: ``worker`` (``train``) with ``splits``, ``steps``, ``epoch``,
``callbacks`` and ``progress``; ``python -m seglib train`` is ``seglib.cli.train``.
"""
