"""Training: the worker process, run folders and their scheduling, pretraining, the demo model and the reference runs.

Run folders: the ``runs`` package (what a folder holds; one reader and one writer per file; the
preview strip; the worker's progress writer; run ids and folders; what the pages ask of a run).
Scheduling: ``scheduler`` starts, stops, resumes and deletes runs (one job per machine),
``liveness`` tells whether a worker is alive, ``planning`` estimates a run before it starts.
The worker: ``worker`` (``train``) with ``splits``, ``startup``, ``steps``, ``epoch`` and ``callbacks``;
``python -m seglib train`` is ``seglib.cli.train``. ``pretrain`` trains the backbone's pretrained
start (``python -m seglib pretrain``); ``demo``, ``reference`` and ``diagnosis`` record and read the
shipped demo model and reference runs; ``provenance`` says what a model was trained on.
"""
