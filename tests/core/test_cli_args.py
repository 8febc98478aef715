"""The shared argument types of the CLI (llamatouch/cli/args.py): ranges and paths checked at
parse time, one-line errors, exit status 2 (fast tier: no subprocess)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llamatouch.cli import args as A
from llamatouch.cli import build_parser


@given(st.integers(min_value=-10**6, max_value=10**6))
def test_port_accepts_exactly_1_to_65535(n: int) -> None:
    if 1 <= n <= 65535:
        assert A.port(str(n)) == n
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="not a port"):
            A.port(str(n))
    if 0 <= n <= 65535:
        assert A.port_or_any(str(n)) == n
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            A.port_or_any(str(n))


@given(st.text(max_size=8))
def test_numbers_from_any_text_are_a_value_or_a_type_error(text: str) -> None:
    for check in (A.port, A.positive_int, A.non_negative_int, A.positive_float,
                  A.non_negative_float, A.fraction, A.int_range(64, 4096)):
        try:
            value = check(text)
        except argparse.ArgumentTypeError as exc:
            assert str(exc)  # says what is wrong
            continue
        assert isinstance(value, (int, float)) and value == value  # a real, finite number


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400"])
def test_non_finite_numbers_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="finite"):
        A.positive_float(text)


def test_paths(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    assert A.output_dir(str(tmp_path / "new" / "deeper")) == tmp_path / "new" / "deeper"
    assert A.output_dir(str(tmp_path)) == tmp_path
    assert A.output_file(str(f)) == f
    assert A.output_file(str(tmp_path / "new.html")) == tmp_path / "new.html"
    for check, bad, says in (
        (A.output_dir, f, "is a file"),
        (A.output_dir, f / "sub", "is a file"),
        (A.output_file, tmp_path, "is a folder"),
        (A.output_file, f / "x.html", "is a file"),
        (A.existing_dir, f, "not a folder"),
        (A.existing_dir, tmp_path / "nope", "does not exist"),
        (A.existing_file, tmp_path, "not a file"),
        (A.existing_path, tmp_path / "nope", "does not exist"),
    ):
        with pytest.raises(argparse.ArgumentTypeError, match=says):
            check(str(bad))
    with pytest.raises(argparse.ArgumentTypeError, match="NUL"):
        A.output_dir("a\x00b")
    with pytest.raises(argparse.ArgumentTypeError, match="empty"):
        A.existing_file("")
    assert A.as_text(A.existing_dir)(str(tmp_path)) == str(tmp_path)


def test_parse_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["annotate", str(tmp_path), "--port", "99999"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--port" in err and "99999 is not a port" in err
