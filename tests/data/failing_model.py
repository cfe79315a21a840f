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
