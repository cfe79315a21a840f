"""Per-op cost formulas: hand-derived numbers (arithmetic in the comments), meta == CPU agreement for fused
attention, and coverage: every op that real models dispatch has a formula."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from nnperf.static.registry import Cost, OpCall, OpKind, formula_for

aten = torch.ops.aten


@dataclass
class Record:
    """Every dispatched op with its cost (None when it has no formula)."""

    calls: list[tuple[Any, Cost | None]] = field(default_factory=list)

    def of(self, packet: Any) -> list[Cost]:
        return [c for op, c in self.calls if op.overloadpacket is packet and c is not None]

    def one(self, packet: Any) -> Cost:
        costs = self.of(packet)
        assert len(costs) == 1, f"expected one {packet}, got {len(costs)}"
        return costs[0]

    @property
    def flops(self) -> int:
        return sum(c.flops for _, c in self.calls if c is not None)

    @property
    def macs(self) -> int:
        return sum(c.macs for _, c in self.calls if c is not None)

    @property
    def uncounted(self) -> set[str]:
        return {str(op) for op, c in self.calls if c is None}

    def ops(self) -> set[str]:
        return {str(op.overloadpacket) for op, _ in self.calls}


class Recorder(TorchDispatchMode):
    """A minimal counting mode: runs each op, then costs it with the registry."""

    def __init__(self) -> None:
        super().__init__()
        self.record = Record()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = formula_for(func)
        cost = formula(OpCall(func, args, kwargs, out)) if formula is not None else None
        self.record.calls.append((func, cost))
        return out


def run(fn: Callable[[], Any]) -> Record:
    rec = Recorder()
    with rec:
        fn()
    return rec.record


F32 = 4  # bytes per float32 element
I64 = 8


# ---- matmul -------------------------------------------------------------------------------------------


def test_mm() -> None:
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    c = run(lambda: a @ b).one(aten.mm)
    # M=3, K=4, N=5: MACs = 3*5*4 = 60, FLOPs = 2*60 = 120.
    assert (c.macs, c.flops, c.kind) == (60, 120, OpKind.MATMUL)
    # Read 3*4 + 4*5 = 32 floats = 128 B; write 3*5 = 15 floats = 60 B.
    assert (c.bytes_read, c.bytes_written) == (128, 60)


def test_linear_is_addmm_with_bias_flops() -> None:
    x, w, b = torch.randn(2, 3, 8), torch.randn(6, 8), torch.randn(6)
    rec = run(lambda: F.linear(x, w, b))
    c = rec.one(aten.addmm)
    # rows = 2*3 = 6, N = 6, K = 8: MACs = 6*6*8 = 288; FLOPs = 2*288 + 6*6 (bias add) = 612.
    assert (c.macs, c.flops) == (288, 612)
    # Read x 48 + W 48 + b 6 floats = 102*4 = 408 B; write 36*4 = 144 B.
    assert (c.bytes_read, c.bytes_written) == (408, 144)
    assert rec.uncounted == set()


def test_bmm_and_baddbmm() -> None:
    a, b, s = torch.randn(2, 3, 4), torch.randn(2, 4, 5), torch.randn(2, 3, 5)
    rec = run(lambda: (torch.bmm(a, b), torch.baddbmm(s, a, b), torch.baddbmm(s, a, b, beta=0.5, alpha=2.0)))
    bmm = rec.one(aten.bmm)
    # B=2, M=3, K=4, N=5: MACs = 2*3*5*4 = 120, FLOPs = 240.
    assert (bmm.macs, bmm.flops) == (120, 240)
    plain, scaled = rec.of(aten.baddbmm)
    # + 2*3*5 = 30 adds; with beta=0.5 and alpha=2 also 30 + 30 scaling multiplies.
    assert (plain.macs, plain.flops) == (120, 270)
    assert (scaled.macs, scaled.flops) == (120, 330)


def test_matrix_vector_products() -> None:
    m, x, y = torch.randn(3, 4), torch.randn(4), torch.randn(3)
    rec = run(lambda: (torch.mv(m, x), torch.addmv(y, m, x), torch.dot(x, x)))
    # mv: M*K = 12 MACs; addmv: + 3 adds; dot: K = 4 MACs.
    assert (rec.one(aten.mv).macs, rec.one(aten.mv).flops) == (12, 24)
    assert rec.one(aten.addmv).flops == 27
    assert (rec.one(aten.dot).macs, rec.one(aten.dot).flops) == (4, 8)


def test_grouped_mm_every_layout() -> None:
    # Three groups (experts); offsets split the grouped dimension 16 -> 4 + 4 + 8 (fp32 on the CPU kernel,
    # whose strides must be multiples of 16 bytes, hence sizes that are multiples of 4).
    offs = torch.tensor([4, 8, 16], dtype=torch.int32)
    rec = run(
        lambda: (
            torch._grouped_mm(torch.randn(16, 8), torch.randn(3, 8, 12), offs=offs),  # rows split
            torch._grouped_mm(torch.randn(8, 16), torch.randn(16, 12), offs=offs),  # shared dim split
            torch._grouped_mm(torch.randn(3, 4, 8), torch.randn(3, 8, 12)),  # batched
            torch._grouped_mm(torch.randn(3, 4, 8), torch.randn(8, 16), offs=offs),  # columns split
        )
    )
    rows, shared, batched, columns = rec.of(aten._grouped_mm)
    # (16, 8) @ groups of (8, 12): each of the 16 rows meets one group: 16*8*12 = 1,536 MACs.
    assert (rows.macs, rows.flops) == (1536, 3072)
    # Read 128 + 288 floats + 3 int32 offsets = 1,676 B; write 16*12 floats = 768 B.
    assert (rows.bytes_read, rows.bytes_written) == (1676, 768)
    # (8, 16) @ (16, 12), the 16 split 4 + 4 + 8 into three (8, 12) results: 8*16*12 = 1,536 MACs.
    assert shared.macs == 1536
    # Three (4, 8) @ (8, 12): 3*4*8*12 = 1,152 MACs.
    assert batched.macs == 1152
    # Group g: (4, 8) @ (8, columns of g), the 16 columns split 4 + 4 + 8: 4*8*16 = 512 MACs.
    assert columns.macs == 512
    assert rec.uncounted == set()


def test_grouped_mm_with_fewer_rows_than_groups_reads_only_the_groups_it_can_use() -> None:
    # A decode step of a mixture of experts: 2 rows (one token, top-2) over 4 experts use at most 2 experts'
    # weights. (2, 8) @ (4, 8, 16), offsets 1, 2, 2, 2: 2*8*16 = 256 MACs.
    offs = torch.tensor([1, 2, 2, 2], dtype=torch.int32)
    c = run(lambda: torch._grouped_mm(torch.randn(2, 8), torch.randn(4, 8, 16), offs=offs)).one(
        aten._grouped_mm
    )
    assert c.macs == 256
    # Read: 16 floats of rows (64 B) + 4 int32 offsets (16 B) + 2 of the 4 experts' 8*16 floats (1,024 B).
    assert (c.bytes_read, c.bytes_written) == (64 + 16 + 1024, 2 * 16 * F32)


def test_einsum_decomposes_to_bmm() -> None:
    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    rec = run(lambda: torch.einsum("bij,bjk->bik", a, b))
    assert rec.uncounted == set()
    assert rec.macs == 2 * 3 * 4 * 5  # = 120, all in the bmm


# ---- convolution --------------------------------------------------------------------------------------


def test_conv2d_groups_stride_dilation_padding_forward_and_backward() -> None:
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2)
    x = torch.randn(2, 4, 9, 9, requires_grad=True)
    rec = run(lambda: conv(x).sum().backward())
    fwd = rec.one(aten.convolution)
    # Output side: floor((9 + 2*1 - 2*(3-1) - 1) / 2) + 1 = 4 -> out (2, 6, 4, 4) = 192 elements.
    # Weight (6, 4/2=2, 3, 3): each output is a dot product of 2*3*3 = 18 -> MACs = 192*18 = 3456.
    # FLOPs = 2*3456 + 192 (bias) = 7104.
    assert (fwd.macs, fwd.flops) == (3456, 7104)
    bwd = rec.one(aten.convolution_backward)
    # grad_input 3456 MACs + grad_weight 3456 MACs = 6912; grad_bias 192 adds: 2*6912 + 192 = 14016.
    assert (bwd.macs, bwd.flops) == (6912, 14016)
    assert "not computed" not in bwd.note


def test_conv_first_layer_skips_grad_input() -> None:
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2)
    x = torch.randn(2, 4, 9, 9)  # an input image: no gradient
    y = conv(x)
    bwd = run(lambda: y.backward(torch.randn_like(y))).one(aten.convolution_backward)
    # Only grad_weight (3456 MACs) and grad_bias (192 adds): 2*3456 + 192 = 7104.
    assert (bwd.macs, bwd.flops) == (3456, 7104)
    assert "not computed: grad_input" in bwd.note
    # Bytes: the weight is not read (only grad_input needs it): grad_out 192 + input 648 floats;
    # written: grad_weight 6*2*3*3 = 108 + grad_bias 6 floats.
    assert bwd.bytes_read == (192 + 2 * 4 * 9 * 9) * F32
    assert bwd.bytes_written == (108 + 6) * F32


def test_depthwise_conv_backward_counts_groups() -> None:
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    x = torch.randn(1, 8, 5, 5, requires_grad=True)
    rec = run(lambda: conv(x).sum().backward())
    # out (1, 8, 5, 5) = 200; weight (8, 1, 3, 3): 9 per output -> forward MACs = 1800.
    assert rec.one(aten.convolution).macs == 1800
    # grad_input = grad_weight = forward MACs whatever the groups: 2*1800 = 3600 MACs.
    assert rec.one(aten.convolution_backward).macs == 3600


def test_conv_transpose2d() -> None:
    conv = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2)
    x = torch.randn(1, 4, 5, 5, requires_grad=True)
    rec = run(lambda: conv(x).sum().backward())
    fwd = rec.one(aten.convolution)
    # Weight (4, 6/2=3, 3, 3): each input element is scattered to 3*3*3 = 27 outputs -> 100*27 = 2700 MACs.
    # Output side (5-1)*2 + 3 = 11 -> (1, 6, 11, 11) = 726 bias adds: FLOPs = 5400 + 726 = 6126.
    assert (fwd.macs, fwd.flops) == (2700, 6126)
    bwd = rec.one(aten.convolution_backward)
    # grad_input 2700 + grad_weight 2700 MACs; grad_bias 726 adds: 2*5400 + 726 = 11526.
    assert (bwd.macs, bwd.flops) == (5400, 11526)


def test_conv1d_and_conv3d() -> None:
    c1, x1 = nn.Conv1d(3, 4, 5, padding=2, bias=False), torch.randn(2, 3, 10)
    c3, x3 = nn.Conv3d(2, 4, 3, stride=2, groups=2, bias=False), torch.randn(1, 2, 5, 5, 5)
    rec = run(lambda: (c1(x1), c3(x3)))
    conv1, conv3 = rec.of(aten.convolution)
    # 1d: out (2, 4, 10) = 80, weight (4, 3, 5): 15 per output -> 1200 MACs.
    assert conv1.macs == 1200
    # 3d: side floor((5-3)/2)+1 = 2 -> out (1, 4, 2, 2, 2) = 32; weight (4, 1, 3, 3, 3): 27 -> 864 MACs.
    assert conv3.macs == 864


# ---- attention ----------------------------------------------------------------------------------------


def _sdpa_step(
    device: str,
    causal: bool = False,
    mask: str | None = None,
    gqa: bool = False,
    tk: int = 6,
    dropout: float = 0.0,
) -> tuple[Record, Record]:
    torch.manual_seed(0)
    q = torch.randn(1, 2, 4, 8, device=device, requires_grad=True)
    hk = 1 if gqa else 2
    k = torch.randn(1, hk, tk, 8, device=device, requires_grad=True)
    v = torch.randn(1, hk, tk, 8, device=device, requires_grad=True)
    m = None
    if mask == "float":
        m = torch.randn(4, tk, device=device)
    elif mask == "bool":
        m = torch.ones(4, tk, device=device, dtype=torch.bool)
    out: list[torch.Tensor] = []
    fwd = run(
        lambda: out.append(
            F.scaled_dot_product_attention(
                q, k, v, attn_mask=m, is_causal=causal, enable_gqa=gqa, dropout_p=dropout
            )
        )
    )
    bwd = run(lambda: out[0].backward(torch.ones_like(out[0])))
    return fwd, bwd


def test_sdpa_math_path_hand_count() -> None:
    fwd, bwd = _sdpa_step("meta")
    # q (1,2,4,8), k = v (1,2,6,8). Math path: q * sqrt(s) (64) and k * sqrt(s) (96) multiplies;
    # bmm q k^T: 2*4*6*8 = 384 MACs; _safe_softmax on 1*2*4*6 = 48 scores * 7 = 336; bmm attn v: 384 MACs.
    # MACs = 768; FLOPs = 2*768 + 64 + 96 + 336 = 2032.
    assert (fwd.macs, fwd.flops) == (768, 2032)
    # Backward: 4 bmm of 384 MACs (grad_attn, grad_v, grad_q', grad_k') = 1536 MACs; softmax backward
    # 48 * 4 = 192; the two scale multiplies again 64 + 96: FLOPs = 2*1536 + 192 + 160 = 3424.
    assert (bwd.macs, bwd.flops) == (1536, 3424)


def test_sdpa_causal_hand_count() -> None:
    fwd, _ = _sdpa_step("meta", causal=True, tk=4)
    # Dense causal count, Tq = Tk = 4: scale muls 64 + 64; two bmm of 2*4*4*8 = 256 MACs -> 512 MACs;
    # the causal mask is added to the 32 scores (32); _safe_softmax 32 * 7 = 224.
    # FLOPs = 2*512 + 128 + 32 + 224 = 1408.
    assert (fwd.macs, fwd.flops) == (512, 1408)


@pytest.mark.parametrize(
    "kw",
    [{}, {"causal": True, "tk": 4}, {"mask": "float"}, {"mask": "bool"}, {"gqa": True}, {"dropout": 0.5}],
    ids=["plain", "causal", "float-mask", "bool-mask", "gqa", "dropout"],
)
def test_sdpa_same_flops_on_meta_and_cpu(kw: dict) -> None:
    meta_fwd, meta_bwd = _sdpa_step("meta", **kw)
    cpu_fwd, cpu_bwd = _sdpa_step("cpu", **kw)
    assert meta_fwd.uncounted == cpu_fwd.uncounted == set()
    assert meta_bwd.uncounted == cpu_bwd.uncounted == set()
    assert (cpu_fwd.flops, cpu_fwd.macs) == (meta_fwd.flops, meta_fwd.macs)
    assert (cpu_bwd.flops, cpu_bwd.macs) == (meta_bwd.flops, meta_bwd.macs)


def test_sdpa_cpu_fused_op_cost() -> None:
    fwd, bwd = _sdpa_step("cpu")
    c = fwd.one(aten._scaled_dot_product_flash_attention_for_cpu)
    # The fused op alone carries the math decomposition: 768 MACs, 2032 FLOPs (see the hand count above).
    assert (c.kind, c.macs, c.flops) == (OpKind.ATTENTION, 768, 2032)
    # Its bytes are its own traffic: q 64 + k 96 + v 96 floats read; out 64 + logsumexp 1*2*4 = 8 written.
    assert (c.bytes_read, c.bytes_written) == ((64 + 96 + 96) * F32, (64 + 8) * F32)
    b = bwd.one(aten._scaled_dot_product_flash_attention_for_cpu_backward)
    assert (b.macs, b.flops) == (1536, 3424)
    causal = _sdpa_step("cpu", causal=True, tk=4)[0].one(aten._scaled_dot_product_flash_attention_for_cpu)
    assert "dense count" in causal.note


def test_sdpa_decomposition_works_under_another_mode() -> None:
    # The decomposition runs on a clean thread: an outer dispatch mode (here: a second recorder) does not
    # see or disturb it.
    q = torch.randn(1, 2, 4, 8)
    outer = Recorder()
    with outer:
        rec = run(lambda: F.scaled_dot_product_attention(q, q, q))
    assert rec.one(aten._scaled_dot_product_flash_attention_for_cpu).macs == 2 * (2 * 4 * 4 * 8)  # = 512
    assert all(op.overloadpacket is not aten.bmm for op, _ in outer.record.calls)


def test_fake_tensors_cost_like_meta() -> None:
    # Under FakeTensorMode (CPU fake tensors) SDPA takes the fused CPU op; the counts match meta's math path.
    from torch._subclasses.fake_tensor import FakeTensorMode

    def step(device: str) -> Record:
        conv = nn.Conv2d(3, 4, 3, device=device)
        x = torch.randn(2, 3, 8, 8, device=device)
        q = torch.randn(1, 2, 4, 8, device=device, requires_grad=True)
        return run(
            lambda: (conv(x).sum().backward(), F.scaled_dot_product_attention(q, q, q).sum().backward())
        )

    with FakeTensorMode():
        fake = step("cpu")
    meta = step("meta")
    assert fake.uncounted == meta.uncounted == set()
    assert aten._scaled_dot_product_flash_attention_for_cpu in {op.overloadpacket for op, _ in fake.calls}
    assert (fake.flops, fake.macs) == (meta.flops, meta.macs)


def test_cuda_attention_kernels_on_meta() -> None:
    # The CUDA kernels have meta implementations: cost them directly, (B, H, T, E) layout.
    q = torch.empty(2, 4, 16, 8, device="meta", dtype=torch.float16)
    rec = run(
        lambda: (
            aten._scaled_dot_product_efficient_attention(q, q, q, None, True),
            aten._scaled_dot_product_flash_attention(q, q, q),
        )
    )
    # 2 bmm of 2*4*16*16*8 = 16384 MACs each.
    assert rec.one(aten._scaled_dot_product_efficient_attention).macs == 32768
    assert rec.one(aten._scaled_dot_product_flash_attention).macs == 32768


def test_multihead_attention_fast_path_matches_meta() -> None:
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        cpu = run(lambda: mha(x, x, x))
    assert aten._native_multi_head_attention in {op.overloadpacket for op, _ in cpu.calls}
    meta_mha = nn.MultiheadAttention(16, 4, batch_first=True, device="meta").eval()
    xm = torch.empty(2, 5, 16, device="meta")
    with torch.no_grad():
        meta = run(lambda: meta_mha(xm, xm, xm))
    # In-projection 2*5 tokens x 48 x 16 = 7680 MACs, scores and AV 2*4*5*5*4 = 800 each,
    # out-projection 10 x 16 x 16 = 2560: 7680 + 1600 + 2560 = 11840 MACs.
    assert cpu.macs == meta.macs == 11840
    assert cpu.flops == meta.flops


def test_transformer_encoder_layer_fast_path_matches_meta() -> None:
    torch.manual_seed(0)
    kw = {"d_model": 16, "nhead": 4, "dim_feedforward": 32, "batch_first": True}
    layer = nn.TransformerEncoderLayer(**kw).eval()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        cpu = run(lambda: layer(x))
    assert aten._transformer_encoder_layer_fwd in {op.overloadpacket for op, _ in cpu.calls}
    meta_layer = nn.TransformerEncoderLayer(**kw, device="meta").eval()
    xm = torch.empty(2, 5, 16, device="meta")
    with torch.no_grad():
        meta = run(lambda: meta_layer(xm))
    # Attention 11840 MACs (see above) + FFN 10 tokens x (16x32 + 32x16) = 10240: 22080 MACs.
    assert cpu.macs == meta.macs == 22080
    assert cpu.flops == meta.flops


# ---- norms and softmax --------------------------------------------------------------------------------


def test_layer_norm() -> None:
    ln = nn.LayerNorm(8)
    x = torch.randn(2, 3, 8, requires_grad=True)
    rec = run(lambda: ln(x).sum().backward())
    # n = 48 elements in 6 rows: 7 per element (mean sum, sub, square, var sum, * rstd, * w, + b)
    # + 4 per row (two divisions, + eps, rsqrt) = 48*7 + 6*4 = 360.
    assert rec.one(aten.native_layer_norm).flops == 360
    # Backward, all three gradients: per element xhat 2 + dx (g = dy*w 1 + 7) + dw 2 + db 1 = 13;
    # per row 2 divisions: 48*13 + 6*2 = 636.
    assert rec.one(aten.native_layer_norm_backward).flops == 636


def test_batch_norm_train_and_eval() -> None:
    bn = nn.BatchNorm2d(3)
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    rec = run(lambda: bn(x).sum().backward())
    # Training, n = 96, C = 3: 96*7 + 3*4 (per-channel stats) + 3*7 (running-stat updates) = 705.
    assert rec.one(aten.native_batch_norm).flops == 705
    # Backward, all gradients: 96*13 + 3*2 = 1254.
    assert rec.one(aten.native_batch_norm_backward).flops == 1254
    bn.eval()
    with torch.no_grad():
        ev = run(lambda: bn(x))
    # Eval: (x - mean) * invstd * w + b = 4 per element + rsqrt(var + eps) 2 per channel: 384 + 6 = 390.
    costs = [c for op, c in ev.calls if c is not None and c.kind is OpKind.NORM]
    assert [c.flops for c in costs] == [390]


def test_softmax_family() -> None:
    x = torch.randn(4, 10, requires_grad=True)
    rec = run(lambda: (F.softmax(x, -1).sum().backward(), F.log_softmax(x, -1).sum().backward()))
    # softmax: 40 elements * 5 (max, sub, exp, sum, div) = 200; log_softmax: 200 + 4 row logs = 204.
    assert rec.one(aten._softmax).flops == 200
    assert rec.one(aten._log_softmax).flops == 204
    # Backward: 40 * 4 = 160 each.
    assert rec.one(aten._softmax_backward_data).flops == 160
    assert rec.one(aten._log_softmax_backward_data).flops == 160


# ---- pooling ------------------------------------------------------------------------------------------


def test_pooling() -> None:
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    rec = run(lambda: (F.max_pool2d(x, 2).sum().backward(), F.avg_pool2d(x, 3, stride=1).sum().backward()))
    # max 2x2: out (1, 2, 3, 3) = 18 outputs * 4 = 72 comparisons; backward: 18 adds.
    assert rec.one(aten.max_pool2d_with_indices).flops == 72
    assert rec.one(aten.max_pool2d_with_indices_backward).flops == 18
    # avg 3x3 stride 1: out (1, 2, 4, 4) = 32 outputs * 9 = 288; backward the same.
    assert rec.one(aten.avg_pool2d).flops == 288
    assert rec.one(aten.avg_pool2d_backward).flops == 288


def test_adaptive_avg_pool_windows() -> None:
    x = torch.randn(1, 1, 5, 5, requires_grad=True)
    rec = run(lambda: F.adaptive_avg_pool2d(x, 3).sum().backward())
    # Size 5 -> 3: windows [0,2), [1,4), [3,5) of lengths 2 + 3 + 2 = 7 per dim: 7 * 7 = 49.
    assert rec.one(aten._adaptive_avg_pool2d).flops == 49
    assert rec.one(aten._adaptive_avg_pool2d_backward).flops == 49


def test_pooling_1d_and_3d() -> None:
    x1 = torch.randn(1, 2, 8, requires_grad=True)
    x3 = torch.randn(1, 1, 4, 4, 4, requires_grad=True)
    rec = run(lambda: (F.max_pool1d(x1, 2).sum().backward(), F.avg_pool3d(x3, 2).sum().backward()))
    # max_pool1d runs as a 2d pool with kernel [1, 2]: out (1, 2, 1, 4) = 8 outputs * 2 = 16.
    assert rec.one(aten.max_pool2d_with_indices).flops == 16
    # avg_pool3d 2x2x2: out (1, 1, 2, 2, 2) = 8 outputs * 8 = 64; backward the same.
    assert rec.one(aten.avg_pool3d).flops == 64
    assert rec.one(aten.avg_pool3d_backward).flops == 64


# ---- losses -------------------------------------------------------------------------------------------


def test_cross_entropy_and_mse() -> None:
    logits = torch.randn(4, 10, requires_grad=True)
    target = torch.tensor([1, 0, 3, 9])
    rec = run(
        lambda: (
            F.cross_entropy(logits, target).backward(),
            F.mse_loss(logits, torch.zeros(4, 10)).backward(),
        )
    )
    assert rec.uncounted == set()
    # cross_entropy = log_softmax (40*5 + 4 row logs = 204) + nll_loss.
    assert rec.one(aten._log_softmax).flops == 204
    nll = rec.one(aten.nll_loss_forward)
    # nll, mean, no weight: 4 negations + 4 adds + 1 division = 9. Reads only the 4 target entries
    # (4 floats = 16 B) and the 4 int64 targets (32 B).
    assert (nll.flops, nll.bytes_read) == (9, 48)
    # Backward: per sample neg + mean division = 8; writes the whole (4, 10) gradient: 160 B.
    nll_b = rec.one(aten.nll_loss_backward)
    assert (nll_b.flops, nll_b.bytes_written) == (8, 160)
    # mse, mean over 40 elements: sub, square (80) + 40 adds + 1 division = 121;
    # backward: sub, *2, *grad (120) + 1 division = 121.
    assert rec.one(aten.mse_loss).flops == 121
    assert rec.one(aten.mse_loss_backward).flops == 121


# ---- embedding ----------------------------------------------------------------------------------------


def test_embedding_reads_gathered_rows_only() -> None:
    emb = nn.Embedding(1000, 16)
    idx = torch.tensor([[1, 2, 3], [4, 5, 6]])
    rec = run(lambda: emb(idx).sum().backward())
    c = rec.one(aten.embedding)
    # 0 FLOPs; read 6 rows * 16 * 4 B = 384 B + 6 int64 indices = 48 B; write 6*16*4 = 384 B.
    assert (c.flops, c.bytes_read, c.bytes_written) == (0, 432, 384)
    b = rec.one(aten.embedding_dense_backward)
    # Scatter-add 6*16 = 96 elements; the dense (1000, 16) gradient is written: 64000 B.
    assert (b.flops, b.bytes_written) == (96, 64000)


# ---- pointwise ----------------------------------------------------------------------------------------


def test_pointwise_compound_ops() -> None:
    x, y, z = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4)
    rec = run(
        lambda: (
            torch.addcmul(x, y, z, value=0.5),
            F.gelu(x, approximate="tanh"),
            F.gelu(x),
            torch.where(x > 0, y, z),
            x.add(y, alpha=2),
        )
    )
    # 12 elements: addcmul 3 each = 36; gelu tanh 9 each = 108; gelu erf 5 each = 60.
    assert rec.one(aten.addcmul).flops == 36
    assert [c.flops for c in rec.of(aten.gelu)] == [108, 60]
    # where selects (0), the comparison x > 0 counts 1 per element (12); add with alpha=2: 2 each = 24.
    assert rec.one(aten.where).flops == 0
    assert rec.one(aten.gt).flops == 12
    assert rec.one(aten.add).flops == 24


def test_in_place_ops_cost_like_their_functional_twin() -> None:
    # masked_fill_, eq_ and threshold_ carry only the `inplace` tag (their twins are tagged pointwise):
    # they must be costed like masked_fill, eq and threshold, not listed as uncounted.
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    mask = x > 0
    rec = run(
        lambda: (x.clone().masked_fill_(mask, 0.0), x.clone().eq_(y), F.threshold_(x.clone(), 0.0, 0.0))
    )
    assert rec.uncounted == set()
    fill = rec.one(aten.masked_fill_)
    # 12 elements selected, no arithmetic: 0 FLOPs; read self 48 B + mask 12 B (bool), write self 48 B.
    assert (fill.flops, fill.bytes_read, fill.bytes_written) == (0, 60, 48)
    assert rec.one(aten.eq_).flops == 12  # one comparison per element
    assert rec.one(aten.threshold_).flops == 12


def test_every_in_place_aten_op_whose_twin_has_a_formula_has_one() -> None:
    missing = []
    for name in dir(aten):
        if not name.endswith("_") or name.startswith("_") or not hasattr(aten, name[:-1]):
            continue
        packet, twin = getattr(aten, name), getattr(aten, name[:-1])
        for overload in packet.overloads():
            op = getattr(packet, overload)
            if torch.Tag.inplace not in op.tags or overload not in twin.overloads():
                continue
            if formula_for(getattr(twin, overload)) is not None and formula_for(op) is None:
                missing.append(str(op))
    assert missing == []


def test_memory_ops() -> None:
    x = torch.randn(4, 8)
    rec = run(
        lambda: (torch.empty(4, 8), torch.zeros(4, 8), x.clone(), torch.cat([x, x]), x.t().contiguous())
    )
    assert rec.one(aten.empty).bytes == 0  # allocation only
    assert (rec.one(aten.zeros).bytes_read, rec.one(aten.zeros).bytes_written) == (0, 128)
    assert (rec.one(aten.cat).bytes_read, rec.one(aten.cat).bytes_written) == (128, 256)
    assert all(c.flops == 0 for c in rec.of(aten.clone))


# ---- optimizers ---------------------------------------------------------------------------------------


def _adam_step(cls: type, **kw: Any) -> Record:
    torch.manual_seed(0)
    params = [torch.randn(4, 3, requires_grad=True), torch.randn(3, requires_grad=True)]
    for p in params:
        p.grad = torch.randn_like(p)
    opt = cls(params, **kw)
    return run(opt.step)


@pytest.mark.parametrize("impl", [{"foreach": False}, {"foreach": True}, {"fused": True}])
def test_adam_step(impl: dict) -> None:
    rec = _adam_step(torch.optim.Adam, **impl)
    assert rec.uncounted == set()
    # 15 parameter elements * 13 (lerp 3, mul + addcmul 4, sqrt/div/add 3, addcdiv 3) = 195,
    # plus one step-counter increment per parameter tensor: 2. Total 197 for every implementation.
    assert rec.flops == 197


@pytest.mark.parametrize("impl", [{"foreach": False}, {"foreach": True}, {"fused": True}])
def test_adamw_step(impl: dict) -> None:
    rec = _adam_step(torch.optim.AdamW, **impl)
    # AdamW's decoupled decay p *= 1 - lr*wd adds 1 per element: 15 * 14 + 2 = 212.
    assert rec.flops == 212


@pytest.mark.parametrize("impl", [{"foreach": False}, {"foreach": True}, {"fused": True}])
def test_sgd_momentum_steps(impl: dict) -> None:
    torch.manual_seed(0)
    params = [torch.randn(4, 3, requires_grad=True), torch.randn(3, requires_grad=True)]
    for p in params:
        p.grad = torch.randn_like(p)
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4, **impl)
    first, second = run(opt.step), run(opt.step)
    # Step 1: decay g + wd*p (2) + buffer = g (a copy, 0) + p - lr*g (2) = 4 per element: 15*4 = 60.
    # Step 2: decay 2 + buf = 0.9*buf + g (2) + update 2 = 6 per element: 90.
    assert (first.flops, second.flops) == (60, 90)


# ---- coverage: every op that real models dispatch has a formula -----------------------------------------


def _train_step(model: nn.Module, inputs: dict | tuple, opt_cls: type, **opt_kw: Any) -> Record:
    opt = opt_cls(model.parameters(), **opt_kw)

    def step() -> None:
        out = model(**inputs) if isinstance(inputs, dict) else model(*inputs)
        loss = out.loss if hasattr(out, "loss") and out.loss is not None else out.float().sum()
        loss.backward()
        opt.step()

    return run(step)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "vit_b_16", "swin_v2_t"])
@pytest.mark.parametrize("opt", ["sgd", "adamw"])
def test_coverage_torchvision(name: str, opt: str) -> None:
    import torchvision

    with torch.device("meta"):
        model = getattr(torchvision.models, name)()
        x = torch.empty(2, 3, 224, 224)
    opt_cls, kw = (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}) if opt == "sgd" else (torch.optim.AdamW, {})
    rec = _train_step(model, (x,), opt_cls, **kw)
    assert rec.uncounted == set()
    assert rec.flops > 0


def _gpt2(impl: str, device: str) -> nn.Module:
    import transformers

    cfg = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=128, n_positions=32)
    cfg._attn_implementation = impl
    with torch.device(device):
        return transformers.GPT2LMHeadModel(cfg)


def _bert(impl: str, device: str) -> nn.Module:
    import transformers

    cfg = transformers.BertConfig(
        num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128, vocab_size=128
    )
    cfg._attn_implementation = impl
    with torch.device(device):
        return transformers.BertForSequenceClassification(cfg)


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("opt", ["sgd", "adamw"])
def test_coverage_transformers(impl: str, device: str, opt: str) -> None:
    opt_cls, kw = (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}) if opt == "sgd" else (torch.optim.AdamW, {})
    ids = torch.randint(0, 128, (2, 16), device=device)
    gpt = _train_step(_gpt2(impl, device), {"input_ids": ids, "labels": ids}, opt_cls, **kw)
    assert gpt.uncounted == set()
    bert_inputs: dict[str, Any] = {
        "input_ids": ids,
        "labels": torch.zeros(2, dtype=torch.long, device=device),
    }
    if device == "cpu":  # a padding mask needs .item() on its values, which meta tensors lack
        bert_inputs["attention_mask"] = torch.ones_like(ids)
    bert = _train_step(_bert(impl, device), bert_inputs, opt_cls, **kw)
    assert bert.uncounted == set()


def test_coverage_fused_cpu_paths_in_eval() -> None:
    # nn.MultiheadAttention / TransformerEncoderLayer inference fast paths and CPU SDPA, on real tensors.
    layer = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), num_layers=2, enable_nested_tensor=False
    ).eval()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        rec = run(lambda: layer(x))
    assert rec.uncounted == set()
    assert rec.flops > 0
