"""Argument types shared by the commands (argparse ``type=`` callables: errors become one-line usage errors)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def add_cache_arg(p: argparse.ArgumentParser) -> None:
    """``--cache static|dynamic``: the KV cache a decode step (or a generation) runs with."""
    p.add_argument(
        "--cache",
        choices=("static", "dynamic"),
        help="KV cache with --context (default static: preallocated, written in place) or with --generate "
        "(default dynamic, as generate(): each step copies the cache to append to it)",
    )


def add_context_arg(p: argparse.ArgumentParser) -> None:
    """``--context N``: one decode step of a causal LM with N tokens in its KV cache."""
    p.add_argument(
        "--context",
        type=positive_int,
        help="tokens already in the KV cache: one decode step of a causal LM instead "
        "(--seq new tokens, default 1; inference only)",
    )
