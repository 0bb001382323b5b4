"""The diagram catalog: versioned diagrams in the database, seeded from the bpmn/ folder.

Over 400 lines: storing a version, pinning versions for a run and serving the specs and
person tasks of pinned versions share its caches (specs, pins, forms by version id), which
must be dropped together when a version is stored; decision tables live beside it
(`decision_binding`, `decision_store`), retiring and comparing in `versions`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.diagrams.decision_binding import DecisionBinding, load_decisions
from engine.diagrams.decision_store import DecisionStore
from engine.diagrams.loading import BPMN_NS, LoadedDiagram, load_diagram, parse_xml
from engine.diagrams.specs import build_spec
from engine.errors import Conflict, DiagramInvalid, DiagramProblem, NotFound
from engine.tables import diagram_versions, diagrams

log = logging.getLogger(__name__)
PIN_SECONDS = 2.0  # how long a pin is reused (another process may store a newer version)


class DiagramCatalog:
    """Stores checked diagram versions and resolves the versions a run pins."""

    def __init__(self, db: AsyncEngine, *, known_operators: set[str], allow_scripts: bool) -> None:
        self.decisions = DecisionStore(db)
        self.binding = DecisionBinding(self)
        self.db = db
        self.known_operators = known_operators
        self.allow_scripts = allow_scripts
        # diagram version id -> (built process spec, its embedded subprocess specs by id)
        self._spec_cache: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._pins: dict[str, tuple[float, dict[str, int]]] = {}  # entry -> (when, pinned)
        self._forms: dict[int, dict[str, Any]] = {}  # diagram version id -> its person tasks
        # the form files shipped in bpmn/forms: any diagram may name them (see sync_folder)
        self.shipped_forms: dict[str, bytes] = {}

    def check(
        self,
        data: bytes,
        filename: str,
        *,
        allow_scripts: bool | None = None,
        decisions: Mapping[str, tuple[str, str]] | None = None,
        form_files: Mapping[str, bytes] | None = None,
        stored_forms: Mapping[str, Any] | None = None,
    ) -> LoadedDiagram:
        """Load and check a diagram without storing it (`decisions`: the decision tables
        at hand, id -> (XML, sha256); `form_files`: the JSON form files, by name;
        `stored_forms`: the forms its newest stored version has)."""
        return load_diagram(
            data,
            filename,
            known_operators=self.known_operators,
            allow_scripts=self.allow_scripts if allow_scripts is None else allow_scripts,
            decisions=decisions,
            form_files=form_files,
            stored_forms=stored_forms,
        )

    async def stored_forms(self, conn: AsyncConnection, data: bytes, filename: str) -> Any:
        """The person tasks of the newest stored versions of the processes in this file."""
        ids = [
            str(p.get("id"))
            for p in parse_xml(data, filename).getroot().iterfind(f"{{{BPMN_NS}}}process")
        ]
        newest = (
            select(func.max(diagram_versions.c.id))
            .where(diagram_versions.c.diagram_id.in_(ids))
            .group_by(diagram_versions.c.diagram_id)
        )
        rows = await conn.execute(
            select(diagram_versions.c.forms).where(diagram_versions.c.id.in_(newest))
        )
        merged: dict[str, Any] = {}
        for (forms,) in rows:
            merged.update(forms or {})
        return merged

    async def add(
        self,
        data: bytes,
        filename: str,
        *,
        source: str,
        created_by: str | None,
        allow_scripts: bool | None = None,
        new_version: bool = False,
        decision_files: Sequence[tuple[bytes, str]] = (),
        form_files: Mapping[str, bytes] | None = None,
    ) -> dict[str, Any]:
        """Check and store a diagram (unchanged content keeps its version), with the
        decision tables (.dmn files) and form files (.json) uploaded beside it. An upload
        whose process id (or decision id) is taken becomes a new version only with
        `new_version`; otherwise Conflict, naming it (so a file that happens to say `quick`
        or `Process_1` does not replace what is there)."""
        uploaded = load_decisions(decision_files)
        async with self.db.begin() as conn:  # the decisions and the diagram, or nothing
            stored = [
                await self.decisions.store(conn, d, created_by=created_by, new_version=new_version)
                for d in uploaded
            ]
            at_hand = await self.binding.decisions_at_hand(conn, data, filename, uploaded)
            for row in stored:
                xml, sha, _ = at_hand[row["decision_id"]]
                at_hand[row["decision_id"]] = (xml, sha, row["version_id"])
            loaded = self.check(
                data,
                filename,
                allow_scripts=allow_scripts,
                decisions={k: v[:2] for k, v in at_hand.items()},
                form_files={**self.shipped_forms, **(form_files or {})},
                stored_forms=await self.stored_forms(conn, data, filename),
            )
            pinned = {k: at_hand[k][2] for k in loaded.decisions}
            out = await self._store(
                conn,
                loaded,
                source=source,
                created_by=created_by,
                new_version=new_version,
                decisions=pinned,
            )
        if loaded.warnings:
            out["warnings"] = [asdict(w) for w in loaded.warnings]
        return {**out, "decisions": stored} if stored else out

    async def _store(
        self,
        conn: AsyncConnection,
        d: LoadedDiagram,
        *,
        source: str,
        created_by: str | None,
        new_version: bool = False,
        decisions: dict[str, int | None] | None = None,
        forms: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store `d` as its diagram's next version (see `add`); `forms` replaces the person
        tasks `d` found (a stored diagram rebuilt without its form files at hand)."""
        self._pins.clear()
        await conn.execute(
            insert(diagrams).values(id=d.process_id, name=d.name).on_conflict_do_nothing()
        )
        # one writer at a time per diagram, so version numbers never collide
        await conn.execute(
            select(diagrams.c.id).where(diagrams.c.id == d.process_id).with_for_update()
        )
        latest = (
            (
                await conn.execute(
                    select(diagram_versions)
                    .where(diagram_versions.c.diagram_id == d.process_id)
                    .order_by(diagram_versions.c.version.desc())
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        if latest is not None and latest["sha256"] == d.sha256:
            return _summary(latest, created=False)
        if latest is not None and source == "upload" and not new_version:
            raise Conflict(
                f"diagram {d.process_id!r} exists (v{latest['version']}, from "
                f"{latest['filename']}); to store {d.filename} as v{latest['version'] + 1}, "
                "upload it again with new_version=true (in the editor: save on the "
                "diagram's own page), or give its process another id"
            )
        if source == "bpmn-dir":
            # at start-up, a file unchanged since it was last loaded must not undo an upload
            known = (
                await conn.execute(
                    select(diagram_versions.c.id).where(
                        diagram_versions.c.diagram_id == d.process_id,
                        diagram_versions.c.source == "bpmn-dir",
                        diagram_versions.c.sha256 == d.sha256,
                    )
                )
            ).first()
            if known is not None and latest is not None:
                return _summary(latest, created=False)
        version = (latest["version"] + 1) if latest else 1
        row = (
            (
                await conn.execute(
                    diagram_versions.insert()
                    .values(
                        diagram_id=d.process_id,
                        version=version,
                        filename=d.filename,
                        xml=d.xml,
                        sha256=d.sha256,
                        spec=d.spec,
                        calls=d.calls,
                        subprocesses=d.subprocesses,
                        decisions=decisions or {},
                        forms=d.forms if forms is None else forms,
                        source=source,
                        created_by=created_by,
                    )
                    .returning(diagram_versions)
                )
            )
            .mappings()
            .one()
        )
        log.info("stored diagram %s version %s from %s", d.process_id, version, d.filename)
        return _summary(row, created=True)

    async def sync_folder(self, folder: Path) -> list[dict[str, Any]]:
        """Store every `*.bpmn` in `folder` whose content changed (their forms' JSON files in
        `folder`/forms); a bad file stops start-up."""
        stored = []
        problems = []
        form_files = await asyncio.to_thread(
            lambda: {p.name: p.read_bytes() for p in sorted((folder / "forms").glob("*.json"))}
        )
        self.shipped_forms = form_files
        for path in await asyncio.to_thread(lambda: sorted(folder.glob("*.bpmn"))):
            try:
                loaded = self.check(
                    path.read_bytes(), path.name, allow_scripts=True, form_files=form_files
                )
            except DiagramInvalid as exc:
                problems.extend(exc.problems)
                continue
            if loaded.process_id != path.stem:
                problems.append(
                    DiagramProblem(
                        path.name,
                        loaded.process_id,
                        None,
                        f"process id {loaded.process_id!r} must equal the file stem {path.stem!r}",
                    )
                )
                continue
            async with self.db.begin() as conn:
                stored.append(await self._store(conn, loaded, source="bpmn-dir", created_by=None))
        if problems:
            raise DiagramInvalid(problems)
        return stored

    async def latest_version_id(self, conn: AsyncConnection, process_id: str) -> int:
        """The id of the newest version of a diagram that is not retired."""
        newest = await conn.execute(
            select(
                func.max(diagram_versions.c.id),
                func.max(diagram_versions.c.id).filter(diagram_versions.c.retired_at.is_(None)),
            ).where(diagram_versions.c.diagram_id == process_id)
        )
        any_version, active = newest.one()
        if any_version is None:
            raise NotFound(
                f"diagram {process_id!r} does not exist; upload it or add bpmn/{process_id}.bpmn"
            )
        if active is None:
            raise Conflict(
                f"every version of diagram {process_id!r} is retired; upload a new version "
                "(POST /api/diagrams?new_version=true) to run it again"
            )
        return int(active)

    async def person_task(
        self, conn: AsyncConnection, version_id: int, element_id: str
    ) -> dict[str, Any]:
        """A person task's lane, candidate groups and form ({} when it has none), from the
        diagram version (immutable, so remembered)."""
        forms = self._forms.get(version_id)
        if forms is None:
            forms = (
                await conn.execute(
                    select(diagram_versions.c.forms).where(diagram_versions.c.id == version_id)
                )
            ).scalar_one_or_none() or {}
            self._forms[version_id] = forms
        found: dict[str, Any] = forms.get(element_id, {})
        return found

    async def start_form(
        self, conn: AsyncConnection, version_id: int
    ) -> tuple[str, dict[str, Any]] | None:
        """(start event id, its form's JSON Schema) when the version's start event has a
        form, else None."""
        await self.person_task(conn, version_id, "")  # loads the version's person tasks
        for element_id, info in self._forms[version_id].items():
            if info.get("kind") == "startEvent" and "schema" in info:
                return element_id, info["schema"]
        return None

    def forget_pins(self) -> None:
        """Resolve pins afresh (a version was stored or retired)."""
        self._pins.clear()

    async def pin(self, conn: AsyncConnection, entry: str) -> dict[str, int]:
        """Newest version ids of `entry` and every diagram it calls, transitively; a call
        cycle (which SpiffWorkflow would expand forever) is refused.

        Remembered for `PIN_SECONDS` (forgotten at once when this process stores a version),
        so a burst of runs does not walk the call graph once per run."""
        known = self._pins.get(entry)
        if known is not None and time.monotonic() - known[0] < PIN_SECONDS:
            return dict(known[1])
        pinned = await self._pin(conn, entry)
        self._pins[entry] = (time.monotonic(), pinned)
        return dict(pinned)

    async def _pin(self, conn: AsyncConnection, entry: str) -> dict[str, int]:
        pinned: dict[str, int] = {}

        async def visit(pid: str, path: tuple[str, ...]) -> None:
            if pid in path:
                chain = " → ".join((*path, pid))
                raise DiagramInvalid(
                    [
                        DiagramProblem(
                            f"{pid}.bpmn",
                            pid,
                            None,
                            f"call activities form a cycle ({chain}); remove one of the calls",
                        )
                    ]
                )
            if pid in pinned:
                return
            vid = await self.latest_version_id(conn, pid)
            pinned[pid] = vid
            calls = (
                await conn.execute(
                    select(diagram_versions.c.calls).where(diagram_versions.c.id == vid)
                )
            ).scalar_one()
            for callee in calls:
                await visit(callee, (*path, pid))

        await visit(entry, ())
        return pinned

    async def specs(self, conn: AsyncConnection, pinned: dict[str, int]) -> dict[str, Any]:
        """The process spec objects of pinned versions, by process id (immutable, so built
        once per process and shared by every run)."""
        missing = [vid for vid in pinned.values() if vid not in self._spec_cache]
        if missing:
            rows = await conn.execute(
                select(
                    diagram_versions.c.id,
                    diagram_versions.c.spec,
                    diagram_versions.c.subprocesses,
                ).where(diagram_versions.c.id.in_(missing))
            )
            for vid, spec, embedded in rows:
                built = {sid: build_spec(sub) for sid, sub in (embedded or {}).items()}
                self._spec_cache[vid] = (build_spec(spec), built)
        specs: dict[str, Any] = {}
        for pid, vid in pinned.items():
            spec, embedded = self._spec_cache[vid]
            specs.update(embedded)  # a subprocess's element id, as SpiffWorkflow looks it up
            specs[pid] = spec
        return specs

    async def list(self) -> list[dict[str, Any]]:
        """Every diagram with its versions (without XML)."""
        async with self.db.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(
                            diagram_versions.c.id,
                            diagram_versions.c.diagram_id,
                            diagram_versions.c.version,
                            diagram_versions.c.filename,
                            diagram_versions.c.source,
                            diagram_versions.c.created_at,
                            diagram_versions.c.created_by,
                            diagram_versions.c.sha256,
                            diagram_versions.c.calls,
                            diagram_versions.c.retired_at,
                        ).order_by(diagram_versions.c.diagram_id, diagram_versions.c.version)
                    )
                )
                .mappings()
                .all()
            )
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            d = out.setdefault(r["diagram_id"], {"id": r["diagram_id"], "versions": []})
            d["versions"].append(_summary(r, created=None))
        return list(out.values())

    async def get(self, process_id: str) -> dict[str, Any]:
        """One diagram: its versions and the newest XML."""
        async with self.db.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(diagram_versions)
                        .where(diagram_versions.c.diagram_id == process_id)
                        .order_by(diagram_versions.c.version)
                    )
                )
                .mappings()
                .all()
            )
        if not rows:
            raise NotFound(f"diagram {process_id!r} does not exist")
        start = next(
            (
                {"element_id": k, "schema": v["schema"], "ui": v.get("ui") or {}}
                for k, v in (rows[-1]["forms"] or {}).items()
                if v.get("kind") == "startEvent" and "schema" in v
            ),
            None,
        )
        return {
            "id": process_id,
            "versions": [_summary(r, created=None) for r in rows],
            "latest_version": rows[-1]["version"],
            "xml": rows[-1]["xml"],
            "start_form": start,  # the newest version's start event form, if it has one
        }

    async def version_xml(self, version_id: int) -> dict[str, Any]:
        """XML and identity of one stored version."""
        async with self.db.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(diagram_versions).where(diagram_versions.c.id == version_id)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"diagram version {version_id} does not exist")
        return {**_summary(row, created=None), "xml": row["xml"]}


def _summary(row: Any, *, created: bool | None) -> dict[str, Any]:
    out = {
        "version_id": row["id"],
        "diagram_id": row["diagram_id"],
        "version": row["version"],
        "filename": row["filename"],
        "source": row["source"],
        "sha256": row["sha256"],
        "calls": row["calls"],
        "created_by": row["created_by"],
        "created_at": row["created_at"].isoformat() if row["created_at"] else None,
        "retired_at": row["retired_at"].isoformat() if row.get("retired_at") else None,
    }
    if created is not None:
        out["created"] = created
    return out
