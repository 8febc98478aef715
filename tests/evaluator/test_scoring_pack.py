"""The packed form the scoring workers send back loses nothing."""

from __future__ import annotations

from llamatouch.evaluator.options import Evidence, Verdict
from llamatouch.evaluator.scoring import ScoreResult, _pack, _unpack


def test_a_result_with_a_verdict_survives_packing() -> None:
    ev = [
        Evidence(0, 0, "click", 3, True, 1.0, 1.0, "{text='Clock'}", {"tap": [1.0, 2.0]}, "hit"),
        Evidence(1, 1, "exact", None, None, detail="step 4: unreadable"),
    ]
    verdict = Verdict("fail", [3, None], ev, "checkpoint 2 not satisfied", "t1", "e1", ["x"])
    res = ScoreResult(
        "e1", "t1", "app", "/p/e1", "essential", "fail", "why", verdict, 5, 0.25, ["click"]
    )
    back = _unpack(_pack(res))
    assert back == res
    assert back.verdict is not None and isinstance(back.verdict.evidence[0], Evidence)


def test_a_result_without_a_verdict_survives_packing() -> None:
    res = ScoreResult("e2", "", "", "/p/e2", "lcs", "error", "trace unreadable: no manifest")
    assert _unpack(_pack(res)) == res
