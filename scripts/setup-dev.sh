#!/usr/bin/env bash
# Installs what the test suite needs: Debian packages (Dovecot, mbsync, notmuch, mailutils, zstd; systemd for
# systemd-analyze, which checks the units `schedule install` writes; gnupg, whose gpg rewrite --decrypt-pgp
# drives) and a virtualenv in .venv with the package and its test extra.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in dovecot-imapd isync notmuch mailutils zstd systemd gnupg; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
