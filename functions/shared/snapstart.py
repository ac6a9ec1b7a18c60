"""Lambda SnapStart's runtime hooks (the stack's ``apiSnapStart``): work done before Lambda
snapshots an initialized environment is not paid again by the environments it restores from that
snapshot.

The managed Python runtimes include ``snapshot_restore_py``; where it is missing (the functions'
asset does not bundle it) nothing is registered, and a function without SnapStart never runs its
hooks.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def register_hooks(prime: Callable[[], None]) -> bool:
    """Register ``prime`` to run before the snapshot, and a reseed of ``random`` to run in every
    restored environment: each would otherwise draw the same retry jitter as all the others
    restored from the snapshot (AWS's uniqueness rule for SnapStart). False where the runtime has
    no hooks."""
    try:
        from snapshot_restore_py import (  # noqa: PLC0415 - only Lambda's runtime has it
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(prime)
    register_after_restore(random.seed)  # no argument: a seed from the operating system's entropy
    return True
