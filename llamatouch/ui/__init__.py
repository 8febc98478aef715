"""The UI hierarchy model, its readers and writers, and the views derived from it."""

from llamatouch.ui.node import Bounds, UINode, UIScreen

__all__ = ["Bounds", "UINode", "UIScreen"]
