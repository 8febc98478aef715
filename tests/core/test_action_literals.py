"""Scroll directions and finish statuses are closed vocabularies: typed as Literals, parsed
once at the boundary (``as_direction`` / ``as_finish_status``), refused with the known values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamatouch.actions import (
    DIRECTIONS,
    FINISH_STATUSES,
    Finish,
    Scroll,
    action_from_json,
    as_direction,
    as_finish_status,
)
from llamatouch.errors import ActionError


@pytest.mark.parametrize(
    ("parse", "known"),
    [(as_direction, DIRECTIONS), (as_finish_status, FINISH_STATUSES)],
    ids=["direction", "finish_status"],
)
@given(text=st.text(max_size=12))
def test_the_parser_accepts_exactly_the_vocabulary(parse, known, text: str) -> None:
    if text in known:
        assert parse(text) == text
    else:
        with pytest.raises(ActionError, match=", ".join(known)):
            parse(text)


def test_the_json_form_is_unchanged() -> None:
    assert action_from_json({"action": "scroll", "direction": "down"}) == Scroll(direction="down")
    assert Finish(status="infeasible").to_json() == {"action": "finish", "status": "infeasible"}
    with pytest.raises(ActionError, match="sideways"):
        action_from_json({"action": "scroll", "direction": "sideways"})
    with pytest.raises(ActionError, match="maybe"):
        action_from_json({"action": "finish", "status": "maybe"})
