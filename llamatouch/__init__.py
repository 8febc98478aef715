"""llamatouch: a testbed for mobile UI agents."""

__version__ = "0.1.0"
