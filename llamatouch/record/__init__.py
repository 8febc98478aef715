"""Recording a world from a device: systematic exploration of one app (``llamatouch world
record``) and comparison of two worlds (``llamatouch world diff``).

Modules: :mod:`~llamatouch.record.keys` (the content key states are de-duplicated by),
:mod:`~llamatouch.record.candidates` (the actions a screen offers, the avoid list),
:mod:`~llamatouch.record.store` (states found, frontier, transitions; the resumable
exploration state), :mod:`~llamatouch.record.writer` (the world folder),
:mod:`~llamatouch.record.explorer` (the breadth-first exploration), :mod:`~llamatouch.record.
diff` (world diff and coverage) and :mod:`~llamatouch.record.remap` (running a world's tasks
on a recording of it).
"""
