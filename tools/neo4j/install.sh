#!/usr/bin/env bash
# Build WeaverGen's embedded Neo4j launcher (Neo4j Community LTS from Maven Central) for tests and
# development: target/classes (the launcher) and target/lib (the Neo4j jars).
# Idempotent: does nothing when the stamp matches pom.xml, the launcher source and this script.
# Needs Java 17 and Maven 3.8+; quiet unless something fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "tools/neo4j: '$tool' not found (need Java 17 and Maven)" >&2; exit 1; }
done

# one build at a time (parallel test processes may all ask for it)
mkdir -p target
exec 9>target/.install.lock
command -v flock >/dev/null && flock 9

hash="$(cat pom.xml install.sh src/main/java/dev/weavergen/*.java | sha256sum | cut -c1-16)"
stamp="target/.installed-$hash"
if [[ -f "$stamp" && -d target/lib && -f target/classes/dev/weavergen/Neo4jLauncher.class ]]; then
  exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
rm -rf target/lib
if ! mvn -q -B -e package -DskipTests >"$log" 2>&1; then
  cat "$log" >&2
  echo "tools/neo4j: build failed" >&2
  exit 1
fi
rm -f target/.installed-*
touch "$stamp"
