#!/usr/bin/env bash
# The tools client authors run on openapi/openapi.json — Spectral, Redocly,
# openapi-typescript, openapi-fetch and TypeScript — at the versions pinned in
# openapi/tools/package-lock.json, into openapi/tools/node_modules (not in git).
# Idempotent: `npm ci` runs again only when the lock file changed. Needs Node.js
# >= 20.19 and npm (the machine's). tests/test_spec_tools.py runs the tools.
set -euo pipefail
cd "$(dirname "$0")/../openapi/tools"

say() { printf 'spec-tools: %s\n' "$*" >&2; }

if ! command -v npm >/dev/null; then
  say "npm not found: install Node.js 20.19 or later (the spec-tool tests skip without it)"
  exit 0
fi
stamp=node_modules/.moorage-installed
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; then
  exit 0
fi
# --ignore-scripts: no package here needs an install script (one only reports usage).
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
touch "$stamp"
say "installed $(node_modules/.bin/spectral --version 2>/dev/null | head -1) (spectral)," \
  "$(node_modules/.bin/redocly --version 2>/dev/null | tail -1) (redocly)"
