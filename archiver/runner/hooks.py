"""``on_failure`` / ``on_success`` commands: run by ``sh -c`` with what happened in the environment.

The hook's output goes to our stderr (never stdout, which may carry ``--json``); the password variable of
gmail-archiver is removed from its environment.
"""

from __future__ import annotations

import os
import subprocess

HOOK_TIMEOUT = 300.0
ENV_PREFIX = "GMAIL_ARCHIVER_"


def hook_env(values: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GMAIL_ARCHIVER_PASSWORD"}
    env.update({ENV_PREFIX + k.upper(): v for k, v in values.items()})
    return env


def run_hook(command: str, values: dict[str, str], timeout: float = HOOK_TIMEOUT) -> tuple[int, str]:
    """Run ``command``; (exit status, a short reason when it failed).  Never raises for the hook's fault."""
    try:
        proc = subprocess.run(["sh", "-c", command], env=hook_env(values), stdin=subprocess.DEVNULL,
                              stdout=2, stderr=2, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout:.0f}s"
    except OSError as exc:
        return 127, f"could not start: {exc.strerror}"
    return proc.returncode, "" if proc.returncode == 0 else f"exit status {proc.returncode}"
