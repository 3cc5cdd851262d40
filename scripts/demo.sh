#!/usr/bin/env bash
# Installs gmail-archiver into .venv, then backs up a demo Gmail account served by the built-in Gmail emulator
# (on 127.0.0.1) into ./demo-archive, twice: a full backup, then an incremental one after some changes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e .
exec .venv/bin/gmail-archiver demo --archive demo-archive "$@"
