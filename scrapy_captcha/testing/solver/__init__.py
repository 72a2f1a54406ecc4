"""The emulated solver service: one dialect per built-in service profile, real solving
(its workers act as browsers through the task's proxy), and switches for the faults seen
in the wild.

Its face is :class:`SolverEmulator` (with :class:`TaskRecord`); the modules behind it are
internal.
"""

from ._emulator import (
    COST_PER_TASK,
    DIALECTS,
    FAULTS,
    SolverEmulator,
    TaskRecord,
)

__all__ = ["COST_PER_TASK", "DIALECTS", "FAULTS", "SolverEmulator", "TaskRecord"]
