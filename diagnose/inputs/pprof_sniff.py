"""Telling a pprof profile (profile.proto's Profile message, once decompressed) from other
binary data by walking the start of its protobuf wire format, without decoding it."""

from __future__ import annotations

# profile.proto's top-level fields: number -> wire types allowed (0 varint, 2 length-delimited).
_FIELDS = {1: (2,), 2: (2,), 3: (2,), 4: (2,), 5: (2,), 6: (2,), 7: (0,), 8: (0,), 9: (0,), 10: (0,),
           11: (2,), 12: (0,), 13: (0, 2), 14: (0,)}


def _varint(buf: bytes, i: int) -> tuple[int, int] | None:
    """(value, next index); None when the varint runs past the end of buf; (-1, i) when it is
    longer than the 10 bytes a varint may take."""
    value = shift = 0
    for j in range(i, min(len(buf), i + 10)):
        b = buf[j]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, j + 1
        shift += 7
    return None if len(buf) < i + 10 else (-1, i)


# The messages inside a Profile: field number -> wire types allowed.
_VALUE_TYPE = {1: (0,), 2: (0,)}
_SAMPLE = {1: (0, 2), 2: (0, 2), 3: (2,)}
_MAPPING = {n: (0,) for n in range(1, 11)}
_LOCATION = {1: (0,), 2: (0,), 3: (0,), 4: (2,), 5: (0,)}
_FUNCTION = {n: (0,) for n in range(1, 6)}
_INNER = {1: _VALUE_TYPE, 2: _SAMPLE, 3: _MAPPING, 4: _LOCATION, 5: _FUNCTION, 11: _VALUE_TYPE}
# A Profile starts with one of these (Go's runtime writes time_nanos, 9, first).
_STRUCTURE = frozenset((1, 2, 4, 6))


def _message(buf: bytes, allowed: dict[int, tuple[int, ...]]) -> bool:
    """Is buf a whole message whose fields are all among `allowed`, with their wire types?"""
    i = 0
    while i < len(buf):
        tag = _varint(buf, i)
        if tag is None or tag[0] < 0 or (tag[0] & 7) not in allowed.get(tag[0] >> 3, ()):
            return False
        got = _varint(buf, tag[1])
        if got is None or got[0] < 0:
            return False
        i = got[1] if tag[0] & 7 == 0 else got[1] + got[0]
        if i > len(buf):
            return False
    return True


def looks_like_pprof(data: bytes, whole: bool) -> bool:
    """Does `data` (the start of a decompressed input; `whole` when it is all of it) read as a
    profile.proto Profile message? Every field up to the end of `data` must be one of Profile's
    with its wire type, and each message inside it (sample types, samples, mappings, locations,
    functions) well formed; the first string of the string table must be empty, and at least two
    fields, one of them a sample type, sample, location or string, must be there."""
    i = fields = strings = 0
    structure = False
    while i < len(data):
        tag = _varint(data, i)
        if tag is None:
            break
        number, wire = tag[0] >> 3, tag[0] & 7
        if tag[0] < 0 or wire not in _FIELDS.get(number, ()):
            return False
        got = _varint(data, tag[1])
        if got is None:
            break
        if got[0] < 0:
            return False
        if wire == 0:
            i = got[1]
        else:
            start, end = got[1], got[1] + got[0]
            if end > len(data):
                break
            body = data[start:end]
            inner = _INNER.get(number)
            if inner is not None and not _message(body, inner):
                return False
            if number == 6:
                if strings == 0 and body:
                    return False
                strings += 1
            i = end
        fields += 1
        structure = structure or number in _STRUCTURE
    if i < len(data) and whole:
        return False  # the whole input must be whole fields
    return fields >= 2 and structure
