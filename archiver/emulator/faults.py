"""Per-test fault injection: the throttling and failure signals of gmail-imap.md 6.4, on demand.

A test arms a fault with ``emu.inject(Fault.X, ...)``; sessions consult the plan at the matching point and
consume one ``times`` each time the fault fires.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass


class Fault(enum.Enum):
    """The injectable faults and where they fire."""

    BYE_MID_FETCH = "bye_mid_fetch"
    """``* BYE Session expired, please login again`` and close, after ``after_messages`` FETCH responses
    (counted over all commands and connections since the fault was armed or last fired)."""
    DROP_MID_FETCH = "drop_mid_fetch"
    """Close the socket without a word after ``after_messages`` FETCH responses (counted as above)."""
    THROTTLED = "throttled"
    """Tagged OK responses get ``[THROTTLED]`` after the text (``OK Success [THROTTLED]``)."""
    OVERQUOTA = "overquota"
    """FETCH answers ``NO [OVERQUOTA] Account exceeded command or bandwidth limits.``"""
    NO_APPENDUID = "no_appenduid"
    """APPEND answers plain ``OK (Success)`` without ``[APPENDUID ...]`` (message still stored)."""
    BYE_ON_APPEND = "bye_on_append"
    """After reading the APPEND literal, ``* BYE Session expired...`` and close; nothing is stored."""


@dataclass
class _Armed:
    fault: Fault
    after_messages: int
    times: int
    user: str | None
    command: str | None
    served: int = 0


class FaultPlan:
    """The armed faults of one emulator; thread-safe (tests arm, the server thread fires)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self.fired: dict[Fault, int] = {}

    def inject(self, fault: Fault, *, after_messages: int = 0, times: int = 1, user: str | None = None,
               command: str | None = None) -> None:
        """Arm ``fault`` for ``times`` firings (-1: forever), optionally for one user or command name."""
        with self._lock:
            name = command.upper() if command else None
            self._armed.append(_Armed(fault, after_messages, times, user, name))

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self._armed.clear()

    def armed(self, fault: Fault, user: str | None, command: str = "") -> bool:
        """Whether a matching fault is armed (without consuming it)."""
        with self._lock:
            return any(self._matches(a, fault, user, command) for a in self._armed)

    def tick(self, fault: Fault, user: str | None, command: str = "") -> bool:
        """Before serving one more FETCH response: True (one firing consumed, count restarted) once
        ``after_messages`` responses went out since the fault was armed or last fired."""
        with self._lock:
            for a in self._armed:
                if self._matches(a, fault, user, command):
                    if a.served < a.after_messages:
                        a.served += 1
                        return False
                    a.served = 0
                    if a.times > 0:
                        a.times -= 1
                        if a.times == 0:
                            self._armed.remove(a)
                    self.fired[fault] = self.fired.get(fault, 0) + 1
                    return True
        return False

    def take(self, fault: Fault, user: str | None, command: str = "") -> bool:
        """Consume one firing of a matching armed fault; True if it fires now."""
        with self._lock:
            for a in self._armed:
                if self._matches(a, fault, user, command):
                    if a.times > 0:
                        a.times -= 1
                        if a.times == 0:
                            self._armed.remove(a)
                    self.fired[fault] = self.fired.get(fault, 0) + 1
                    return True
        return False

    @staticmethod
    def _matches(a: _Armed, fault: Fault, user: str | None, command: str) -> bool:
        return (a.fault is fault and (a.user is None or a.user == user)
                and (a.command is None or a.command == command.upper()))
