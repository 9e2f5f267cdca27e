"""The header of a `.ply`, read without plyfile, so that declared sizes are checked before allocation.

plyfile allocates every element's declared rows before it reads an ASCII body (a 100 KB file that
declares 10^8 vertices asks for 15 GiB). `check_body_size` first compares each declared count with
what the file can hold: a binary row has an exact size (a list property at least its length field),
an ASCII value takes at least two bytes (a character and a separator).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from img2gs.errors import DataFormatError

MAX_HEADER_BYTES = 2**20  # a 3DGS header is ~1.6 KB
FORMATS = ("ascii", "binary_little_endian", "binary_big_endian")
TYPE_BYTES = {"char": 1, "int8": 1, "uchar": 1, "uint8": 1, "short": 2, "int16": 2, "ushort": 2, "uint16": 2,
              "int": 4, "int32": 4, "uint": 4, "uint32": 4, "float": 4, "float32": 4, "double": 8, "float64": 8}


@dataclass(frozen=True)
class PlyElementSpec:
    name: str
    count: int  # rows declared
    values: int  # values per row at least (a list property counts its length)
    row_bytes: int  # binary bytes per row at least (a list property counts its length field)


@dataclass(frozen=True)
class PlyHeader:
    format: str  # one of FORMATS
    body_offset: int  # bytes before the first row
    elements: tuple[PlyElementSpec, ...]

    def element(self, name: str) -> PlyElementSpec | None:
        return next((e for e in self.elements if e.name == name), None)

    def min_body_bytes(self) -> int:
        if self.format == "ascii":
            return sum(2 * e.values * e.count for e in self.elements) - 1  # the last newline may be missing
        return sum(e.row_bytes * e.count for e in self.elements)


def read_ply_header(path: str | os.PathLike) -> PlyHeader:
    """Parse the header of `path` (at most MAX_HEADER_BYTES). Raises DataFormatError."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(MAX_HEADER_BYTES)
    if not head:
        raise DataFormatError(f"{path}: empty file (0 bytes), not a .ply")
    newline = next((nl for nl in (b"\r\n", b"\n", b"\r") if head.startswith(b"ply" + nl)), None)
    if newline is None:
        raise DataFormatError(f"{path}: not a .ply file (it does not start with 'ply')")
    fmt, elements, offset = None, [], len(b"ply" + newline)
    for raw in head.split(newline)[1:]:
        offset += len(raw) + len(newline)
        try:
            words = raw.decode("ascii").split()
        except UnicodeDecodeError:
            raise DataFormatError(f"{path}: the .ply header is not ASCII text") from None
        if words == ["end_header"]:
            return _header(fmt, offset, elements, path)
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            fmt = _format(words, path)
        elif words[0] == "element":
            elements.append(_element(words, path))
        elif words[0] == "property" and elements:
            elements[-1] = _add_property(elements[-1], words, path)
        else:
            raise DataFormatError(f"{path}: unexpected line in the .ply header: {raw[:40]!r}")
    raise DataFormatError(f"{path}: the .ply header does not end (no 'end_header' in the first "
                          f"{min(len(head), MAX_HEADER_BYTES):,} bytes)")


def check_body_size(path: str | os.PathLike, header: PlyHeader) -> None:
    """Refuse a file too short for the rows its header declares (before anything is read)."""
    path = Path(path)
    body = path.stat().st_size - header.body_offset
    if body < header.min_body_bytes():
        counts = ", ".join(f"{e.count:,} {e.name!r} rows" for e in header.elements)
        raise DataFormatError(f"{path}: truncated .ply: its header declares {counts}, which needs at least "
                              f"{header.min_body_bytes():,} bytes after the header; the file has {body:,}")


def _header(fmt: str | None, offset: int, elements: list[PlyElementSpec], path: Path) -> PlyHeader:
    if fmt is None or not elements:
        raise DataFormatError(f"{path}: the .ply header has no format or no element")
    empty = [e.name for e in elements if e.count and not e.values]
    if empty:
        raise DataFormatError(f"{path}: .ply element {empty[0][:40]!r} declares rows but no properties")
    return PlyHeader(fmt, offset, tuple(elements))


def _format(words: list[str], path: Path) -> str:
    if len(words) != 3 or words[1] not in FORMATS or words[2] != "1.0":
        raise DataFormatError(f"{path}: unsupported .ply format line {' '.join(words)[:60]!r}")
    return words[1]


def _element(words: list[str], path: Path) -> PlyElementSpec:
    try:
        count = int(words[2]) if len(words) == 3 else -1
    except ValueError:
        count = -1
    if count < 0:
        raise DataFormatError(f"{path}: bad .ply element line {' '.join(words)[:60]!r}")
    return PlyElementSpec(words[1], count, 0, 0)


def _add_property(element: PlyElementSpec, words: list[str], path: Path) -> PlyElementSpec:
    if len(words) == 5 and words[1] == "list" and words[2] in TYPE_BYTES and words[3] in TYPE_BYTES:
        size = TYPE_BYTES[words[2]]  # the length field; the values may be none
    elif len(words) == 3 and words[1] in TYPE_BYTES:
        size = TYPE_BYTES[words[1]]
    else:
        raise DataFormatError(f"{path}: bad .ply property line {' '.join(words)[:60]!r}")
    return PlyElementSpec(element.name, element.count, element.values + 1, element.row_bytes + size)
