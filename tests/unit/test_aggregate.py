from nnperf.records.static_profile import OpRecord
from nnperf.static import aggregate


def rec(module: str, flops: int | None, phase: str = "forward", op: str = "aten.mm.default") -> OpRecord:
    return OpRecord(op, module, phase, "matmul" if flops is not None else None, flops, 0, 10, 5, (), ())


def test_module_rollup_sums_to_totals_and_keeps_uncounted_apart() -> None:
    records = [
        rec("layer1.0.conv1", 100),
        rec("layer1.0.conv2", 50),
        rec("layer1.1", 7),
        rec("fc", 3),
        rec("fc", None, op="custom.op.default"),
        rec("", 1),
    ]
    total = aggregate.totals(records)
    assert total.flops == 161  # 100 + 50 + 7 + 3 + 1; the uncounted op adds nothing *and* is listed
    assert total.uncounted == 1
    assert aggregate.uncounted(records) == {"custom.op.default": 1}
    for depth in (0, 1, 2, 3):
        rows = aggregate.by_module(records, depth)
        assert sum(t.flops for t in rows.values()) == total.flops
        assert sum(t.bytes for t in rows.values()) == total.bytes == 6 * 15
    assert set(aggregate.by_module(records, 1)) == {("layer1", "forward"), ("fc", "forward"), ("", "forward")}


def test_truncate_path() -> None:
    assert aggregate.truncate_path("a.b.c", 2) == "a.b"
    assert aggregate.truncate_path("a", 3) == "a"
    assert aggregate.truncate_path("a.b", 0) == ""
