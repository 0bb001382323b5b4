"""The Cypher that the knowledge store (neo4j.py) sends: its schema, writes and queries.

The graph (every node key is unique, enforced by the constraints in `SCHEMA`):

    (:Run {id, success, at, duration_ms, tokens_in, tokens_out, iterations, score})
    (:Run)-[:FOR]->(:Request {id: sha256(text), text})
    (:Run)-[:USED]->(:Pattern {name})
    (:Run)-[:OF_TYPE]->(:TaskType {name})
    (:Run)-[:IN]->(:Language {name})
    (:Run)-[:HIT {at, language}]->(:FailureSignature {id: sha256(text), text})
    (:Run)-[:PRODUCED]->(:Fix {id, summary, at, language, model_group, seq})
      -[:RESOLVES]->(:FailureSignature)
    (:Run)-[:TRIED {id, language, model_group, fixed, at}]->(:FailureSignature)
    (:Run)-[:CORRECTED]->(:Correction {id, step, approved, comment, at, seq})

Request and FailureSignature are keyed by a hash of their text (`node_key`): Neo4j cannot
index a string property over about 8 KB, and a unique constraint on the text itself would
reject long requests or signatures. HIT says a run met a failure (once per run); TRIED is one
recorded improve iteration on it (one per `FailureFix`, `fixed` when it has a fix), which
`READ_FIX_PATHS` counts per model group. Memories (neo4j_memory.py) link to Run,
FailureSignature and Pattern nodes too. Every write is a MERGE, one UNWIND statement per kind
of record over the rows of a batch (`$rows`), so a batch sent again changes nothing.
Corrections are nodes (not relationship properties) so later facts, such as the step they
corrected, can point at them. `seq` (nanoseconds when recorded) orders records whose `at` is
equal. Every value is a parameter; no Cypher is built from values.
"""

import hashlib


def node_key(*parts: object) -> str:
    """The id of a node keyed by content (a Request, a FailureSignature, a Fix, ...)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode())
        h.update(b"\x00")
    return h.hexdigest()


# -- schema ------------------------------------------------------------------------------------

SCHEMA: tuple[str, ...] = (
    "CREATE CONSTRAINT wg_run_id IF NOT EXISTS FOR (n:Run) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT wg_request_id IF NOT EXISTS FOR (n:Request) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT wg_pattern_name IF NOT EXISTS FOR (n:Pattern) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT wg_task_type_name IF NOT EXISTS FOR (n:TaskType) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT wg_language_name IF NOT EXISTS FOR (n:Language) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT wg_failure_signature_id IF NOT EXISTS "
    "FOR (n:FailureSignature) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT wg_fix_id IF NOT EXISTS FOR (n:Fix) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT wg_correction_id IF NOT EXISTS FOR (n:Correction) REQUIRE n.id IS UNIQUE",
    # "newest fixes in a language" without a signature to start from
    "CREATE INDEX wg_fix_language_at IF NOT EXISTS FOR (n:Fix) ON (n.language, n.at)",
)

# -- writes: one UNWIND statement per kind of record -------------------------------------------

_IF = "FOREACH (_ IN CASE WHEN {cond} THEN [1] ELSE [] END | {body})"
_LINK_REQUEST = _IF.format(
    cond="row.request_id IS NOT NULL",
    body="MERGE (q:Request {id: row.request_id}) ON CREATE SET q.text = row.request "
    "MERGE (r)-[:FOR]->(q)",
)
_LINK_PATTERN = _IF.format(
    cond="row.pattern <> ''",
    body="MERGE (p:Pattern {name: row.pattern}) MERGE (r)-[:USED]->(p)",
)
_LINK_LANGUAGE = _IF.format(
    cond="row.language <> ''",
    body="MERGE (l:Language {name: row.language}) MERGE (r)-[:IN]->(l)",
)
_LINK_TASK_TYPE = _IF.format(
    cond="row.task_type <> ''",
    body="MERGE (t:TaskType {name: row.task_type}) MERGE (r)-[:OF_TYPE]->(t)",
)

WRITE_RUNS = f"""
UNWIND $rows AS row
MERGE (r:Run {{id: row.run_id}})
SET r.success = row.success, r.at = row.at, r.duration_ms = row.duration_ms,
    r.tokens_in = row.tokens_in, r.tokens_out = row.tokens_out,
    r.iterations = row.iterations, r.score = row.score
{_LINK_PATTERN}
{_LINK_TASK_TYPE}
{_LINK_LANGUAGE}
{_LINK_REQUEST}
"""

WRITE_FAILURE_FIXES = f"""
UNWIND $rows AS row
MERGE (r:Run {{id: row.run_id}})
MERGE (s:FailureSignature {{id: row.signature_id}}) ON CREATE SET s.text = row.signature
MERGE (r)-[h:HIT]->(s) ON CREATE SET h.at = row.at, h.language = row.language
{_LINK_PATTERN}
{_LINK_LANGUAGE}
{_LINK_REQUEST}
MERGE (r)-[t:TRIED {{id: row.fix_id}}]->(s)
  ON CREATE SET t.language = row.language, t.model_group = row.model_group,
                t.fixed = row.fix <> '', t.at = row.at
FOREACH (_ IN CASE WHEN row.fix <> '' THEN [1] ELSE [] END |
  MERGE (f:Fix {{id: row.fix_id}})
    ON CREATE SET f.summary = row.fix, f.at = row.at, f.language = row.language,
                  f.model_group = row.model_group, f.seq = row.seq
  MERGE (r)-[:PRODUCED]->(f)
  MERGE (f)-[:RESOLVES]->(s))
"""

WRITE_CORRECTIONS = """
UNWIND $rows AS row
MERGE (r:Run {id: row.run_id})
MERGE (c:Correction {id: row.id})
  ON CREATE SET c.step = row.step, c.approved = row.approved, c.comment = row.comment,
                c.at = row.at, c.seq = row.seq
MERGE (r)-[:CORRECTED]->(c)
"""

# one statement per kind of record, in the order a batch runs them: runs first, because the
# others MERGE the same Run nodes
WRITES = {"run": WRITE_RUNS, "failure_fix": WRITE_FAILURE_FIXES, "correction": WRITE_CORRECTIONS}

# -- queries -----------------------------------------------------------------------------------

READ_FIXES = """
MATCH (s:FailureSignature)<-[:RESOLVES]-(f:Fix)
WHERE s.id IN $signature_ids AND f.language = $language AND f.summary <> ''
WITH s, f ORDER BY f.at DESC, f.seq DESC LIMIT $limit
MATCH (r:Run)-[:PRODUCED]->(f)
OPTIONAL MATCH (r)-[:FOR]->(q:Request)
OPTIONAL MATCH (r)-[:USED]->(p:Pattern)
WITH s, f, r, head(collect(DISTINCT q.text)) AS request, head(collect(DISTINCT p.name)) AS pattern
RETURN r.id AS run_id, request, pattern, f.language AS language, s.text AS signature,
       f.summary AS fix, f.model_group AS model_group, f.at AS at
ORDER BY f.at DESC, f.seq DESC
"""

READ_CORRECTIONS = """
MATCH (:Run {id: $run_id})-[:CORRECTED]->(c:Correction)
RETURN c.step AS step, c.approved AS approved, c.comment AS comment, c.at AS at
ORDER BY c.at, c.seq
"""

# failure -> fix -> outcome: improve iterations tried on these signatures, and those that fixed
# them, per model group (recorded before TRIED existed, an iteration is not counted)
READ_FIX_PATHS = """
MATCH (s:FailureSignature)<-[t:TRIED]-(:Run)
WHERE s.id IN $signature_ids AND t.language = $language
RETURN s.text AS signature, coalesce(t.model_group, '') AS model_group, count(t) AS tried,
       sum(CASE WHEN t.fixed THEN 1 ELSE 0 END) AS fixed
"""
