"""``nnperf roofline --kernels``: the calibration chart, kernels of known intensity measured on this machine.

Thin: check the options, load the roofs (the ``--machine`` profile, else this machine's cached one, else a
quick measurement), measure the kernels with :func:`nnperf.analysis.calibration.calibration_points`, print
the table and write the chart.
"""

from __future__ import annotations

import argparse
import sys


def add_kernels_args(parser: argparse.ArgumentParser) -> None:
    """The options ``--kernels`` adds to ``nnperf roofline`` (which already has --machine, --dtype,
    --memory-level and --output)."""
    parser.add_argument(
        "--kernels",
        action="store_true",
        help="no MODEL: measure calibration kernels of known intensity on this machine (axpy, 7-point "
        "stencil, GEMM at several sizes, STREAM triad) and place them under its roofs (~10 s)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="with --kernels: the quick protocol, smaller GEMM sizes and a 128^3 stencil grid (~2 s)",
    )


def run_kernels(args: argparse.Namespace) -> int:
    """Measure the calibration kernels, print their roofline table, write the chart if ``--output``."""
    from nnperf.analysis.calibration import calibration_points
    from nnperf.analysis.roofline import ceilings_from_profile
    from nnperf.analysis.roofline_points import MEMORY_LEVELS, select_roofs
    from nnperf.errors import UsageError
    from nnperf.machine.gemm import CPU_DTYPES
    from nnperf.report.roofline_chart import CHART_SUFFIXES, roofline_table, write_chart

    # Cheap checks first: a typo must not cost a machine measurement.
    conflicts = {
        "model": f"the model {getattr(args, 'model', None)!r}",
        "measure": "--measure",
        "run_record": "--run",
    }
    for option, what in conflicts.items():
        if getattr(args, option, None):
            raise UsageError(
                f"--kernels measures its own kernels: drop {what} (or drop --kernels to place a model)"
            )
    dtype = getattr(args, "dtype", None) or "fp32"
    memory_level = getattr(args, "memory_level", None) or "dram"
    output = getattr(args, "output", None)
    if dtype not in CPU_DTYPES:
        raise UsageError(
            f"--kernels runs its GEMM on the CPU: --dtype must be one of {', '.join(CPU_DTYPES)}"
        )
    if memory_level not in MEMORY_LEVELS:
        raise UsageError(f"unknown memory level {memory_level!r}: use one of {', '.join(MEMORY_LEVELS)}")
    if output and not output.lower().endswith(CHART_SUFFIXES):
        raise UsageError(
            f"unknown chart format for {output!r}: use a file name ending in {', '.join(CHART_SUFFIXES)}"
        )
    from nnperf.cli.main import _roofline_profile  # the roofline command's own choice of profile

    profile = _roofline_profile(getattr(args, "machine", None))
    ceilings = ceilings_from_profile(profile)
    select_roofs(ceilings, dtype, memory_level)  # a missing roof fails before the measurement
    quick = bool(getattr(args, "quick", False))
    # Time the kernels as the roofs were timed (rates are from the fastest sample, and more samples find a
    # faster one), unless --quick asks for speed.
    roofs_mode = getattr(profile, "mode", None)
    protocol = "quick" if quick or roofs_mode == "quick" else "full"
    print(
        f"nnperf: measuring the calibration kernels on this machine (about {2 if quick else 10} s)",
        file=sys.stderr,
    )
    points = calibration_points(
        ceilings,
        dtype=dtype,
        memory_level=memory_level,
        quick=quick,
        protocol=protocol,
        progress=lambda label: print(f"nnperf:   {label}", file=sys.stderr, flush=True),
    )
    foreign = _foreign_profile(profile)
    if foreign:
        points.notes.insert(0, foreign)
    if roofs_mode in ("quick", "full") and roofs_mode != protocol:
        points.notes.append(
            f"the kernels were timed by the {protocol} protocol, the roofs by the {roofs_mode} one (fewer "
            "samples find a slower fastest one): a kernel may sit a few % off its roof"
        )
    print(roofline_table(points))
    if output:
        path = write_chart(points, output)
        print(f"chart written to {path}", file=sys.stderr)
    return 0


def _foreign_profile(profile: object) -> str | None:
    """A note when the roofs are another machine's: the kernels always run on this one."""
    from nnperf.machine.probes import collect_probes, fingerprint

    theirs = getattr(profile, "fingerprint", None)
    ours = fingerprint(collect_probes())
    if theirs is None or theirs == ours:
        return None
    return (
        f"the roofs are from machine profile {theirs}, the kernels ran on this machine ({ours}): the "
        "efficiencies compare two machines"
    )
