"""Agreement metrics (hand-computed values) and the AITW/LCS action matching rules."""

from __future__ import annotations

import math

import pytest

from llamatouch.actions import Scroll, Swipe, Tap, Type
from llamatouch.errors import InputFormatError
from llamatouch.evaluator.agreement import Confusion, kappa_of, load_labels, metrics, wilson
from llamatouch.evaluator.baselines import AitwAction, actions_match, to_aitw


def test_wilson_known_values():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson(10, 10)[1] == pytest.approx(1.0)
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_metrics_hand_computed():
    # tp=40 fp=5 tn=45 fn=10
    pairs = [(True, True)] * 40 + [(True, False)] * 5 + [(False, False)] * 45 + [(False, True)] * 10
    m = metrics(pairs)
    assert m.accuracy == pytest.approx(0.85)
    assert m.precision == pytest.approx(40 / 45)
    assert m.recall == pytest.approx(0.8)
    assert m.f1 == pytest.approx(80 / 95)
    # po = .85, pe = (45*50 + 55*50)/100^2 = .5  -> kappa = .7
    assert m.kappa == pytest.approx(0.7)
    lo, hi = m.intervals["kappa"]
    assert lo < 0.7 < hi and hi - lo < 0.4
    assert kappa_of(Confusion(tp=5, tn=5)) == 1.0


def test_labels_csv_errors(tmp_path):
    p = tmp_path / "l.csv"
    p.write_text("episode,verdict\na,1\n")
    with pytest.raises(InputFormatError, match="episode,human"):
        load_labels(p)
    p.write_text("episode,human\na,yes\n")
    with pytest.raises(InputFormatError, match="line 2"):
        load_labels(p)
    p.write_text("episode,human,note\na,1,fine\na,0,again\n")
    with pytest.raises(InputFormatError, match="twice"):
        load_labels(p)


W, H = 1000, 2000


def _a(action) -> AitwAction:
    out = to_aitw(action, W, H)
    assert out is not None
    return out


def test_aitw_taps():
    box = [(0.10, 0.10, 0.15, 0.30)]  # top, left, bottom, right (normalised)
    a = _a(Tap(x=110, y=210))
    # both inside the same element box while 0.18 apart (more than 0.14)
    assert actions_match(a, _a(Tap(x=290, y=290)), box)
    # 0.2 apart, no box in common
    assert not actions_match(a, _a(Tap(x=110, y=610)), box)
    # within 0.14 of the screen without a box
    assert actions_match(a, _a(Tap(x=200, y=400)), [])
    # the grown box: a point just outside the original box but inside the grown one
    grown_hit = _a(Tap(x=330, y=310))
    assert actions_match(_a(Tap(x=120, y=220)), grown_hit, box)


def test_aitw_drags_types_and_keys():
    up = _a(Scroll(direction="down"))
    swipe_up = _a(Swipe(x1=500, y1=1600, x2=520, y2=400))
    assert actions_match(up, swipe_up, [])
    assert not actions_match(up, _a(Scroll(direction="left")), [])
    assert not actions_match(up, _a(Tap(x=500, y=500)), [])
    assert actions_match(_a(Type(text="Hello")), _a(Type(text="hello ")), [])
    assert not actions_match(_a(Type(text="Hello")), _a(Type(text="Help")), [])
