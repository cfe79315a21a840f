"""The per-op cost registry: one formula gives an op's FLOPs, MACs and bytes read/written.

Modelled on ``torch/utils/flop_counter.py`` (formulas keyed by aten op packet), with three differences:

* a formula returns FLOPs *and* minimum memory traffic from the same place;
* ops without an explicit formula fall back to generic rules by op tag (``torch.Tag.pointwise``,
  ``torch.Tag.reduction``) and to "views move no data" (``OpOverload.is_view``);
* an op that matches nothing is *uncounted*: :func:`formula_for` returns ``None`` and the counter lists it,
  never costs it as zero.

Conventions (written once, here): 1 multiply-add = 2 FLOPs = 1 MAC. MACs are only reported for
multiply-accumulate work (matmul, convolution, attention); FLOPs include every arithmetic operation.
Bytes are the minimum traffic of the op: each distinct input read once, each output written once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch
from torch._ops import OpOverload, OpOverloadPacket

__all__ = [
    "Cost",
    "Formula",
    "OpCall",
    "OpKind",
    "formula_for",
    "prod",
    "register_formula",
    "registered_ops",
    "tensor_bytes",
]


class OpKind(StrEnum):
    """What an op does, as far as cost is concerned."""

    MATMUL = "matmul"
    CONV = "conv"
    ATTENTION = "attention"
    POINTWISE = "pointwise"
    NORM = "norm"
    SOFTMAX = "softmax"
    REDUCTION = "reduction"
    POOL = "pool"
    EMBEDDING = "embedding"
    LOSS = "loss"
    MEMORY = "memory"  # copies, fills, factories, concatenation: bytes but no FLOPs
    VIEW = "view"  # aliases: no FLOPs, no bytes
    OPTIMIZER = "optimizer"  # fused optimizer kernels
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Cost:
    """The cost of one op call. ``flops`` counts every arithmetic op; ``macs`` only multiply-adds."""

    kind: OpKind
    flops: int = 0
    macs: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    note: str = ""

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written


def _is_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes of the distinct elements a tensor addresses (broadcast dims with stride 0 count once)."""
    n = 1
    for size, stride in zip(t.shape, t.stride(), strict=True):
        if stride != 0:
            n *= size
    if t.numel() == 0:
        n = 0
    return n * t.element_size()


def _identity(t: torch.Tensor) -> tuple:
    # Two arguments that are the same memory (x passed as q, k and v) are read once.
    try:
        storage = t.untyped_storage()._cdata
    except Exception:  # tensor subclasses without a storage
        storage = id(t)
    return (storage, t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)


def _unique_bytes(tensors: Iterable[torch.Tensor]) -> int:
    seen: set[tuple] = set()
    total = 0
    for t in tensors:
        key = _identity(t)
        if key not in seen:
            seen.add(key)
            total += tensor_bytes(t)
    return total


def _flat_tensors(obj: Any, out: list[torch.Tensor]) -> list[torch.Tensor]:
    """Tensors in an aten argument or result (tensors, and tuples/lists/dicts of them), in order.

    A hand-written walk: aten arguments only nest in these containers, and this runs for every op, where
    the general ``tree_flatten`` costs several times more.
    """
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for x in obj:
            _flat_tensors(x, out)
    elif isinstance(obj, dict):
        for x in obj.values():
            _flat_tensors(x, out)
    return out


class _ArgRoles:
    """Per-op (cached): which schema arguments are ``out=`` buffers and which are mutated."""

    __slots__ = ("mutated", "out_args")

    def __init__(self, op: OpOverload) -> None:
        args = op._schema.arguments
        self.out_args = tuple((i, a.name) for i, a in enumerate(args) if a.is_out)
        self.mutated = tuple(
            (i, a.name) for i, a in enumerate(args) if a.alias_info is not None and a.alias_info.is_write
        )


_ROLES: dict[OpOverload, _ArgRoles] = {}


class OpCall:
    """One dispatched op with its arguments and result, as formulas see it."""

    __slots__ = ("_inputs", "_outputs", "_roles", "args", "kwargs", "op", "out")

    def __init__(self, op: OpOverload, args: tuple, kwargs: dict, out: Any) -> None:
        self.op = op
        self.args = args
        self.kwargs = kwargs
        self.out = out
        self._inputs: list[torch.Tensor] | None = None
        self._outputs: list[torch.Tensor] | None = None
        roles = _ROLES.get(op)
        if roles is None:
            roles = _ROLES[op] = _ArgRoles(op)
        self._roles = roles

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        """Argument by position or keyword (aten schemas allow both)."""
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)

    def named(self, name: str, default: Any = None) -> Any:
        """Argument by schema name, for op families whose backend variants put it at different positions."""
        for i, arg in enumerate(self.op._schema.arguments):
            if arg.name == name:
                return self.arg(i, name, default)
        return default

    def inputs(self) -> list[torch.Tensor]:
        """Tensor arguments (``out=`` arguments included; see :meth:`read_tensors`)."""
        if self._inputs is None:
            self._inputs = _flat_tensors(self.kwargs, _flat_tensors(self.args, []))
        return self._inputs

    def outputs(self) -> list[torch.Tensor]:
        if self._outputs is None:
            self._outputs = _flat_tensors(self.out, [])
        return self._outputs

    def _role_values(self, roles: tuple[tuple[int, str], ...]) -> list[Any]:
        return [self.arg(i, name) for i, name in roles]

    def read_tensors(self) -> list[torch.Tensor]:
        """Tensors the op reads: every tensor argument except ``out=`` buffers, which are only written."""
        if not self._roles.out_args:
            return self.inputs()
        excluded = {id(t) for t in _flat_tensors(self._role_values(self._roles.out_args), [])}
        return [t for t in self.inputs() if id(t) not in excluded]

    def written_tensors(self) -> list[torch.Tensor]:
        """Tensors the op writes: its results plus arguments the schema marks as mutated (``add_``'s self,
        ``_foreach_add_``'s lists, ``out=``), so in-place ops that return nothing still write bytes."""
        if not self._roles.mutated:
            return self.outputs()
        return _flat_tensors(self._role_values(self._roles.mutated), list(self.outputs()))

    def bytes_read(self) -> int:
        return _unique_bytes(self.read_tensors())

    def bytes_written(self) -> int:
        return _unique_bytes(self.written_tensors())

    def out_numel(self) -> int:
        return sum(t.numel() for t in self.outputs())

    def traffic(self, kind: OpKind, flops: int = 0, macs: int = 0, note: str = "") -> Cost:
        """A cost whose bytes are the op's minimum traffic."""
        return Cost(kind, flops, macs, self.bytes_read(), self.bytes_written(), note)


Formula = Callable[[OpCall], Cost]

_FORMULAS: dict[OpOverload | OpOverloadPacket, Formula] = {}


def register_formula(*ops: OpOverload | OpOverloadPacket) -> Callable[[Formula], Formula]:
    """Register ``fn`` as the formula of ``ops`` (an overload packet covers all of its overloads)."""

    def decorator(fn: Formula) -> Formula:
        for op in ops:
            if op in _FORMULAS:
                raise ValueError(f"a formula for {op} is already registered")
            _FORMULAS[op] = fn
        _RESOLVED.clear()  # a later registration may change what an op resolves to
        return fn

    return decorator


def registered_ops() -> list[str]:
    """Names of the ops with an explicit formula (for documentation and coverage reports)."""
    return sorted(str(op) for op in _FORMULAS)


# Generic rules by tag, used when no explicit formula matches. They are formulas like the others, kept
# apart so that an explicit formula always wins.


def _view_rule(call: OpCall) -> Cost:
    return Cost(OpKind.VIEW)


def _pointwise_rule(call: OpCall) -> Cost:
    from nnperf.static.formulas.pointwise import pointwise_flops_per_element

    per = pointwise_flops_per_element(call.op)
    return call.traffic(OpKind.POINTWISE, flops=per * call.out_numel())


def _reduction_rule(call: OpCall) -> Cost:
    # One operation per element reduced (n elements into 1 take n-1 ops; the +1 is ignored).
    inputs = call.inputs()
    n = inputs[0].numel() if inputs else 0
    return call.traffic(OpKind.REDUCTION, flops=n)


_RESOLVED: dict[OpOverload, Formula | None] = {}


def formula_for(op: OpOverload) -> Formula | None:
    """The formula for ``op``: explicit overload, then packet, then tag rules; ``None`` if uncounted."""
    try:
        return _RESOLVED[op]
    except KeyError:
        fn = _RESOLVED[op] = _resolve(op)
        return fn


def _resolve(op: OpOverload) -> Formula | None:
    _ensure_loaded()
    fn = _FORMULAS.get(op) or _FORMULAS.get(op.overloadpacket)
    if fn is not None:
        return fn
    twin = _functional_twin(op)
    if twin is not None:
        return formula_for(twin)
    if op.is_view or torch.Tag.inplace_view in op.tags:
        return _view_rule
    if torch.Tag.pointwise in op.tags:
        return _pointwise_rule
    if torch.Tag.reduction in op.tags:
        return _reduction_rule
    return None


def _functional_twin(op: OpOverload) -> OpOverload | None:
    """``masked_fill.Scalar`` for ``masked_fill_.Scalar``: the functional op an in-place op computes.

    An in-place op does the arithmetic of its functional twin on tensors of the same shape, but PyTorch
    tags many of them only ``inplace`` (``masked_fill_``, ``eq_``, ``gelu_``, ``threshold_`` lack the
    ``pointwise`` tag their twins carry), so without this they would fall through every tag rule.
    """
    if torch.Tag.inplace not in op.tags:
        return None
    name = op.overloadpacket.__name__
    if not name.endswith("_") or name.endswith("__"):
        return None
    packet = getattr(getattr(torch.ops, op.namespace), name[:-1], None)
    return getattr(packet, op._overloadname, None) if packet is not None else None


_loaded = False


def _ensure_loaded() -> None:
    # Formula modules register on import; importing them lazily keeps `import nnperf` light.
    global _loaded
    if not _loaded:
        _loaded = True
        import nnperf.static.formulas  # noqa: F401


def prod(xs: Iterable[int]) -> int:
    return math.prod(int(x) for x in xs)
