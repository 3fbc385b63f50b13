"""Graph metadata: the scope every new graph node records.

``with scope(name="lstm", layer=0, direction="forward", t=3, gate="f"): ...`` tags every node made
inside the block. Scopes nest; an inner scope overrides only the keys it sets. ``t`` is the 0-based
index into the input sequence (pictures label steps t=1..T). The recurrent layers set the scope;
nothing else has to. The scope in force is per thread: one thread's block never tags another's nodes.
"""

from __future__ import annotations

from contextlib import contextmanager
import threading
from typing import Iterator

KEYS = ("name", "layer", "direction", "t", "gate")
DIRECTIONS = ("forward", "reverse")


class _State(threading.local):
    # The scope in force in this thread, as a tuple of (key, value) pairs: immutable, so nodes can share it.
    current: tuple = ()


_state = _State()


def current_scope() -> dict:
    """The scope in force as a dict (empty outside any ``scope`` block)."""
    return dict(_state.current)


@contextmanager
def scope(name: str | None = None, layer: int | None = None, direction: str | None = None,
          t: int | None = None, gate: str | None = None, **extra) -> Iterator[None]:
    """Tag every graph node created inside the block with these keys (``None`` keeps the outer value)."""
    if direction is not None and direction not in DIRECTIONS:
        raise ValueError(f"scope: direction must be one of {DIRECTIONS}, got {direction!r}")
    if t is not None and (not isinstance(t, int) or t < 0):
        raise ValueError(f"scope: t must be a 0-based int step index, got {t!r}")
    new = dict(_state.current)
    for key, value in (("name", name), ("layer", layer), ("direction", direction), ("t", t),
                       ("gate", gate), *extra.items()):
        if value is not None:
            new[key] = value
    saved = _state.current
    _state.current = tuple(new.items())
    try:
        yield
    finally:
        _state.current = saved


def _scope_tuple() -> tuple:
    return _state.current
