"""Cost formulas, one module per op family. Importing this package registers them all."""

from nnperf.static.formulas import (  # noqa: F401
    attention,
    conv,
    embedding,
    losses,
    matmul,
    memory_ops,
    norm,
    optimizer,
    pointwise,
    pooling,
    reduction,
)
