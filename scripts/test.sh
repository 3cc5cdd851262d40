#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest (unit, property, golden, and real-socket integration tests
# against a private Dovecot and the built-in Gmail emulator).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup-dev.sh
.venv/bin/ruff check archiver tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
