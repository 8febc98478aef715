"""Dataset importers: DroidTask, DroidBot explorations, ground-truth traces.

Each importer reads a dataset layout as published and writes llamatouch's own formats
(worlds, task suites, traces). Importers never crash on a malformed record: they skip it and
report an :class:`~llamatouch.datasets.problems.ImportProblem`.
"""
