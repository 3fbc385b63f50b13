"""Reverse-mode differentiation over the recorded graph.

Nodes run **iteratively** in reverse creation order (a heap on the creation counter, never recursion),
so an RNN unrolled over thousands of steps backpropagates as easily as a two-op expression. After a
backward the saved arrays are freed unless ``retain_graph=True``; a later backward through a node
whose arrays were freed, or whose saved input was changed in place since, raises ``RuntimeError``.
"""

from __future__ import annotations

from contextlib import contextmanager
import heapq
import threading
import weakref

from .function import Function, TensorBase



class _State(threading.local):
    record_norms = False     # inside record_grad_norms() in this thread


_state = _State()


@contextmanager
def record_grad_norms():
    """Inside this block, backward stores each node's output-gradient norms in ``node.grad_norms``.

    The norms stay on the device as 0-d arrays (no synchronisation); graph pictures read them.
    """
    prev, _state.record_norms = _state.record_norms, True
    try:
        yield
    finally:
        _state.record_norms = prev


class GradientError(RuntimeError, ValueError):
    """A gradient of the wrong shape or dtype: assigned to ``.grad``, or returned by a hook. A RuntimeError
    as in PyTorch, and a ValueError (this project's error for a bad value)."""


def _hook_name(hook) -> str:
    return getattr(hook, "__name__", type(hook).__name__)


def _hook_result(hook, r, shape: tuple, dtype, device: str):
    """The array of a hook's return value ``r`` (not None), checked against the gradient it replaces
    (PyTorch's checks and messages): a Tensor of the same shape, dtype and device."""
    if not isinstance(r, TensorBase):
        raise TypeError(f"expected Tensor or None, but hook '{_hook_name(hook)}' returned '{type(r).__name__}'")
    a = r._data
    if a.shape != shape:
        raise GradientError(f"hook '{_hook_name(hook)}' has changed the size of value (was {tuple(shape)}, "
                            f"got {tuple(a.shape)})")
    if a.dtype != dtype or r._device != device:
        raise GradientError(f"hook '{_hook_name(hook)}' has changed the type of value (was {dtype} on {device}, "
                            f"got {a.dtype} on {r._device})")
    return a


def graph_nodes(*roots) -> list:
    """Every graph node below the given tensors, each once, found by an iterative walk (no recursion).

    Leaves are not nodes: reach them through ``node.edges``. Tensors made without a graph add nothing.
    """
    nodes, seen, stack = [], set(), [t._node for t in roots]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        stack.extend(e[0] for e in node.edges if type(e) is tuple)
    return nodes


def _freed_error(node: Function) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time (op {node.name}): its saved arrays were "
        "freed after the first backward. Pass retain_graph=True to the first backward() if you need "
        "two; if a hidden state is carried from one batch to the next, call .detach() on it before "
        "the next forward (truncated BPTT).")


def _version_error(node: Function, counter, version: int, kind: str, pos: int, array) -> RuntimeError:
    """PyTorch's message, naming the array, the op that saved it and both versions."""
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace operation: "
        f"[{array.dtype} {list(array.shape)}], which is {kind} {pos} of {node.name}, is at version "
        f"{counter.value}; expected version {version} instead. Hint: the change may have gone through a view "
        f"or detach() of it (they share its version counter); clone it before changing it in place "
        f"(x = x.clone()), or make the change after backward().")


def _accumulate(old, g):
    return g if old is None else old + g


def run_backward(roots, grads, retain_graph: bool = False, capture=None):
    """Backpropagate ``grads`` (arrays, one per root tensor) through the graph below ``roots``.

    Leaf tensors that require grad accumulate into ``.grad``, unless ``capture`` is given: then it
    is a list of tensors whose gradients are returned instead (``autograd.grad``) and no ``.grad``
    changes.

    Order: ``Function.apply`` stamps every node with ``_seq``, a global creation counter. A node is
    always created after the nodes that made its inputs, so running the pending nodes latest-first
    (a heap on ``-_seq``) runs each one only after all of its consumers have delivered their
    gradients: no separate pass over the graph to count dependencies, and no recursion.
    """
    # Gradient of each node output, summed over the consumers that ran so far, keyed by the node for output 0
    # (most nodes have one output) and by the edge tuple (node, index) for the others. Holding bare arrays, it
    # allocates nothing the garbage collector tracks while nodes wait (a wide graph has many waiting).
    pending: dict = {}
    heap: list = []         # -node._seq of every node reached and not yet run (plain ints compare fast)
    by_seq: dict = {}       # node._seq -> node, for the nodes in ``heap``
    leaf_grads: dict = {}   # id(leaf) -> gradient summed over this backward
    leaves: dict = {}       # id(leaf) -> leaf
    summed: set = set()     # ids of leaves whose gradient is a sum made here (a new array: no copy needed)
    push, pop = heapq.heappush, heapq.heappop
    for root, g in zip(roots, grads):
        node = root._node
        if node is None:
            key = id(root)
            if key in leaf_grads:
                leaf_grads[key] = leaf_grads[key] + g
                summed.add(key)
            else:
                leaf_grads[key], leaves[key] = g, root
            continue
        if node._seq not in by_seq:
            by_seq[node._seq] = node
            push(heap, -node._seq)
        key = node if root._idx == 0 else (node, root._idx)
        pending[key] = _accumulate(pending.get(key), g)

    capture_nodes = captured = None
    if capture is not None:
        capture_nodes, capture_leaves = {}, {}
        for i, t in enumerate(capture):
            if t._node is None:
                capture_leaves[id(t)] = i
            else:
                capture_nodes[(t._node, t._idx)] = i
        captured = [None] * len(capture)
    record_norms = _state.record_norms

    while heap:
        node = by_seq.pop(-pop(heap))
        gs = [pending.pop(node, None)]
        if len(node.out_meta) > 1:
            gs += [pending.pop((node, k), None) for k in range(1, len(node.out_meta))]
        if node.hooks or node.retained or capture_nodes:
            gs = _output_hooks(node, gs, capture_nodes, captured)
        saved = node.saved
        if saved is None:
            raise _freed_error(node)
        checks = node._checks
        if checks:
            for counter, version, kind, pos, j in checks:
                if counter.value != version:
                    raise _version_error(node, counter, version, kind, pos, saved[j])
        if record_norms:
            node.grad_norms = [None if g is None else node.xp.linalg.norm(g.ravel()) for g in gs]
        if len(gs) == 1:
            g = gs[0]
            in_grads = (None,) * len(node.edges) if g is None else node.backward(node, g)
        elif all(g is None for g in gs):   # every consumer returned None for it (e.g. a stop-gradient op)
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
                # Every node below is reached, even with no gradient, so a freed graph is always reported.
                m, i = e
                seq = m._seq
                if seq not in by_seq:
                    by_seq[seq] = m
                    push(heap, -seq)
                if g is not None:
                    dtype = m.out_meta[i][1]
                    if g.dtype is not dtype and g.dtype != dtype:
                        g = g.astype(dtype)
                    key = m if i == 0 else e
                    old = pending.get(key)
                    pending[key] = g if old is None else old + g
            elif g is not None and e.requires_grad:
                dtype = e._data.dtype
                if g.dtype is not dtype and g.dtype != dtype:
                    g = g.astype(dtype)
                key = id(e)
                old = leaf_grads.get(key)
                if old is None:
                    leaf_grads[key], leaves[key] = g, e
                else:
                    leaf_grads[key] = old + g
                    summed.add(key)

    # Leaves: hooks see the total gradient of this backward, then it is stored or returned.
    for key, g in leaf_grads.items():
        t = leaves[key]
        make = type(t)._make       # the leaf's own class makes its .grad (autograd imports no tensor code)
        owned = key in summed
        if t._hooks:
            for hook in t._hooks:
                r = hook(make(g, t._device, False, None, 0))
                if r is not None:
                    g, owned = _hook_result(hook, r, t._data.shape, t._data.dtype, t._device), False
        if capture is not None:
            if key in capture_leaves:
                captured[capture_leaves[key]] = g
            continue
        grad = t._grad          # (the public .grad is a checked property; the engine writes _grad)
        if grad is None:
            # .grad must own its array (clipping scales grads in place): copy unless this loop made the sum.
            t._grad = make(g if owned else g.copy(), t._device, False, None, 0)
        else:
            grad._data = grad._data + g
            grad._version.value += 1
    return captured


def _output_hooks(node, gs, capture_nodes, captured):
    """Run hooks and ``retain_grad`` of non-leaf tensors made by ``node``; capture for ``grad()``.

    A node's hooks work on arrays (``add_hook``): an array in, ``None`` or a replacement array out.
    """
    gs = list(gs)
    for idx in range(len(gs)):
        g = gs[idx]
        if g is None:
            continue
        for hook in (node.hooks or {}).get(idx, ()):
            r = hook(g)
            if r is not None:
                gs[idx] = g = r
        ref = (node.retained or {}).get(idx)
        t = ref() if ref is not None else None
        if t is not None:
            if t._grad is None:
                t._grad = t._wrap_grad(g.copy())
            else:
                t._grad._data = t._grad._data + g
                t._grad._version.value += 1
        k = capture_nodes.get((node, idx)) if capture_nodes else None
        if k is not None:
            captured[k] = g
    return gs


def add_retain(node: Function, idx: int, tensor) -> None:
    if node.retained is None:
        node.retained = {}
    node.retained[idx] = weakref.ref(tensor)


def add_hook(node: Function, idx: int, fn) -> None:
    """Run ``fn(grad_array)`` on the gradient of output ``idx`` of ``node``; a returned array replaces it."""
    if node.hooks is None:
        node.hooks = {}
    node.hooks.setdefault(idx, []).append(fn)
