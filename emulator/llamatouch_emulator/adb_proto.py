"""The ADB transport message format, device side.

Facts from AOSP ``packages/modules/adb/protocol.txt`` and ``adb.h``: every message is a
24-byte little-endian header ``command, arg0, arg1, data_length, data_crc32, magic`` followed by
``data_length`` payload bytes. ``magic`` is ``command ^ 0xffffffff``; ``data_crc32`` is, despite
its name, the unsigned byte sum of the payload, and peers speaking version ``0x01000001`` or
later neither send nor check it (they put 0 there).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_STLS = 0x534C5453

#: Protocol versions (adb.h): the minimum, and the one that skips checksums.
A_VERSION_MIN = 0x01000000
A_VERSION_SKIP_CHECKSUM = 0x01000001
#: Largest payload we accept and advertise (adb.h ``MAX_PAYLOAD``: 1 MiB since Android 9).
MAX_PAYLOAD = 1024 * 1024
#: Payload limit of peers older than protocol version 0x01000001 (``MAX_PAYLOAD_V1``).
MAX_PAYLOAD_V1 = 4 * 1024

#: AUTH message types (adb.h).
AUTH_TOKEN = 1
AUTH_SIGNATURE = 2
AUTH_RSAPUBLICKEY = 3

HEADER = struct.Struct("<6I")
HEADER_SIZE = HEADER.size

NAMES = {
    A_SYNC: "SYNC",
    A_CNXN: "CNXN",
    A_AUTH: "AUTH",
    A_OPEN: "OPEN",
    A_OKAY: "OKAY",
    A_CLSE: "CLSE",
    A_WRTE: "WRTE",
    A_STLS: "STLS",
}


class ProtocolError(Exception):
    """A peer sent bytes that are not an ADB message (bad magic, checksum or length)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One ADB message."""

    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    @property
    def name(self) -> str:
        return NAMES.get(self.command, f"0x{self.command:08x}")


def checksum(data: bytes) -> int:
    """The header's ``data_crc32`` field: the byte sum of the payload, modulo 2**32."""
    return sum(data) & 0xFFFFFFFF


def pack(msg: Message, *, with_checksum: bool = True) -> bytes:
    """Header + payload bytes of ``msg``."""
    crc = checksum(msg.data) if with_checksum else 0
    head = HEADER.pack(
        msg.command, msg.arg0, msg.arg1, len(msg.data), crc, msg.command ^ 0xFFFFFFFF
    )
    return head + msg.data


def unpack_header(head: bytes) -> tuple[int, int, int, int, int]:
    """Validate a 24-byte header; return ``(command, arg0, arg1, length, crc)``."""
    if len(head) != HEADER_SIZE:
        raise ProtocolError(f"short header ({len(head)} bytes)")
    command, arg0, arg1, length, crc, magic = HEADER.unpack(head)
    if magic != command ^ 0xFFFFFFFF:
        raise ProtocolError(f"bad magic 0x{magic:08x} for command 0x{command:08x}")
    if length > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {length} bytes exceeds {MAX_PAYLOAD}")
    return command, arg0, arg1, length, crc


def device_banner(props: dict[str, str], features: tuple[str, ...]) -> bytes:
    """The CNXN payload a device sends: ``device::k=v;k=v;features=a,b``."""
    parts = [f"{k}={v}" for k, v in props.items()]
    parts.append("features=" + ",".join(features))
    return ("device::" + ";".join(parts)).encode("utf-8")
