"""What a GGUF model file says about itself: name, architecture, training context length.

Reads the header's key-value section only (the format is documented in ggml's
`docs/gguf.md`); a dependency that maps the whole file and its tensors would be more than the
three fields the embedded model server needs.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?"}
_SCALARS |= {10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class GgufError(ValueError):
    """Not a GGUF file, or one cut short."""


class GgufInfo(BaseModel):
    """The header fields WeaverGen uses."""

    name: str
    architecture: str
    context_length: int | None
    size_label: str | None = None


def read_info(path: Path) -> GgufInfo:
    """Name, architecture and context length from the GGUF file at `path`."""
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise GgufError(f"{path}: not a GGUF model file")
        version, _tensors, count = struct.unpack("<IQQ", _exactly(f, 20, path))
        if version < 2:
            raise GgufError(f"{path}: GGUF version {version} is too old (need 2 or later)")
        meta: dict[str, object] = {}
        for _ in range(count):
            key = _string(f, path)
            (kind,) = struct.unpack("<I", _exactly(f, 4, path))
            meta[key] = _value(f, kind, path)
    arch = str(meta.get("general.architecture") or "unknown")
    context = meta.get(f"{arch}.context_length")
    label = meta.get("general.size_label")
    return GgufInfo(
        name=str(meta.get("general.name") or path.stem),
        architecture=arch,
        context_length=int(context) if isinstance(context, int) else None,
        size_label=str(label) if label else None,
    )


def _exactly(f: BinaryIO, size: int, path: Path) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise GgufError(f"{path}: the GGUF header is cut short")
    return data


def _string(f: BinaryIO, path: Path) -> str:
    (size,) = struct.unpack("<Q", _exactly(f, 8, path))
    return _exactly(f, size, path).decode("utf-8", "replace")


def _value(f: BinaryIO, kind: int, path: Path) -> object:
    if kind == _STRING:
        return _string(f, path)
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack(fmt, _exactly(f, struct.calcsize(fmt), path))[0]
    if kind == _ARRAY:  # skipped (token lists): only their size matters here
        item, size = struct.unpack("<IQ", _exactly(f, 12, path))
        if item in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[item]) * size, 1)
        else:
            for _ in range(size):
                _value(f, item, path)
        return None
    raise GgufError(f"{path}: unknown GGUF value type {kind}")
