"""The UI hierarchy model, its readers and writers, and the views derived from it.

Modules (see docs/ui-model.md): ``node`` (UINode, UIScreen, Bounds, stable keys, hit-testing),
``xmlio`` (uiautomator XML), ``droidbot`` (DroidBot state JSON), ``vh`` (LlamaTouch ``.vh`` and
``<i>.json``), ``components`` (indexed component list), ``html`` (HTML view for agents),
``html_agreement`` (recorded DroidTask views), ``render`` (screenshot drawn from the
hierarchy), ``image`` (safe PNG/JPEG decoding).
"""

from llamatouch.ui.node import Bounds, UINode, UIScreen

__all__ = ["Bounds", "UINode", "UIScreen"]
