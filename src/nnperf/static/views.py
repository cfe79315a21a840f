"""Views of a static summary: torchsummary's table, nnperf's layer table, the module tree.

Views only read a :class:`~nnperf.static.summary.StaticSummary`; each returns rows (headers + cells) so the
same data renders as plain text (stable, used by golden tests and pipes) or as a rich table in a terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nnperf.static import aggregate
from nnperf.units import fmt_bytes, fmt_count, fmt_flops

if TYPE_CHECKING:
    from nnperf.static.summary import StaticSummary

MB = 2**20  # torchsummary's "MB"


# -- torchsummary ---------------------------------------------------------------------------------------------
def torchsummary_text(s: StaticSummary) -> str:
    """The table torchsummary prints, with its figures and its conventions.

    torchsummary hooks every module except Sequential/ModuleList and the model itself, in the order calls
    finish; counts ``.weight`` and ``.bias`` of each hooked module; reports per-sample sizes (batch -1) in
    MB of 2**20 bytes at 4 bytes per number, and doubles the outputs "for gradients".
    """
    p = s.profile
    lines = ["----------------------------------------------------------------"]
    lines.append("{:>20}  {:>25} {:>15}".format("Layer (type)", "Output Shape", "Param #"))
    lines.append("================================================================")
    total_params = total_output = trainable = 0
    index = 0
    for call in p.modules:
        if call.is_container or call.path == "":
            continue
        index += 1
        shapes = [[-1, *shape[1:]] for shape in call.output_shapes]
        shown = shapes[0] if len(shapes) == 1 else shapes
        lines.append(
            "{:>20}  {:>25} {:>15}".format(f"{call.type}-{index}", str(shown), f"{call.weight_bias:,}")
        )
        total_params += call.weight_bias
        total_output += sum(math.prod(shape[1:]) for shape in call.output_shapes)
        if call.weight_trainable:
            trainable += call.weight_bias
    input_numel = sum(math.prod(shape[1:]) for shape in p.input_shapes)
    input_mb = input_numel * 4.0 / MB
    output_mb = 2.0 * total_output * 4.0 / MB
    params_mb = total_params * 4.0 / MB
    lines += [
        "================================================================",
        f"Total params: {total_params:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total_params - trainable:,}",
        "----------------------------------------------------------------",
        f"Input size (MB): {input_mb:0.2f}",
        f"Forward/backward pass size (MB): {output_mb:0.2f}",
        f"Params size (MB): {params_mb:0.2f}",
        f"Estimated Total Size (MB): {input_mb + output_mb + params_mb:0.2f}",
        "----------------------------------------------------------------",
    ]
    return "\n".join(lines)


# -- nnperf's layer table -------------------------------------------------------------------------------------
@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    footer: list[str] = field(default_factory=list)
    align: str = ""  # one char per column: l or r

    def to_text(self) -> str:
        widths = [len(h) for h in self.headers]
        for row in [*self.rows, self.footer] if self.footer else self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        align = self.align or "l" + "r" * (len(self.headers) - 1)

        def fmt(row: list[str]) -> str:
            cells = [
                c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align, strict=True)
            ]
            return "  ".join(cells).rstrip()

        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        out = [self.title, rule, fmt(self.headers), rule.replace("-", "=")]
        out += [fmt(r) for r in self.rows]
        if self.footer:
            out += [rule, fmt(self.footer)]
        out.append(rule)
        return "\n".join(out)

    def to_rich(self):
        """The same table as a ``rich.table.Table`` (for terminals)."""
        from rich.table import Table as RichTable

        align = self.align or "l" + "r" * (len(self.headers) - 1)
        table = RichTable(title=self.title, show_footer=bool(self.footer))
        for i, (h, a) in enumerate(zip(self.headers, align, strict=True)):
            footer = self.footer[i] if self.footer else ""
            table.add_column(h, justify="left" if a == "l" else "right", footer=footer, no_wrap=i == 0)
        for row in self.rows:
            table.add_row(*row)
        return table


def _inclusive(totals: dict[tuple[str, str], aggregate.Totals], path: str, phase: str) -> aggregate.Totals:
    out = aggregate.Totals()
    prefix = path + "."
    for (p, ph), t in totals.items():
        if ph == phase and (path == "" or p == path or p.startswith(prefix)):
            out.flops += t.flops
            out.macs += t.macs
            out.bytes_read += t.bytes_read
            out.bytes_written += t.bytes_written
            out.calls += t.calls
            out.uncounted += t.uncounted
    return out


def layer_table(s: StaticSummary, depth: int = 2) -> Table:
    """One row per module up to ``depth`` (inclusive costs: a row includes its children), with totals."""
    p = s.profile
    fwd_records = p.infer_ops if p.mode == "infer" else [r for r in p.train_ops if r.phase == "forward"]
    fwd = aggregate.by_module(fwd_records)
    bwd = aggregate.by_module([r for r in p.train_ops if r.phase == "backward"])
    saved = p.activations_by_module
    seen: set[str] = set()
    rows = []
    for call in sorted(p.modules, key=lambda c: c.order):
        if call.path == "" or call.depth > depth or call.path in seen:
            continue
        seen.add(call.path)
        f = _inclusive(fwd, call.path, "forward")
        b = _inclusive(bwd, call.path, "backward")
        act = sum(n for m, n in saved.items() if m == call.path or m.startswith(call.path + "."))
        shape = "x".join(str(d) for d in call.output_shapes[0]) if call.output_shapes else "-"
        name = "  " * (call.depth - 1) + f"{call.path.rsplit('.', 1)[-1]} ({call.type})"
        rows.append(
            [
                name,
                shape,
                fmt_count(call.params_recursive),
                fmt_flops(f.flops),
                fmt_flops(b.flops),
                fmt_bytes(f.bytes),
                f"{f.intensity:.1f}" if f.intensity is not None else "-",
                fmt_bytes(act),
            ]
        )
    # Ops the model runs outside any submodule (F.relu in forward, the loss): without this row the module
    # rows would not add up to the totals.
    top_f = fwd.get(("", "forward"), aggregate.Totals())
    top_b = bwd.get(("", "backward"), aggregate.Totals())
    top_act = saved.get("", 0)
    if top_f.calls or top_b.calls or top_act:
        rows.append(
            [
                "(outside submodules)",
                "-",
                "0",
                fmt_flops(top_f.flops),
                fmt_flops(top_b.flops),
                fmt_bytes(top_f.bytes),
                f"{top_f.intensity:.1f}" if top_f.intensity is not None else "-",
                fmt_bytes(top_act),
            ]
        )
    f_all = s.forward
    b_all = s.backward
    footer = [
        "Total",
        "",
        fmt_count(p.params_total),
        fmt_flops(f_all.flops),
        fmt_flops(b_all.flops),
        fmt_bytes(f_all.bytes),
        f"{f_all.intensity:.1f}" if f_all.intensity is not None else "-",
        fmt_bytes(p.memory.activations),
    ]
    forward = "training" if p.mode == "train" else p.inference_pass
    title = f"{p.model}  input {p.input}  {p.dtype}  (forward: {forward})"
    headers = [
        "Layer (type)",
        "Output shape",
        "Params",
        "Fwd FLOPs",
        "Bwd FLOPs",
        "Fwd bytes",
        "FLOP/B",
        "Saved act.",
    ]
    align = "llrrrrrr"
    if not p.training_analysed:  # a decode step: no backward, nothing saved for it
        keep = [i for i, h in enumerate(headers) if h not in ("Bwd FLOPs", "Saved act.")]
        headers, footer, align = (
            [headers[i] for i in keep],
            [footer[i] for i in keep],
            "".join(align[i] for i in keep),
        )
        rows = [[row[i] for i in keep] for row in rows]
    return Table(title, headers, rows, footer, align=align)


def totals_text(s: StaticSummary) -> str:
    """Totals, memory breakdown and what was not counted, under the layer table."""
    p = s.profile
    m = p.memory
    f, b, o = s.forward, s.backward, s.optimizer
    lines = [
        f"Params: {p.params_total:,} total, {p.params_trainable:,} trainable, "
        f"{p.params_total - p.params_trainable:,} non-trainable",
        f"Forward:   {fmt_flops(f.flops)}FLOPs  ({fmt_count(f.macs)} MACs)  {fmt_bytes(f.bytes)} moved",
    ]
    if p.training_analysed:
        lines += [
            f"Backward:  {fmt_flops(b.flops)}FLOPs  ({fmt_count(b.macs)} MACs)  {fmt_bytes(b.bytes)} moved",
            f"Optimizer: {fmt_flops(o.flops)}FLOPs  {fmt_bytes(o.bytes)} moved  ({p.optimizer})",
            f"Memory: parameters {fmt_bytes(m.parameters)}, buffers {fmt_bytes(m.buffers)}, "
            f"gradients {fmt_bytes(m.gradients)}, optimizer state {fmt_bytes(m.optimizer)}, "
            f"saved activations {fmt_bytes(m.activations)}, inputs {fmt_bytes(m.inputs)}",
            f"Peak memory: training {fmt_bytes(m.peak_train)} (in {m.peak_train_phase}), "
            f"inference {fmt_bytes(m.peak_infer)}",
        ]
    else:
        lines += [
            f"Decode step: the forward above, for {p.input}; training not analysed (inference only)",
            f"Memory: parameters {fmt_bytes(m.parameters)}, buffers {fmt_bytes(m.buffers)}, "
            f"KV cache {fmt_bytes(m.kv_cache)}, inputs {fmt_bytes(m.inputs)}",
            f"Peak memory: decode step {fmt_bytes(m.peak_infer)}",
        ]
    lines.append(f"Counted on {p.tensor_mode} tensors. FLOPs: 2 per multiply-add; bytes: minimum traffic.")
    unc = s.uncounted_ops
    if unc:
        lines.append(
            "Uncounted ops (no formula, FLOPs unknown): " + ", ".join(f"{k} x{n}" for k, n in unc.items())
        )
    else:
        lines.append("Uncounted ops: none")
    lines += [f"Warning: {w}" for w in p.warnings]
    return "\n".join(lines)


def tree_text(s: StaticSummary, depth: int | None = None) -> str:
    """The module tree with parameters and forward FLOPs of each module (inclusive)."""
    p = s.profile
    fwd_records = p.infer_ops if p.mode == "infer" else [r for r in p.train_ops if r.phase == "forward"]
    fwd = aggregate.by_module(fwd_records)
    seen: set[str] = set()
    lines = [f"{p.model} ({fmt_count(p.params_total)} params, {fmt_flops(s.forward.flops)}FLOPs forward)"]
    for call in sorted(p.modules, key=lambda c: c.order):
        if call.path == "" or call.path in seen or (depth is not None and call.depth > depth):
            continue
        seen.add(call.path)
        f = _inclusive(fwd, call.path, "forward")
        lines.append(
            "│   " * (call.depth - 1)
            + f"├── {call.path.rsplit('.', 1)[-1]}: {call.type}  "
            + f"[{fmt_count(call.params_recursive)} params, {fmt_flops(f.flops)}FLOPs]"
        )
    return "\n".join(lines)
