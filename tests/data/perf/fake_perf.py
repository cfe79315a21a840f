"""A stand-in for ``perf`` that answers the few ``perf stat`` calls nnperf makes, from a recorded CSV.

Configured through the environment (tests set it, then put a ``perf`` wrapper that runs this file on PATH):
  FAKE_PERF_FIXTURE     perf -x, output whose lines say what each event prints (keyed by event name)
  FAKE_PERF_CONTROL     "1": ``perf stat -h`` lists --control and the control FIFO protocol is served
  FAKE_PERF_PERMISSION  a file whose text is printed on stderr before exiting 255 (no permission)
Like the real perf: an event the fixture does not know is an "event syntax error" (exit 129) failing the
whole command; a probe (``-- cmd``) prints its counts on stderr; an attached session (``-p PID -o FILE``)
writes them to FILE when it gets SIGINT.
"""

from __future__ import annotations

import os
import select
import signal
import sys


def _fixture_lines() -> dict[str, str]:
    lines: dict[str, str] = {}
    with open(os.environ["FAKE_PERF_FIXTURE"]) as f:
        for line in f:
            fields = line.rstrip("\n").split(",")
            if len(fields) >= 3 and not line.startswith("#"):
                lines[fields[2].split(":")[0]] = line.rstrip("\n")
    return lines


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def main() -> int:
    args = sys.argv[1:]
    control = os.environ.get("FAKE_PERF_CONTROL") == "1"
    if args[:2] == ["stat", "-h"]:
        sys.stderr.write(
            " Usage: perf stat [<options>] [<command>]\n    -e, --event <event>   event selector\n"
        )
        if control:
            sys.stderr.write("        --control <fd:ctl-fd[,ack-fd] or fifo:ctl-fifo[,ack-fifo]>\n")
        return 129
    if os.environ.get("FAKE_PERF_PERMISSION"):
        with open(os.environ["FAKE_PERF_PERMISSION"]) as f:
            sys.stderr.write(f.read())
        return 255
    known = _fixture_lines()
    events = (_option(args, "-e") or "").split(",")
    for event in events:
        if event.split(":")[0] not in known:
            sys.stderr.write(f"event syntax error: '{event}'\n                     \\___ parser error\n")
            return 129
    text = "".join(known[e.split(":")[0]] + "\n" for e in events)
    if "--" in args:  # a probe: count a command, print on stderr
        sys.stderr.write(text)
        return 0
    out = _option(args, "-o")
    assert out is not None and "-p" in args

    def finish(_signum: int, _frame: object) -> None:
        with open(out, "w") as f:
            f.write("# started on Mon Jan  6 10:00:00 2025\n\n" + text)
        os._exit(0)

    signal.signal(signal.SIGINT, finish)
    spec = _option(args, "--control")
    if spec is None:
        while True:
            signal.pause()
    ctl_path, ack_path = spec.removeprefix("fifo:").split(",")
    # perf opens both FIFOs read-write so that neither open blocks; so does this stand-in.
    ctl = os.open(ctl_path, os.O_RDWR)
    ack = os.open(ack_path, os.O_RDWR)
    while True:
        ready, _, _ = select.select([ctl], [], [], 1.0)
        if ready:
            for word in os.read(ctl, 256).decode().split():
                if word in ("enable", "disable"):
                    os.write(ack, b"ack\n")


if __name__ == "__main__":
    raise SystemExit(main())
