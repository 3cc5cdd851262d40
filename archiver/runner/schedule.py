"""``schedule``: run ``gmail-archiver run`` on a timer: systemd user units when systemd runs for the user,
else one crontab line (behind ``flock``, so runs never overlap).

Only files this module wrote are replaced or removed: each starts with :data:`MARK`; a unit of the same name
without it, or a symlink, is left alone and reported.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from archiver.config import state_dir, user_config_dir
from archiver.errors import ArchiverError, UsageError

UNIT = "gmail-archiver"
MARK = "# Written by `gmail-archiver schedule install`; `gmail-archiver schedule remove` removes it."
CRON_MARK = "# gmail-archiver schedule"
TIMEOUT = "6h"
_CRON_FIELD = r"[0-9*/,\-A-Za-z]+"
_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


@dataclass(frozen=True, slots=True)
class Plan:
    """What ``schedule install`` writes: systemd units (file name -> text) or one crontab line."""

    backend: str
    command: tuple[str, ...]
    units: dict[str, str]
    cron_line: str | None
    unit_dir: Path | None


def run_command(config: Path) -> tuple[str, ...]:
    """The argv that runs every account of ``config``: this installation's console script (or
    ``python -m archiver``), with absolute paths, so it works from a timer's bare environment."""
    script = Path(sys.executable).parent / "gmail-archiver"
    head = (str(script),) if script.exists() else (sys.executable, "-m", "archiver")
    return (*head, "run", "--config", str(config.resolve()))


def _systemd_word(arg: str) -> str:
    """One ExecStart word: specifiers (%) and variables ($) escaped, quoted when it has other characters."""
    text = arg.replace("%", "%%").replace("$", "$$")
    if _SAFE.match(arg):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _shell_word(arg: str) -> str:
    return arg if _SAFE.match(arg) else "'" + arg.replace("'", "'\\''") + "'"


def on_calendar(every: str) -> str:
    """``hourly``/``daily`` or a systemd calendar expression (e.g. ``*-*-* 03:30``), checked by
    ``systemd-analyze calendar`` where it is installed."""
    text = every.strip()
    bad = UsageError(f"--every: not a systemd calendar expression: {every!r}",
                     hint="e.g. hourly, daily, \"Mon..Fri 02:30\" or \"*-*-* 00/6:00\" (man systemd.time)")
    if not text or "\n" in text:
        raise bad
    if text not in ("hourly", "daily") and shutil.which("systemd-analyze") is not None:
        proc = subprocess.run(["systemd-analyze", "calendar", "--", text], capture_output=True, timeout=30,
                              check=False)
        if proc.returncode != 0:
            raise bad
    return text


def cron_times(every: str) -> str:
    """The five cron fields: ``hourly`` (minute 17), ``daily`` (03:17) or five fields given as they are."""
    if every == "hourly":
        return "17 * * * *"
    if every == "daily":
        return "17 3 * * *"
    fields = every.split()
    if len(fields) == 5 and all(re.fullmatch(_CRON_FIELD, f) for f in fields):
        return " ".join(fields)
    raise UsageError(f"--every {every!r}: cron needs hourly, daily or five cron fields (e.g. \"30 2 * * *\")",
                     hint="systemd calendar expressions work only where systemd runs for the user")


def render_units(command: tuple[str, ...], every: str) -> dict[str, str]:
    """The service and timer text (idle CPU and I/O, a start timeout, a randomized delay, catch-up)."""
    delay = "5min" if every == "hourly" else "30min"
    service = f"""{MARK}
[Unit]
Description=gmail-archiver: back up, thin out and verify the configured accounts

[Service]
Type=oneshot
ExecStart={" ".join(_systemd_word(a) for a in command)}
Nice=19
IOSchedulingClass=idle
TimeoutStartSec={TIMEOUT}
"""
    timer = f"""{MARK}
[Unit]
Description=gmail-archiver: scheduled backups ({every})

[Timer]
OnCalendar={on_calendar(every)}
Persistent=true
RandomizedDelaySec={delay}

[Install]
WantedBy=timers.target
"""
    return {f"{UNIT}.service": service, f"{UNIT}.timer": timer}


def render_cron(command: tuple[str, ...], every: str) -> str:
    """One crontab line: ``flock -n`` skips a run while the last one goes on; idle CPU and I/O; stdout
    (one line per account) dropped so cron mails only what went wrong (stderr)."""
    lock = state_dir() / "cron.lock"
    words = ["flock", "-n", str(lock), "nice", "-n", "19", "ionice", "-c", "3", *command]
    line = " ".join(_shell_word(w) for w in words).replace("%", "\\%")
    return f"{cron_times(every)} {line} >/dev/null {CRON_MARK}"


def systemd_user_running() -> bool:
    """Whether a systemd user manager answers (``systemctl --user`` works)."""
    if shutil.which("systemctl") is None:
        return False
    try:
        proc = subprocess.run(["systemctl", "--user", "show-environment"], capture_output=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def unit_dir() -> Path:
    return user_config_dir() / "systemd" / "user"


def plan(config: Path, every: str = "daily", backend: str | None = None) -> Plan:
    """What ``install`` would write; ``backend`` is systemd, cron or None (systemd when it runs for us)."""
    if every not in ("hourly", "daily") and not every.strip():
        raise UsageError("--every: empty")
    chosen = backend or ("systemd" if systemd_user_running() else "cron")
    if chosen not in ("systemd", "cron"):
        raise UsageError(f"--backend must be systemd or cron, not {chosen!r}")
    command = run_command(config)
    if chosen == "systemd":
        return Plan("systemd", command, render_units(command, every), None, unit_dir())
    return Plan("cron", command, {}, render_cron(command, every), None)


def _ours(path: Path) -> bool:
    try:
        return not path.is_symlink() and path.read_text().startswith(MARK)
    except OSError:
        return False


def _write(path: Path, text: str) -> None:
    if path.is_symlink() or (path.exists() and not _ours(path)):
        raise ArchiverError(f"{path} exists and was not written by gmail-archiver; left as it is",
                            hint="move it away, or run the command in it yourself")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True, timeout=60,
                          check=False)
    if proc.returncode != 0:
        raise ArchiverError(f"systemctl --user {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def _crontab() -> list[str]:
    if shutil.which("crontab") is None:
        raise ArchiverError("neither a systemd user manager nor crontab is available",
                            hint="install cron, or run `gmail-archiver run` from your own scheduler")
    proc = subprocess.run(["crontab", "-l"], capture_output=True, text=True, timeout=30, check=False)
    return proc.stdout.splitlines() if proc.returncode == 0 else []


def _set_crontab(lines: list[str]) -> None:
    text = "".join(line + "\n" for line in lines)
    proc = subprocess.run(["crontab", "-"], input=text, capture_output=True, text=True, timeout=30,
                          check=False)
    if proc.returncode != 0:
        raise ArchiverError(f"crontab - failed: {proc.stderr.strip()}")


def install(p: Plan) -> list[str]:
    """Write and enable what ``p`` holds; the steps taken, for the user to read."""
    if p.backend == "systemd":
        assert p.unit_dir is not None
        for name, text in p.units.items():
            _write(p.unit_dir / name, text)
        _systemctl("daemon-reload")
        _systemctl("enable", "--now", f"{UNIT}.timer")
        return [f"wrote {p.unit_dir / n}" for n in p.units] + [f"enabled and started {UNIT}.timer"]
    assert p.cron_line is not None
    state_dir().mkdir(parents=True, exist_ok=True)
    lines = [line for line in _crontab() if not line.endswith(CRON_MARK)]
    _set_crontab([*lines, p.cron_line])
    return ["added to your crontab: " + p.cron_line]


def remove() -> list[str]:
    """Disable and delete our units, and our crontab line; what was removed."""
    done: list[str] = []
    units = [unit_dir() / f"{UNIT}.{kind}" for kind in ("timer", "service")]
    if any(_ours(u) for u in units):
        if systemd_user_running():
            subprocess.run(["systemctl", "--user", "disable", "--now", f"{UNIT}.timer"], capture_output=True,
                           timeout=60, check=False)
        for u in units:
            if _ours(u):
                u.unlink()
                done.append(f"removed {u}")
        if systemd_user_running():
            _systemctl("daemon-reload")
    if shutil.which("crontab") is not None:
        lines = _crontab()
        kept = [line for line in lines if not line.endswith(CRON_MARK)]
        if len(kept) != len(lines):
            _set_crontab(kept)
            done.append("removed the crontab line")
    return done


def status() -> list[str]:
    """Where the schedule stands: installed units or crontab line, the timer's next and last run."""
    out: list[str] = []
    units = [unit_dir() / f"{UNIT}.{kind}" for kind in ("timer", "service")]
    for u in units:
        if u.exists():
            out.append(f"{u}: {'written by gmail-archiver' if _ours(u) else 'NOT written by gmail-archiver'}")
    if any(u.exists() for u in units) and systemd_user_running():
        proc = subprocess.run(["systemctl", "--user", "show", f"{UNIT}.timer", "-p", "ActiveState",
                               "-p", "NextElapseUSecRealtime", "-p", "LastTriggerUSec"],
                              capture_output=True, text=True, timeout=30, check=False)
        out.extend(f"timer {line}" for line in proc.stdout.splitlines() if line.strip())
        proc = subprocess.run(["systemctl", "--user", "show", f"{UNIT}.service", "-p", "Result",
                               "-p", "ExecMainStatus"], capture_output=True, text=True, timeout=30,
                              check=False)
        out.extend(f"last run {line}" for line in proc.stdout.splitlines() if line.strip())
    if shutil.which("crontab") is not None:
        out.extend(f"crontab: {line}" for line in _crontab() if line.endswith(CRON_MARK))
    return out
