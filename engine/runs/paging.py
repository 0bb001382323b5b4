"""Keyset paging and run id prefixes for the runs list (and other lists of the same kind).

A page of runs is read newest first on (created_at, id); the cursor of the next page is
the last row's pair, encoded as an opaque token. The next page holds the runs strictly
before that pair, so runs started meanwhile (newer: they sort first) never shift a page,
and no run is read twice or skipped however many arrive between two pages. Any list kept
in order by a (time, uuid) pair pages with the same cursors.

A run id prefix is hex digits (dashes anywhere, ignored): the runs it names lie between
the prefix padded with 0s and the prefix padded with fs, a range on the primary key.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from engine.errors import BadRequest, Conflict

CURSOR_VERSION = 1
_CURSOR = struct.Struct(">Bq16s")  # version, microseconds since 1970, the row's uuid
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MIN_PREFIX = 4  # hex digits a run id prefix needs to name one run
MAX_CANDIDATES = 10  # runs listed for an ambiguous prefix
_HEX = re.compile(r"[0-9a-f]{0,32}")

# for the OpenAPI document: hex digits with dashes anywhere
ID_PREFIX_PATTERN = r"^[0-9a-fA-F-]{1,36}$"
RUN_REF_PATTERN = r"^[0-9a-fA-F-]{4,36}$"


def encode_cursor(created_at: datetime, run_id: UUID) -> str:
    """The token of the page after the run created at `created_at` with id `run_id`: the
    version, the time in microseconds since 1970 and the id, in 34 URL-safe characters."""
    micros = (created_at - _EPOCH) // _MICROSECOND
    raw = _CURSOR.pack(CURSOR_VERSION, micros, run_id.bytes)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, UUID]:
    """The (created_at, id) a cursor from `encode_cursor` holds; BadRequest (422) for a
    token this server did not give out."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
        version, micros, run_id = _CURSOR.unpack(raw)
        if version != CURSOR_VERSION:
            raise ValueError(version)
        return _EPOCH + micros * _MICROSECOND, UUID(bytes=run_id)
    except (ValueError, binascii.Error, struct.error, OverflowError):
        raise BadRequest(
            f"cursor {token[:60]!r} is malformed: pass back the X-Next-Cursor of the "
            "previous page unchanged, or leave cursor out to start from the first page"
        ) from None


def prefix_hex(text: str, *, minimum: int = 1) -> str:
    """`text` (a run id or the start of one, dashes optional) as lowercase hex digits;
    BadRequest (422) unless it is `minimum` to 32 of them."""
    digits = text.strip().replace("-", "").lower()
    if len(digits) < minimum or not _HEX.fullmatch(digits):
        raise BadRequest(
            f"{text[:60]!r} is not a run id or the start of one: give at least {minimum} "
            "hex digits (0-9, a-f) of the id, dashes optional, e.g. as `weavergen runs` "
            "shows it"
        )
    return digits


def prefix_bounds(digits: str) -> tuple[UUID, UUID]:
    """The first and last run id starting with hex `digits`."""
    return UUID(hex=digits.ljust(32, "0")), UUID(hex=digits.ljust(32, "f"))


@dataclass
class Candidate:
    """One run an ambiguous prefix could mean."""

    id: str
    request: str
    created_at: str | None


class AmbiguousRunId(Conflict):
    """A prefix that more than one run id starts with (409); `candidates` lists some."""

    def __init__(self, prefix: str, candidates: list[Candidate], more: bool) -> None:
        lines = "\n".join(f"  {c.id}  {c.request[:40]!r}" for c in candidates)
        count = f"more than {len(candidates)}" if more else str(len(candidates))
        super().__init__(
            f"run id prefix {prefix!r} matches {count} runs; give more of the id "
            f"(a unique prefix or the full id):\n{lines}" + ("\n  …" if more else "")
        )
        self.prefix = prefix
        self.candidates = candidates
        self.more = more
