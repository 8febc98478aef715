"""The ``sync:`` service (file transfer), protocol version 1, over the device's in-memory file
system.

Facts from AOSP ``adb/file_sync_protocol.h``: a request is a 4-byte id and a 4-byte
little-endian length followed by that many bytes (a path, at most 1024). ``STAT`` answers
``STAT mode size mtime`` (zeros when missing); ``LIST`` answers ``DENT mode size mtime namelen
name`` per entry and ``DONE`` with four zero words; ``RECV`` answers ``DATA len bytes`` chunks of
at most 64 KiB and ``DONE 0`` (or ``FAIL len message``); ``SEND path,mode`` is followed by the
client's ``DATA`` chunks and ``DONE mtime`` and answered ``OKAY 0`` (or ``FAIL``); ``QUIT`` ends
the session.
"""

from __future__ import annotations

import struct
from typing import Protocol

from llamatouch_emulator.shell_cmds import VirtualFS

SYNC_DATA_MAX = 64 * 1024
MAX_PATH = 1024
#: Largest file a client may push (bounded by the file system's own limit as well).
MAX_PUSH_BYTES = 32 * 1024 * 1024


class _Stream(Protocol):
    async def read_exact(self, n: int) -> bytes: ...
    async def write(self, data: bytes) -> None: ...


def _fail(message: str) -> bytes:
    data = message.encode("utf-8")
    return b"FAIL" + struct.pack("<I", len(data)) + data


async def serve_sync(stream: _Stream, fs: VirtualFS) -> None:
    """Answer sync requests until ``QUIT`` or the stream closes."""
    while True:
        head = await stream.read_exact(8)
        rid, length = head[:4], struct.unpack("<I", head[4:])[0]
        if rid == b"QUIT":
            return
        if length > MAX_PATH:
            await stream.write(_fail(f"path too long ({length} bytes)"))
            return
        path = (await stream.read_exact(length)).decode("utf-8", "replace")
        if rid == b"STAT":
            st = fs.stat(path)
            mode, size, mtime = st if st is not None else (0, 0, 0)
            await stream.write(b"STAT" + struct.pack("<3I", mode, size & 0xFFFFFFFF, mtime))
        elif rid == b"LIST":
            out = bytearray()
            if fs.is_dir(path):
                for name in [".", "..", *fs.listdir(path)]:
                    child = path.rstrip("/") + "/" + name
                    st = fs.stat(child) if name not in (".", "..") else (0o040771, 4096, 0)
                    mode, size, mtime = st if st is not None else (0, 0, 0)
                    raw = name.encode("utf-8")
                    out += b"DENT" + struct.pack("<4I", mode, size, mtime, len(raw)) + raw
            out += b"DONE" + struct.pack("<4I", 0, 0, 0, 0)
            await stream.write(bytes(out))
        elif rid == b"RECV":
            data = fs.read(path)
            if data is None:
                what = "Is a directory" if fs.is_dir(path) else "No such file or directory"
                await stream.write(_fail(f"open failed: {what}"))
                continue
            out = bytearray()
            for start in range(0, len(data), SYNC_DATA_MAX):
                chunk = data[start : start + SYNC_DATA_MAX]
                out += b"DATA" + struct.pack("<I", len(chunk)) + chunk
            out += b"DONE" + struct.pack("<I", 0)
            await stream.write(bytes(out))
        elif rid == b"SEND":
            await _receive_file(stream, fs, path)
        else:
            await stream.write(_fail(f"unknown sync request {rid!r}"))
            return


async def _receive_file(stream: _Stream, fs: VirtualFS, spec: str) -> None:
    path, _, mode_text = spec.rpartition(",")
    if not path:
        path, mode_text = spec, "33188"
    try:
        mode = int(mode_text)
    except ValueError:
        mode = 0o100644
    buf = bytearray()
    too_big = False
    while True:
        head = await stream.read_exact(8)
        rid, length = head[:4], struct.unpack("<I", head[4:])[0]
        if rid == b"DATA":
            if length > SYNC_DATA_MAX:
                await stream.write(_fail(f"data chunk of {length} bytes exceeds {SYNC_DATA_MAX}"))
                return
            chunk = await stream.read_exact(length)
            if len(buf) + len(chunk) > MAX_PUSH_BYTES:
                too_big = True
            else:
                buf += chunk
        elif rid == b"DONE":
            break
        else:
            await stream.write(_fail(f"unexpected {rid!r} during SEND"))
            return
    if too_big:
        await stream.write(_fail(f"{path}: file larger than {MAX_PUSH_BYTES} bytes"))
        return
    try:
        fs.write(path, bytes(buf), mode | 0o100000 if mode < 0o10000 else mode)
    except OSError as exc:
        await stream.write(_fail(str(exc)))
        return
    await stream.write(b"OKAY" + struct.pack("<I", 0))
