"""Bad input: every reader fails with a typed error that names the file."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from llamatouch.datasets.llamatouch_vh import read_component_list, read_vh_file
from llamatouch.errors import ImageFormatError, JsonFormatError, XmlFormatError
from llamatouch.ui import xmlio
from llamatouch.ui.droidbot import read_droidbot_state
from llamatouch.ui.image import decode_image, read_image
from llamatouch.ui.xmlio import parse_xml_bytes, read_uiautomator_file

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<hierarchy rotation="0"><node text="&lol9;" bounds="[0,0][1,1]"/></hierarchy>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE h [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<hierarchy rotation="0"><node text="&xxe;" bounds="[0,0][1,1]"/></hierarchy>
"""


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _assert_names(exc: pytest.ExceptionInfo[BaseException], path: Path) -> None:
    assert str(path) in str(exc.value)
    assert getattr(exc.value, "source", None) == str(path)


# -- XML -------------------------------------------------------------------------------------
def test_truncated_real_dump(tmp_path: Path, click_case_xml: Path) -> None:
    data = click_case_xml.read_bytes()
    p = _write(tmp_path, "truncated.xml", data[: len(data) // 2])
    with pytest.raises(XmlFormatError) as exc:
        read_uiautomator_file(p)
    _assert_names(exc, p)
    assert "malformed" in str(exc.value)


@pytest.mark.parametrize(
    "data",
    [
        b"<hierarchy><node bounds='[0,0][1,1]'></hierarchy>",  # mismatched tags
        b"not xml at all",
        b"",
        b"   \n",
        b"<hierarchy rotation='0'></hierarchy>",  # no node ("null root node")
        b"<other><node bounds='[0,0][1,1]'/></other>",  # wrong root
        b"<hierarchy><node bounds='[0,0]x'/></hierarchy>",  # bad bounds
        b"<hierarchy><node index='x' bounds='[0,0][1,1]'/></hierarchy>",  # bad index
        b"<hierarchy rotation='up'><node bounds='[0,0][1,1]'/></hierarchy>",  # bad rotation
    ],
)
def test_malformed_xml(tmp_path: Path, data: bytes) -> None:
    p = _write(tmp_path, "bad.xml", data)
    with pytest.raises(XmlFormatError) as exc:
        read_uiautomator_file(p)
    _assert_names(exc, p)


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    p = _write(tmp_path, "lol.xml", BILLION_LAUGHS)
    with pytest.raises(XmlFormatError) as exc:
        read_uiautomator_file(p)
    _assert_names(exc, p)
    assert "DOCTYPE" in str(exc.value)


def test_external_entity_is_never_read(tmp_path: Path) -> None:
    p = _write(tmp_path, "xxe.xml", XXE)
    with pytest.raises(XmlFormatError) as exc:
        read_uiautomator_file(p)
    _assert_names(exc, p)
    assert "root:" not in str(exc.value)
    # even with the declaration check out of the way the parser resolves nothing
    undeclared = b'<hierarchy><node text="&xxe;" bounds="[0,0][1,1]"/></hierarchy>'
    with pytest.raises(XmlFormatError):
        read_uiautomator_file(_write(tmp_path, "undeclared.xml", undeclared))


def test_declaration_hidden_after_a_long_comment(tmp_path: Path) -> None:
    data = b"<!--" + b"x" * 10_000 + b"-->" + XXE.split(b"?>", 1)[1]
    with pytest.raises(XmlFormatError, match="DOCTYPE"):
        parse_xml_bytes(data, tmp_path / "late.xml")


def test_oversized_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = b'<node text="aaaaaaaaaa" bounds="[0,0][1,1]"/>'
    doc = b"<hierarchy>" + node * 2000 + b"</hierarchy>"
    monkeypatch.setattr(xmlio, "MAX_XML_BYTES", len(doc) - 1)
    p = _write(tmp_path, "big.xml", doc)
    with pytest.raises(XmlFormatError) as exc:
        read_uiautomator_file(p)
    _assert_names(exc, p)
    assert "limit" in str(exc.value)


def test_real_limit_refuses_a_17_mib_document(tmp_path: Path) -> None:
    p = _write(tmp_path, "huge.xml", b"<hierarchy>" + b" " * (17 * 1024 * 1024) + b"</hierarchy>")
    with pytest.raises(XmlFormatError, match="limit"):
        read_uiautomator_file(p)


def test_missing_xml_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.xml"
    with pytest.raises(XmlFormatError) as exc:
        read_uiautomator_file(p)
    _assert_names(exc, p)


# -- JSON ------------------------------------------------------------------------------------
def test_truncated_real_droidbot_state(tmp_path: Path, droidtask_dir: Path) -> None:
    real = next(iter(sorted(droidtask_dir.glob("calendar/states/*.json"))))
    data = real.read_bytes()
    p = _write(tmp_path, "state.json", data[: len(data) // 3])
    with pytest.raises(JsonFormatError) as exc:
        read_droidbot_state(p)
    _assert_names(exc, p)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("list.json", b"[1, 2]"),
        ("noviews.json", b'{"width": 1}'),
        ("badview.json", b'{"views": [3]}'),
        ("badbounds.json", b'{"views": [{"temp_id": 0, "parent": -1, "bounds": "x"}]}'),
        ("binary.json", b"\xff\xfe\x00garbage"),
    ],
)
def test_malformed_droidbot_json(tmp_path: Path, name: str, data: bytes) -> None:
    p = _write(tmp_path, name, data)
    with pytest.raises(JsonFormatError) as exc:
        read_droidbot_state(p)
    _assert_names(exc, p)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a.vh", b'[{"temp_id": 0, "parent": -1'),
        ("b.vh", b'{"views": []}'),
        ("c.vh", b"[]"),
    ],
)
def test_malformed_vh(tmp_path: Path, name: str, data: bytes) -> None:
    p = _write(tmp_path, name, data)
    with pytest.raises(JsonFormatError) as exc:
        read_vh_file(p)
    _assert_names(exc, p)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("a.json", b'[{"id": 0, "bounds": "[0,0][1,1]"'),
        ("b.json", b'[{"id": 0, "bounds": "[0,0]"}]'),
        ("c.json", b'[{"id": "zero", "bounds": "[0,0][1,1]"}]'),
        ("d.json", b'{"id": 0}'),
        ("e.json", b'[{"id": 0, "text": 5}]'),
    ],
)
def test_malformed_component_list(tmp_path: Path, name: str, data: bytes) -> None:
    p = _write(tmp_path, name, data)
    with pytest.raises(JsonFormatError) as exc:
        read_component_list(p)
    _assert_names(exc, p)


def test_missing_json_files(tmp_path: Path) -> None:
    for reader, name in ((read_droidbot_state, "s.json"), (read_vh_file, "0.vh"),
                         (read_component_list, "0.json")):
        p = tmp_path / name
        with pytest.raises(JsonFormatError) as exc:
            reader(p)
        _assert_names(exc, p)


# -- images ----------------------------------------------------------------------------------
def _png_header_only(width: int, height: int) -> bytes:
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_real_png_and_jpeg_decode(shared_data: Path, qqmusic_dir: Path) -> None:
    png = read_image(shared_data / "data" / "llamatouch" / "cases" / "click_case1" / "10.png")
    assert png.size == (1080, 1918)  # the real file (the shared README says 1080x2400)
    jpg_path = next(iter(sorted(qqmusic_dir.glob("states/screen_*.jpg"))))
    jpg = read_image(jpg_path)
    assert jpg.format == "JPEG" and jpg.size[0] > 0


def test_truncated_real_png(tmp_path: Path, shared_data: Path) -> None:
    data = (shared_data / "data" / "llamatouch" / "cases" / "click_case1" / "10.png").read_bytes()
    p = _write(tmp_path, "cut.png", data[: len(data) // 2])
    with pytest.raises(ImageFormatError) as exc:
        read_image(p)
    _assert_names(exc, p)


def test_corrupt_and_foreign_images(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[60:80] = b"\x00" * 20  # smash the compressed pixel data
    cases = {
        "smashed.png": bytes(data),
        "text.png": b"hello, I am not a picture",
        "empty.png": b"",
        "header.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF",
    }
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    cases["anim.gif"] = gif.getvalue()  # a real image, but not PNG/JPEG
    for name, blob in cases.items():
        p = _write(tmp_path, name, blob)
        with pytest.raises(ImageFormatError) as exc:
            read_image(p)
        _assert_names(exc, p)


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    p = _write(tmp_path, "bomb.png", _png_header_only(100_000, 100_000))
    with pytest.raises(ImageFormatError, match="pixels") as exc:
        read_image(p)
    _assert_names(exc, p)
    with pytest.raises(ImageFormatError, match="limit"):
        decode_image(_png_header_only(2000, 2000), "small-limit", max_pixels=1000)


def test_missing_image(tmp_path: Path) -> None:
    p = tmp_path / "missing.png"
    with pytest.raises(ImageFormatError) as exc:
        read_image(p)
    _assert_names(exc, p)
