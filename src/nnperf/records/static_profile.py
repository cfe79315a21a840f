"""Plain-data records of a static analysis (no torch import): ops, module calls, memory, totals.

A :class:`StaticProfile` keeps every op call (raw data); totals are derived from it by :mod:`nnperf.static.aggregate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PHASES: tuple[str, ...] = ("forward", "loss", "backward", "optimizer")


@dataclass(slots=True)  # not frozen: ~40k are built per large model, and frozen __init__ is 8x slower
class OpRecord:
    """One aten op call (or ``count`` identical calls). ``flops is None``: no formula matched, the op is
    *uncounted*, not free. Costs are per call; totals multiply by ``count``."""

    op: str
    module: str  # fully qualified module path ("" for the model itself or code outside any module)
    phase: str  # one of PHASES
    kind: str | None
    flops: int | None
    macs: int
    bytes_read: int
    bytes_written: int
    shapes: tuple[tuple[int, ...], ...]  # shapes of the tensor arguments
    dtypes: tuple[str, ...]
    note: str = ""
    count: int = 1  # identical calls this record stands for (one optimizer update per same-shape parameter)

    @property
    def counted(self) -> bool:
        return self.flops is not None

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written


@dataclass(frozen=True, slots=True)
class ModuleCall:
    """One call of a module's forward, in the order calls *finished* (as torchsummary lists them)."""

    path: str
    type: str
    depth: int
    order: int  # order in which the call started (pre-order), for trees
    output_shapes: tuple[tuple[int, ...], ...]
    params: int  # parameters owned directly (recursive=False), each counted once per model
    params_recursive: int
    weight_bias: int  # torchsummary's count: numel of .weight plus numel of .bias
    weight_trainable: bool | None  # None: the module has no .weight
    is_container: bool  # Sequential / ModuleList / ModuleDict: torchsummary skips these


@dataclass(frozen=True, slots=True)
class MemoryBreakdown:
    """Bytes, by what holds them. Peaks are of live tensors (a tensor is freed when it dies)."""

    parameters: int
    buffers: int
    gradients: int
    optimizer: int
    activations: int  # saved for backward, distinct storages, excluding parameters and inputs
    inputs: int
    peak_train: int
    peak_infer: int
    peak_train_phase: str  # phase in which the training peak occurs ("" when no training was analysed)
    method: str
    kv_cache: int = 0  # keys and values a decode step attends to (a static cache of context + new tokens)


@dataclass(slots=True)
class StaticProfile:
    """Everything a static analysis found. Totals come from :mod:`nnperf.static.aggregate`."""

    model: str
    source: str
    family: str
    input: str
    batch: int
    dtype: str
    mode: str  # "infer" or "train": which pass `forward` refers to
    optimizer: str
    tensor_mode: str  # "meta", "fake" or "cpu": what the model actually ran on
    params_total: int
    params_trainable: int
    buffers_total: int
    infer_ops: list[OpRecord]
    train_ops: list[OpRecord]
    modules: list[ModuleCall]
    memory: MemoryBreakdown
    warnings: list[str] = field(default_factory=list)
    activations_by_module: dict[str, int] = field(default_factory=dict)
    input_shapes: tuple[tuple[int, ...], ...] = ()
    #: Tokens in the KV cache when the inputs are one decode step of a causal LM (0: the prefill, the prompt
    #: written into an empty cache); None otherwise.
    context: int | None = None
    #: False for a decode step: train_ops is empty and the training memory figures are 0, not measured.
    training_analysed: bool = True

    @property
    def inference_pass(self) -> str:
        """What the inference pass is: "inference", "decode step" or "prefill" (of a KV cache)."""
        if self.context is None:
            return "inference"
        return "prefill" if self.context == 0 else "decode step"
