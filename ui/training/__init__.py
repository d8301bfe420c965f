"""The Training page's parts: ``start_form`` (a preset, its hyperparameters and an estimate),
``live`` (the run that trains, refreshing itself), ``runs_table`` (every run, the comparison
and the actions), ``files`` (the run folder's files through shared caches) and ``state``
(the shown run, the messages of the buttons and the instructor gate).

The page never trains: ``seglib.training.scheduler`` starts a worker process that writes a run
folder, and these modules only read that folder.
"""
