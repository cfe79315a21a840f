"""Models that fail on purpose, for the CLI's failure tests (loaded as file.py:factory)."""

import torch


class _Huge(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + torch.empty(2**50, dtype=torch.uint8).sum()  # a petabyte: the allocator refuses


def huge() -> torch.nn.Module:
    return _Huge()


class _Sleepy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import time

        if x.device.type != "meta":  # the static analysis passes; the real step hangs
            time.sleep(3600)  # only the case's timeout ends it
        return self.fc(x)


class _Crash(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import os
        import signal

        if x.device.type != "meta":  # the static analysis on meta tensors passes; the real run crashes
            os.kill(os.getpid(), signal.SIGSEGV)  # what a crashing native kernel does to the process
        return self.fc(x)


def sleepy() -> torch.nn.Module:
    return _Sleepy()


def crash() -> torch.nn.Module:
    return _Crash()
