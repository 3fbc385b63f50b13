"""Reverse-mode differentiation over the recorded graph.

The graph is ordered **iteratively** (Kahn's algorithm over dependency counts, never recursion), so
an RNN unrolled over thousands of steps backpropagates as easily as a two-op expression. After a
backward the saved arrays are freed unless ``retain_graph=True``; a later backward through a node
whose arrays were freed, or whose saved input was changed in place since, raises ``RuntimeError``.
"""

from __future__ import annotations

from contextlib import contextmanager
import weakref

from .function import Function

_record_norms = False


@contextmanager
def record_grad_norms():
    """Inside this block, backward stores each node's output-gradient norms in ``node.grad_norms``.

    The norms stay on the device as 0-d arrays (no synchronisation); graph pictures read them.
    """
    global _record_norms
    prev, _record_norms = _record_norms, True
    try:
        yield
    finally:
        _record_norms = prev


def _freed_error(node: Function) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time (op {node.name}): its saved arrays were "
        "freed after the first backward. Pass retain_graph=True to the first backward() if you need "
        "two; if a hidden state is carried from one batch to the next, call .detach() on it before "
        "the next forward (truncated BPTT).")


def _check_versions(node: Function) -> None:
    for counter, version, kind, pos in node._checks:
        if counter.value != version:
            raise RuntimeError(
                f"one of the arrays needed for gradient computation has been modified by an in-place "
                f"operation: {kind} {pos} of {node.name} was saved at version {version} and is now at version "
                f"{counter.value}. Clone it before changing it in place (x = x.clone()), or make the "
                f"change after backward().")


def _accumulate(old, g):
    return g if old is None else old + g


def run_backward(roots, grads, retain_graph: bool = False, capture=None):
    """Backpropagate ``grads`` (arrays, one per root tensor) through the graph below ``roots``.

    Leaf tensors that require grad accumulate into ``.grad``, unless ``capture`` is given: then it
    is a list of tensors whose gradients are returned instead (``autograd.grad``) and no ``.grad``
    changes.
    """
    # 1. Dependency counts of every node reachable from the roots (iterative DFS).
    deps: dict = {}
    buf: dict = {}
    leaf_buf: dict = {}
    leaves: dict = {}
    stack = []
    for root, g in zip(roots, grads):
        node = root._node
        if node is None:
            leaves[id(root)] = root
            leaf_buf[id(root)] = _accumulate(leaf_buf.get(id(root)), g)
            continue
        if node not in deps:
            deps[node] = 0
            stack.append(node)
            buf[node] = [None] * len(node.out_meta)
        slot = buf[node]
        slot[root._idx] = _accumulate(slot[root._idx], g)
    while stack:
        node = stack.pop()
        for e in node.edges:
            if type(e) is tuple:
                m = e[0]
                if m in deps:
                    deps[m] += 1
                else:
                    deps[m] = 1
                    stack.append(m)

    capture_nodes = {}
    capture_leaves = {}
    if capture is not None:
        for i, t in enumerate(capture):
            if t._node is None:
                capture_leaves[id(t)] = i
            else:
                capture_nodes[(t._node, t._idx)] = i
    captured = [None] * (len(capture) if capture is not None else 0)

    # 2. Kahn's algorithm: a node runs once every consumer has delivered its gradient.
    ready = [n for n in buf if deps[n] == 0]
    pop, push = ready.pop, ready.append
    while ready:
        node = pop()
        gs = buf.pop(node, None)
        if gs is None:                  # every consumer returned None for it (e.g. a stop-gradient op)
            gs = [None] * len(node.out_meta)
        if node.hooks or node.retained or capture_nodes:
            gs = _output_hooks(node, gs, capture_nodes, captured)
        saved = node.saved
        if saved is None:
            raise _freed_error(node)
        if node._checks:
            _check_versions(node)
        if _record_norms:
            node.grad_norms = [None if g is None else node.xp.linalg.norm(g.ravel()) for g in gs]
        if len(gs) == 1:
            g = gs[0]
            in_grads = (None,) * len(node.edges) if g is None else node.backward(node, g)
        elif all(g is None for g in gs):
            in_grads = (None,) * len(node.edges)
        else:
            gs = [node.xp.zeros(s, d) if g is None else g for g, (s, d) in zip(gs, node.out_meta)]
            in_grads = node.backward(node, *gs)
        if type(in_grads) is not tuple:
            in_grads = (in_grads,)
        if saved and not retain_graph:
            node.saved = None
        for e, g in zip(node.edges, in_grads):
            if type(e) is tuple:
                m, i = e
                if g is not None:
                    dtype = m.out_meta[i][1]
                    if g.dtype is not dtype and g.dtype != dtype:
                        g = g.astype(dtype)
                    slot = buf.get(m)
                    if slot is None:
                        slot = buf[m] = [None] * len(m.out_meta)
                    old = slot[i]
                    slot[i] = g if old is None else old + g
                n = deps[m] - 1
                deps[m] = n
                if n == 0:
                    push(m)
            elif g is not None and e.requires_grad:
                dtype = e._data.dtype
                if g.dtype is not dtype and g.dtype != dtype:
                    g = g.astype(dtype)
                key = id(e)
                old = leaf_buf.get(key)
                if old is None:
                    leaves[key] = e
                    leaf_buf[key] = g
                else:
                    leaf_buf[key] = old + g

    # 3. Leaves: hooks see the total gradient of this backward, then it is stored or returned.
    for key, g in leaf_buf.items():
        t = leaves[key]
        for hook in t._hooks or ():
            r = hook(t._wrap_grad(g))
            if r is not None:
                g = r._data
        if capture is not None:
            if key in capture_leaves:
                captured[capture_leaves[key]] = g
            continue
        if t.grad is None:
            t.grad = t._wrap_grad(g.copy())     # own the array: clipping scales grads in place
        else:
            t.grad._data = t.grad._data + g
            t.grad._version.value += 1
    return captured


def _output_hooks(node, gs, capture_nodes, captured):
    """Run hooks and ``retain_grad`` of non-leaf tensors made by ``node``; capture for ``grad()``."""
    gs = list(gs)
    for idx in range(len(gs)):
        g = gs[idx]
        if g is None:
            continue
        for hook in (node.hooks or {}).get(idx, ()):
            from ..tensor import Tensor
            r = hook(Tensor._make(g, _device_of(node), False, None, 0))
            if r is not None:
                gs[idx] = g = r._data
        ref = (node.retained or {}).get(idx)
        t = ref() if ref is not None else None
        if t is not None:
            if t.grad is None:
                t.grad = t._wrap_grad(g.copy())
            else:
                t.grad._data = t.grad._data + g
        k = capture_nodes.get((node, idx)) if capture_nodes else None
        if k is not None:
            captured[k] = g
    return gs


def _device_of(node) -> str:
    return "cpu" if node.xp.__name__ == "numpy" else "cuda"


def add_retain(node: Function, idx: int, tensor) -> None:
    if node.retained is None:
        node.retained = {}
    node.retained[idx] = weakref.ref(tensor)


def add_hook(node: Function, idx: int, fn) -> None:
    if node.hooks is None:
        node.hooks = {}
    node.hooks.setdefault(idx, []).append(fn)
