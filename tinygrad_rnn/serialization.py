"""``tr.serialization``: the classes ``tr.load`` may rebuild from a whole-module checkpoint.

PyTorch's ``weights_only`` model: a checkpoint of a whole module (``tr.save(model, f)``) *names* each
module's class (``"mymodel.WordLM"``); it never carries code. ``tr.load`` rebuilds a module only when
its class is allowed, without calling the class's ``__init__`` (``object.__new__`` plus the saved
attributes, parameters, buffers and sub-modules, as PyTorch's unpickler does for an allowed global).
Nothing is imported by name: the class must already exist in the process and be listed here.

Allowed by default: the ``tr.nn`` module classes of this package (``tr.nn.LSTM``, ``tr.nn.Linear``, ...;
PyTorch users list their ``torch.nn.modules...`` twins, which works here too). Your own classes must be
listed::

    tr.serialization.add_safe_globals([WordLM])             # for the rest of the process
    with tr.serialization.safe_globals([WordLM]):           # only inside the block
        model = tr.load("model.ckpt")

An entry may also be ``(cls, "module.QualName")``: the name the file uses for ``cls`` (a model saved
from ``__main__`` and loaded from a module, say). The list is process-wide, as PyTorch's is.
"""

from __future__ import annotations

import pickle
import threading
from typing import Any, Callable, Iterable

__all__ = ["UnpicklingError", "add_safe_globals", "clear_safe_globals", "get_safe_globals", "safe_globals"]

_lock = threading.Lock()
_allowed: list = []      # entries in the order added: callables, or (callable, "module.QualName")


class UnpicklingError(pickle.UnpicklingError, ValueError):
    """A checkpoint names a class that is not allowed (see :func:`add_safe_globals`).

    A ``pickle.UnpicklingError`` only so that PyTorch code catching that still works (nothing is ever
    unpickled), and a ``ValueError`` by this project's rules.
    """


def _check_entries(entries: Iterable, fn: str) -> list:
    if isinstance(entries, (str, bytes)) or not isinstance(entries, (list, tuple, set, frozenset)):
        raise TypeError(f"{fn}: expected a list of classes (or (class, 'module.Name') pairs), "
                        f"got {type(entries).__name__}")
    out = []
    for e in entries:
        if isinstance(e, tuple):
            if len(e) != 2 or not callable(e[0]) or not isinstance(e[1], str):
                raise TypeError(f"{fn}: a tuple entry must be (class, 'module.QualName'), got {e!r}")
        elif not callable(e):
            raise TypeError(f"{fn}: entries must be classes (or (class, 'module.Name') pairs), "
                            f"got {type(e).__name__} {e!r}")
        out.append(e)
    return out


def add_safe_globals(safe_globals: list[Callable | tuple[Callable, str]]) -> None:
    """Allow ``tr.load`` to rebuild modules of these classes (``torch.serialization.add_safe_globals``).

    Args:
        safe_globals: classes, or ``(class, "module.QualName")`` pairs naming the class as the file does.

    Raises:
        TypeError: an entry that is neither (nothing is added).
    """
    entries = _check_entries(safe_globals, "add_safe_globals")
    with _lock:
        for e in entries:
            if e not in _allowed:
                _allowed.append(e)


def get_safe_globals() -> list[Callable | tuple[Callable, str]]:
    """The entries added by :func:`add_safe_globals` / :class:`safe_globals` (not the built-in defaults)."""
    with _lock:
        return list(_allowed)


def clear_safe_globals() -> None:
    """Forget every entry added by :func:`add_safe_globals` (the built-in defaults stay allowed)."""
    with _lock:
        _allowed.clear()


class safe_globals:
    """Context manager: allow these classes inside the block (``torch.serialization.safe_globals``).

    On exit it removes the entries it added (ones allowed before the block stay allowed).

    Example::

        with tr.serialization.safe_globals([WordLM]):
            model = tr.load(buffer)
    """

    def __init__(self, safe_globals: list[Callable | tuple[Callable, str]]) -> None:
        self.safe_globals = _check_entries(safe_globals, "safe_globals")
        self._added: list = []

    def __enter__(self) -> None:
        with _lock:
            self._added = [e for e in self.safe_globals if e not in _allowed]
            _allowed.extend(self._added)

    def __exit__(self, *exc) -> None:
        with _lock:
            for e in self._added:
                if e in _allowed:
                    _allowed.remove(e)
        self._added = []


def qualified_name(cls: Any) -> str:
    """``"module.QualName"``: how a checkpoint names a class."""
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', getattr(cls, '__name__', '?'))}"


def _default_classes() -> dict[str, type]:
    """This package's own Module subclasses (already imported), by qualified name."""
    from .nn.module import Module
    out, todo = {}, [Module]
    while todo:
        c = todo.pop()
        mod = getattr(c, "__module__", "")
        if mod == "tinygrad_rnn" or mod.startswith("tinygrad_rnn."):
            out[qualified_name(c)] = c
        todo.extend(c.__subclasses__())
    return out


def lookup(name: str) -> Any | None:
    """The allowed class that a checkpoint's ``name`` stands for, or None."""
    with _lock:
        entries = list(_allowed)
    for e in entries:
        if isinstance(e, tuple):
            if e[1] == name:
                return e[0]
        elif qualified_name(e) == name:
            return e
    return _default_classes().get(name)
