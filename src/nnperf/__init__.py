"""nnperf: how a deep-learning model performs and why.

The public API is small and lazy: ``import nnperf`` does not import torch until a function needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "bench", "machine_profile", "predict", "summary"]

if TYPE_CHECKING:
    from nnperf.analysis.generation_projection import GenerationProjection
    from nnperf.analysis.projection import Projection
    from nnperf.records.machine_profile import MachineProfile
    from nnperf.records.measurement import Measurement
    from nnperf.static.summary import StaticSummary


def summary(model: Any, **kwargs: Any) -> StaticSummary:
    """Static analysis of ``model`` (a name, a config path, a 'file.py:factory' or an ``nn.Module``).

    See :func:`nnperf.static.summary.summarize` for the arguments.
    """
    from nnperf.static.summary import summarize

    return summarize(model, **kwargs)


def machine_profile(**kwargs: Any) -> MachineProfile:
    """This machine's measured ceilings beside its nominal peaks (cached per machine).

    See :func:`nnperf.machine.profile.machine_profile` for the arguments (``refresh``, ``quick``, ``threads``).
    """
    from nnperf.machine.profile import machine_profile as _machine_profile

    return _machine_profile(**kwargs)


def predict(
    model: Any,
    on: str = "cpu",
    *,
    tf32: bool = False,
    prompt: int | None = None,
    generate: int | None = None,
    **kwargs: Any,
) -> Projection | GenerationProjection:
    """The static analysis of ``model`` timed at the roofs of each target in ``on`` (as ``nnperf predict --on``:
    "cpu", "gpu", a spec-sheet card such as "h100-sxm5-80gb", or a saved profile "FILE.json[:cpu|:gpu]").

    ``kwargs`` are :func:`summary`'s (``batch``, ``seq``, ``dtype``, ``mode``, ``context``, ...). With ``prompt``
    and ``generate`` (causal LMs) the whole generation is projected instead: the prefill of ``prompt`` tokens and
    one decode step per further token (``batch``, ``dtype`` and ``attn_implementation`` apply). "cpu" and "gpu"
    read this machine's cached profile, measuring a quick one when there is none.
    """
    from nnperf.analysis.projection import check_targets, project
    from nnperf.errors import UsageError
    from nnperf.machine.profile import machine_profile as _machine_profile
    from nnperf.machine.targets import parse_targets
    from nnperf.models.inputs import parse_dtype

    targets = parse_targets(on, lambda: _machine_profile(quick=True))
    # Before the analysis: a target without the pass's roof (the autocast dtype's, when there is one) fails fast.
    check_targets(targets, kwargs.get("autocast") or parse_dtype(kwargs.get("dtype", "fp32")), tf32=tf32)
    if prompt is None and generate is None:
        return project(summary(model, **kwargs), targets, tf32=tf32)
    if prompt is None or generate is None:
        raise UsageError("a generation needs both prompt= (its tokens) and generate= (tokens to generate)")
    from nnperf.analysis.generation_projection import project_generation
    from nnperf.static.generation import analyse_generation

    return project_generation(
        analyse_generation(model, prompt=prompt, generate=generate, **kwargs), targets, tf32=tf32
    )


def bench(model: Any, *, input: tuple[int, ...] | None = None, **kwargs: Any) -> Measurement:
    """Measure a real run of ``model`` (a name, a config path, 'file.py:factory' or an ``nn.Module``).

    Keyword arguments are :class:`nnperf.records.measurement.RunSpec` fields (``mode``, ``batch``, ``dtype``,
    ``compile``, ``data``, ``min_iters``, ...) and the options of :func:`nnperf.measure.bench.measure`
    (``perf``, ``profile``, ``trace_path``, ``predict``). Returns the Measurement, failed or not.
    """
    from dataclasses import fields

    from nnperf.measure.bench import measure
    from nnperf.records.measurement import RunSpec

    names = {f.name for f in fields(RunSpec)}
    spec_args = {k: v for k, v in kwargs.items() if k in names}
    options = {k: v for k, v in kwargs.items() if k not in names}
    module = None if isinstance(model, str) else model
    name = model if isinstance(model, str) else type(model).__name__
    return measure(RunSpec(model=name, **spec_args), module=module, input=input, **options)
