"""Static HTML reports of eval / score runs (``llamatouch report RUN_DIR``)."""
