"""Backward ops are attributed to the module whose forward created their autograd node."""

from __future__ import annotations

import nnperf


def test_resnet_downsample_block_backward_attribution() -> None:
    s = nnperf.summary("resnet18", batch=1, input="3x64x64", mode="train")
    conv_bw = {
        r.module: r.shapes[2]  # the weight's shape
        for r in s.profile.train_ops
        if r.phase == "backward"
        and r.op.startswith("aten.convolution_backward")
        and r.module.startswith("layer4.0")
    }
    # In layer4.0 the shortcut (downsample.0, 1x1 conv) and the main branch (conv1, conv2, 3x3) each get their
    # own backward; grad-hook scoping credited all three to the shortcut, whose input grads finish last.
    assert conv_bw == {
        "layer4.0.conv1": (512, 256, 3, 3),
        "layer4.0.conv2": (512, 512, 3, 3),
        "layer4.0.downsample.0": (512, 256, 1, 1),
    }
    # Every module's backward FLOPs are about twice its forward FLOPs for convolutions (input and weight grads;
    # conv1 of the model needs no input grad, so it has about one forward's worth).
    fwd = {r.module: r.flops for r in s.profile.train_ops if r.phase == "forward" and "convolution" in r.op}
    bwd = {
        r.module: r.flops
        for r in s.profile.train_ops
        if r.phase == "backward" and "convolution_backward" in r.op
    }
    for module, flops in fwd.items():
        expected = 1 if module == "conv1" else 2
        assert abs(bwd[module] / flops - expected) < 0.05, (module, bwd[module] / flops)
