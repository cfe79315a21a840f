"""Model sources: names, configs and factories turned into runnable workloads.

``build_workload("resnet50", InputSpec(batch=8))`` builds the model on ``meta`` (no memory, no download)
with everything needed to run it; see :mod:`nnperf.models.registry` for the lookup order of the sources
(built-ins, Hugging Face configs, config.json paths, user factories, then torchvision) and
:mod:`nnperf.models.inputs` for inputs and losses.
"""

from __future__ import annotations

from nnperf.models.inputs import DTYPES, InputSpec, Workload, parse_dtype, parse_shape
from nnperf.models.registry import ModelEntry, build_workload, list_models

__all__ = [
    "DTYPES",
    "InputSpec",
    "ModelEntry",
    "Workload",
    "build_workload",
    "list_models",
    "parse_dtype",
    "parse_shape",
]
