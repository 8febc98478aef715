"""The content key of a screen: what states are de-duplicated by.

The same key the DroidBot / DroidTask importers use to merge states with different recorded
hashes (:func:`llamatouch.datasets.droidbot_common.load_states`): the SHA-256 of our normalised
``uiautomator dump`` of the hierarchy, a NUL byte, and the foreground activity. Two
observations have the same key exactly when their hierarchies (every attribute of every node,
typed text and focus included) and activities are the same.
"""

from __future__ import annotations

import hashlib

from llamatouch.ui.node import UIScreen
from llamatouch.ui.xmlio import write_uiautomator_xml

#: Length of the hex prefix of the content key used as a recorded state's id.
STATE_ID_LEN = 20


def content_key(screen: UIScreen, activity: str | None = None) -> str:
    """SHA-256 (hex) of the normalised hierarchy and the activity (``screen.activity`` unless
    ``activity`` is given)."""
    act = screen.activity if activity is None else activity
    return hashlib.sha256(write_uiautomator_xml(screen) + b"\0" + act.encode()).hexdigest()


def state_id(key: str) -> str:
    """The id a recorded state gets: ``s`` + the first :data:`STATE_ID_LEN` hex digits of its
    content key (file-name safe, see :func:`llamatouch.world.safe_name`)."""
    return "s" + key[:STATE_ID_LEN]
