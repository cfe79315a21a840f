"""``nnperf roofline --ncu RECORD``: the hierarchical roofline of a recorded Nsight Compute run.

Thin: load the ``ncu_comparison.json`` of ``nnperf bench MODEL --device cuda --ncu`` (or its folder), the GPU's
roofs (``--machine``, a profile measured on that GPU, else the spec sheet), then print the table and write
the chart. Runs anywhere: the record holds everything measured on the GPU.
"""

from __future__ import annotations

import argparse
import sys


def add_hierarchical_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ncu",
        dest="ncu_record",
        metavar="RECORD",
        help="no MODEL: the hierarchical roofline (one intensity per L1/L2/HBM level) of the "
        "ncu_comparison.json written by `nnperf bench MODEL --device cuda --ncu`",
    )


def run_hierarchical(args: argparse.Namespace) -> int:
    from nnperf.analysis.roofline import gpu_ceilings
    from nnperf.analysis.roofline_hierarchical import hierarchical_roofline, load_ncu_comparison
    from nnperf.errors import UsageError
    from nnperf.report.hierarchical_view import CHART_SUFFIXES, hierarchical_table, write_hierarchical_chart

    for option, what in {
        "model": "MODEL",
        "measure": "--measure",
        "run_record": "--run",
        "kernels": "--kernels",
    }.items():
        if getattr(args, option, None):
            raise UsageError(f"--ncu places a recorded GPU run: drop {what} (or drop --ncu)")
    output = getattr(args, "output", None)
    if output and not output.lower().endswith(CHART_SUFFIXES):
        raise UsageError(
            f"unknown chart format for {output!r}: use a file name ending in {', '.join(CHART_SUFFIXES)}"
        )
    record = load_ncu_comparison(args.ncu_record)
    profile = None
    if getattr(args, "machine", None):
        from nnperf.machine.profile import load_profile

        profile = load_profile(args.machine)
    dtype = args.dtype or str(record.get("dtype") or "fp32")  # no --dtype: the recorded run's
    result = hierarchical_roofline(record, gpu_ceilings(str(record.get("gpu") or ""), profile), dtype)
    print(hierarchical_table(result))
    if output:
        path = write_hierarchical_chart(result, output)
        print(f"chart written to {path}", file=sys.stderr)
    return 0
