#!/usr/bin/env bash
# Builds the Community Edition alone into dist-ce/ and proves it holds no Enterprise code.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist-ce
npx tsc -p tsconfig.ce.json
if [ -e dist-ce/src/plugins/ee ] || [ -e dist-ce/ee-migrations ]; then
  echo "build:ce: Enterprise files ended up in dist-ce/" >&2
  exit 1
fi
# Names that only Enterprise code defines: none may appear in the Community build.
if grep -rlE 'AgentAuthenticator|RbacPolicy|DbAuditSink|agent_idp_providers|mcp_agent_audit|registerGovernance' dist-ce; then
  echo "build:ce: the files above contain Enterprise code" >&2
  exit 1
fi
echo "build:ce: dist-ce/ built; it contains no Enterprise code."
