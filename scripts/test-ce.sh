#!/usr/bin/env bash
# Proves the Community Edition lives without the Enterprise plugin: copies the tracked tree without
# src/plugins/ee, ee-migrations and every test that needs them, then typechecks and runs the tests there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-ce.XXXXXX")
trap 'rm -rf "$work"' EXIT
git ls-files -z --cached --others --exclude-standard \
  | grep -zvE '^(src/plugins/ee/|ee-migrations/|node_modules)' \
  | xargs -0 -I{} cp --parents {} "$work/"
# Tests that reach for Enterprise code are not part of the Community Edition: every test folder
# named ee, and any other file that imports Enterprise code.
find "$work/test" "$work/examples" -type d -name ee -prune -exec rm -rf {} +
{ grep -rlZE "plugins/ee/|engine/ee['\"]|ee-migrations" "$work/test" "$work/examples" 2>/dev/null || true; } | xargs -0 -r rm -f
# The benchmark measures both editions side by side: its tests (test/bench) reach the Enterprise
# scenarios through the benchmark's own modules.
rm -rf "$work/test/bench"
ln -s "$root/node_modules" "$work/node_modules"
cd "$work"
[ ! -e src/plugins/ee ] || { echo "test:ce: src/plugins/ee is still present" >&2; exit 1; }
cat > tsconfig.ce-test.json <<'JSON'
{ "extends": "./tsconfig.json", "include": ["src", "migrations", "examples", "test"] }
JSON
npx tsc -p tsconfig.ce-test.json --noEmit
npx mocha 'test/**/*.test.ts' 'examples/**/test/**/*.test.ts' --ignore 'test/packages/**' "$@"
