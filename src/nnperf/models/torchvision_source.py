"""Every torchvision classification model, by name, built with ``weights=None`` (nothing downloaded).

Each model is built as its default weights define it, so its parameter count is the published
``meta["num_params"]`` of ``get_model_weights(name).DEFAULT`` and its default input is that weights'
evaluation crop (``inception_v3`` -> 3x299x299, ``efficientnet_b7`` -> 3x600x600). Where loading the
default weights changes the architecture, the builder is told so explicitly (``_WEIGHTS_KWARGS``):

* ``googlenet``: the published weights drop the auxiliary heads (6,624,904 params, not 13,004,888);
* ``inception_v3``: the published weights keep ``AuxLogits`` (27,161,264 params, as published). In
  training mode the model returns ``InceptionOutputs(logits, aux_logits)``; the loss uses the main logits;
* both feed the input through ``transform_input`` as the weights expect;
* vision transformers are built for the weights' image size (``vit_h_14``'s default weights are the
  518x518 SWAG ones, and the position embedding grows with the image).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from nnperf.models.inputs import InputSpec, TensorWorkload, Workload
from nnperf.models.registry import ModelEntry, build_module

__all__ = ["TorchvisionSource", "default_sample_shape", "published_num_params"]

_DEFAULT_CROP = 224

_VIT_KWARGS: Callable[[Any], dict[str, Any]] = lambda w: {"image_size": w.meta["min_size"][0]}  # noqa: E731

# name -> kwargs for the builder, given the default weights enum member.
_WEIGHTS_KWARGS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "googlenet": lambda w: {"aux_logits": False, "transform_input": True, "init_weights": True},
    "inception_v3": lambda w: {"aux_logits": True, "transform_input": True, "init_weights": True},
    "vit_b_16": _VIT_KWARGS,
    "vit_b_32": _VIT_KWARGS,
    "vit_l_16": _VIT_KWARGS,
    "vit_l_32": _VIT_KWARGS,
    "vit_h_14": _VIT_KWARGS,
}


@functools.cache
def _names() -> tuple[str, ...]:
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


def _default_weights(name: str) -> Any:
    import torchvision

    return torchvision.models.get_model_weights(name).DEFAULT


def default_sample_shape(name: str) -> tuple[int, int, int]:
    """3 x crop x crop, the crop read from the default weights' transforms (no download), else 224."""
    transforms = _default_weights(name).transforms
    crop = getattr(transforms, "keywords", {}).get("crop_size", _DEFAULT_CROP)
    if isinstance(crop, (list, tuple)):
        crop = crop[0]
    return (3, int(crop), int(crop))


def published_num_params(name: str) -> int:
    """``meta["num_params"]`` of the default weights: the independent reference for parameter counts."""
    return int(_default_weights(name).meta["num_params"])


class TorchvisionSource:
    name = "torchvision"

    def entries(self) -> list[ModelEntry]:
        out = []
        for n in _names():
            c = default_sample_shape(n)[1]
            desc = f"torchvision classifier, {published_num_params(n) / 1e6:.1f}M params, input 3x{c}x{c}"
            out.append(ModelEntry(n, self.name, "vision", desc))
        return out

    def claims(self, model: str) -> bool:
        return model.lower() in _names()

    def build(self, model: str, spec: InputSpec, device: torch.device) -> Workload:
        import torchvision

        name = model.lower()
        weights = _default_weights(name)
        kwargs = _WEIGHTS_KWARGS.get(name, lambda w: {})(weights)

        def factory() -> torch.nn.Module:
            with warnings.catch_warnings():
                # torchvision's notices about future init defaults; we pass what we mean.
                warnings.simplefilter("ignore", FutureWarning)
                return torchvision.models.get_model(name, weights=None, **kwargs)

        module = build_module(factory, device, spec.torch_dtype)
        if spec.sample_shape is None:
            spec = replace(spec, sample_shape=default_sample_shape(name))
        return TensorWorkload(name=name, source=self.name, family="vision", model=module, spec=spec)
