"""Frame surgery for tests: edit bytes inside a dfship frame and re-seal it
with a valid check, so that the decoder's later checks (not the checksum) are
what a test exercises. Mirrors the layout in crates/wire/src/lib.rs."""

from __future__ import annotations

import zlib


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def varint(n: int) -> bytes:
    """`n` as unsigned LEB128."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def nested_messages(levels: int) -> bytes:
    """A protobuf message of `levels` field-1 submessages nested around a
    varint field, built outside in (linear time)."""
    size, headers = 2, []
    for _ in range(levels - 1):
        header = b"\x0a" + varint(size)
        headers.append(header)
        size += len(header)
    return b"".join(reversed(headers)) + b"\x08\x01"


def split(frame: bytes) -> tuple[bytes, bytes]:
    """(header up to the body, body)."""
    length, body_start = _varint(frame, 6)
    return frame[:body_start], frame[body_start : body_start + length]


def seal(header: bytes, body: bytes, tag: bytes | None = None) -> bytes:
    """A frame with `body` under `header`'s magic, version and flags; with
    `tag`, a signed frame (flag bit 1 set, the tag after the body)."""
    out = bytearray(header[:6])
    if tag is not None:
        out[5] |= 0x02
    out += varint(len(body))
    out += body
    out += tag or b""
    out += zlib.crc32(bytes(out)).to_bytes(4, "little")
    return bytes(out)


def edit_body(frame: bytes, edit) -> bytes:  # type: ignore[no-untyped-def]
    header, body = split(frame)
    return seal(header, edit(body))


def set_python_stamp(frame: bytes, major: int, minor: int) -> bytes:
    """Rewrites the sender Python version of every inline UDF payload."""

    def edit(body: bytes) -> bytes:
        out = bytearray(body)
        for magic in (b"DFSs", b"DFSa", b"DFSw"):
            at = out.find(magic)
            while at != -1:
                out[at + 5] = major
                out[at + 6] = minor
                at = out.find(magic, at + 1)
        return bytes(out)

    return edit_body(frame, edit)


def _fields(msg: bytes):  # type: ignore[no-untyped-def]
    """(start, content start, content end, end) of each field of `msg`;
    content bounds only for length-delimited fields."""
    pos = 0
    while pos < len(msg):
        start = pos
        key, pos = _varint(msg, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(msg, pos)
            yield start, None, None, pos
        elif wire == 2:
            length, pos = _varint(msg, pos)
            yield start, pos, pos + length, pos + length
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            yield start, None, None, pos
        else:
            raise ValueError(f"wire type {wire} at {start}")


def splice(msg: bytes, start: int, end: int, new: bytes) -> bytes:
    """`msg` with the whole fields in `msg[start:end]` (at any depth)
    replaced by `new`, the lengths of every enclosing message rewritten."""
    out = bytearray()
    for field_start, content_start, content_end, field_end in _fields(msg):
        if field_start == start:
            out += new
        if start <= field_start < end:
            continue
        if content_start is not None and content_start <= start and end <= content_end:
            offset = content_start
            inner = splice(msg[content_start:content_end], start - offset, end - offset, new)
            key_end = field_start
            _, key_end = _varint(msg, key_end)
            out += msg[field_start:key_end] + varint(len(inner)) + inner
        else:
            out += msg[field_start:field_end]
    if start == len(msg):
        out += new
    return bytes(out)


def repeated_run(msg: bytes, times: int) -> tuple[int, bytes]:
    """Where `times` identical length-delimited fields follow one another
    in `msg` (at any depth): (offset, one field's bytes)."""
    for at in range(len(msg)):
        try:
            key, pos = _varint(msg, at)
            if key & 7 != 2 or key >> 3 == 0:
                continue
            length, pos = _varint(msg, pos)
        except IndexError:
            continue
        one = msg[at : pos + length]
        if len(one) > 2 and msg[at : at + len(one) * times] == one * times:
            return at, one
    raise ValueError("no run found")
