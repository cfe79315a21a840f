"""Data sources of `nnperf bench`: real JPEG files, a real DataLoader with worker processes, token batches."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import psutil
import pytest
import torch
from PIL import Image
from torch import nn

from nnperf.errors import UsageError
from nnperf.measure.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BatchSource,
    image_folder_source,
    synthetic_source,
    token_source,
    write_image_folder,
)
from nnperf.models.inputs import InputSpec, TensorWorkload, TokenInputs, TokenWorkload

CPU = torch.device("cpu")


class TinyConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean(dim=(2, 3)))


class TinyLM(nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, 8)

    def forward(self, input_ids: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        return self.emb(input_ids)


def vision_workload(batch: int = 4, sample_shape: tuple[int, ...] = (3, 64, 64)) -> TensorWorkload:
    spec = InputSpec(batch=batch, sample_shape=sample_shape)
    return TensorWorkload(name="tiny-cnn", source="test", family="vision", model=TinyConvNet(), spec=spec)


def token_workload(encoder_decoder: bool, vocab: int = 50) -> TokenWorkload:
    return TokenWorkload(
        name="t5-like" if encoder_decoder else "gpt2-like",
        source="test",
        family="seq2seq-lm" if encoder_decoder else "causal-lm",
        model=TinyLM(vocab),
        spec=InputSpec(batch=2, seq=16),
        tokens=TokenInputs(vocab_size=vocab, encoder_decoder=encoder_decoder),
    )


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.jpg"))
    }


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 classes x 6 small JPEGs: with batch 4 an epoch is 3 batches (12 // 4)."""
    return write_image_folder(
        tmp_path_factory.mktemp("imgs"), classes=2, images_per_class=6, size=(96, 80), seed=3
    )


# ---- write_image_folder --------------------------------------------------------------------------


def test_written_files_are_real_jpegs_of_varied_sizes(folder: Path) -> None:
    assert folder.name == "train"
    files = sorted(folder.rglob("*.jpg"))
    assert [p.relative_to(folder).as_posix() for p in files[:2]] == [
        "class_000/img_00000.jpg",
        "class_000/img_00001.jpg",
    ]
    assert len(files) == 2 * 6
    sizes = set()
    for p in files:
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.mode == "RGB"
            w, h = im.size
            # each side is the requested one times a factor in [0.8, 1.2]: 96 -> [77, 115], 80 -> [64, 96]
            assert 77 <= w <= 115 and 64 <= h <= 96
            sizes.add(im.size)
            # texture, not a flat colour: pixel values spread widely in every channel
            assert all(hi - lo > 40 for lo, hi in im.getextrema())
    assert len(sizes) > 1


def test_writing_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    a = write_image_folder(tmp_path / "a", classes=2, images_per_class=3, size=(64, 48), seed=7)
    b = write_image_folder(tmp_path / "b", classes=2, images_per_class=3, size=(64, 48), seed=7)
    c = write_image_folder(tmp_path / "c", classes=2, images_per_class=3, size=(64, 48), seed=8)
    assert digests(a) == digests(b)
    assert digests(a).keys() == digests(c).keys() and digests(a) != digests(c)

    stamps = {p: p.stat().st_mtime_ns for p in a.rglob("*.jpg")}
    inodes = {p: p.stat().st_ino for p in a.rglob("*.jpg")}
    assert write_image_folder(tmp_path / "a", classes=2, images_per_class=3, size=(64, 48), seed=7) == a
    assert {p: p.stat().st_mtime_ns for p in a.rglob("*.jpg")} == stamps
    assert {p: p.stat().st_ino for p in a.rglob("*.jpg")} == inodes

    # Fewer images asked for: the extra ones of the scheme go, a user's own file stays.
    (a / "class_001" / "mine.jpg").write_bytes(b"not ours")
    write_image_folder(tmp_path / "a", classes=1, images_per_class=2, size=(64, 48), seed=7)
    left = sorted(p.relative_to(a).as_posix() for p in a.rglob("*.jpg"))
    assert left == ["class_000/img_00000.jpg", "class_000/img_00001.jpg", "class_001/mine.jpg"]


def test_write_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="classes 0"):
        write_image_folder(tmp_path, classes=0)
    with pytest.raises(UsageError, match="image size"):
        write_image_folder(tmp_path, size=(4, 4))


# ---- image_folder_source -------------------------------------------------------------------------


def assert_imagenet_normalised(x: torch.Tensor) -> None:
    """Undo Normalize(IMAGENET_MEAN, IMAGENET_STD): pixels must come back as k/255 with k in 0..255.

    ToTensor divides uint8 pixels by 255, and PIL's crop+resize keeps uint8, so x * std + mean is exactly a
    multiple of 1/255 in [0, 1] (to float32 rounding). Without the normalisation, or with other constants,
    the values would not land on that grid. Range: (0 - 0.485) / 0.229 = -2.118 ... (1 - 0.406) / 0.225 = 2.640.
    """
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    levels = (x.float() * std + mean) * 255
    assert levels.min() > -1e-3 and levels.max() < 255 + 1e-3
    assert (levels - levels.round()).abs().max() < 1e-3
    assert x.min() >= -2.1180 and x.max() <= 2.6401


def test_in_process_pipeline_shapes_normalisation_and_epochs(folder: Path) -> None:
    wl = vision_workload()
    rng_before = torch.get_rng_state()
    src = image_folder_source(folder.parent, wl, CPU, crop=64)  # the root holding train/ is accepted
    assert isinstance(src, BatchSource) and src.on_device is False
    assert str(folder) in src.description and "12 images" in src.description
    it = src.batches()
    # 7 batches: more than two epochs of 3, so the epoch restart happens twice
    got = [next(it) for _ in range(7)]
    for args, kwargs in got:
        assert kwargs == {} and len(args) == 1
        (x,) = args
        assert x.shape == (4, 3, 64, 64) and x.dtype == torch.float32 and x.device.type == "cpu"
        assert x.is_contiguous()
        assert_imagenet_normalised(x)
    src.close()
    src.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        src.batches()
    # The random crops drew from nnperf's own seeded stream, not the caller's global RNG.
    assert torch.equal(torch.get_rng_state(), rng_before)
    # The batch feeds the model and its loss (which draws random targets), forward and backward.
    out = wl.model(*got[0][0])
    wl.loss(out, got[0]).backward()

    # The same seed gives the same batches; another seed other ones.
    again = image_folder_source(folder, wl, CPU, crop=64)
    other = image_folder_source(folder, wl, CPU, crop=64, seed=1)
    first_again = next(again.batches())[0][0]
    assert torch.equal(first_again, got[0][0][0])
    assert not torch.equal(next(other.batches())[0][0], first_again)
    again.close()
    other.close()


def test_crop_defaults_to_the_workload_input_and_dtype_channels_last(folder: Path) -> None:
    wl = vision_workload(batch=2, sample_shape=(3, 40, 56))  # not square: H=40, W=56
    src = image_folder_source(folder, wl, CPU, dtype=torch.bfloat16, channels_last=True)
    (x,), _ = next(src.batches())
    src.close()
    assert x.shape == (2, 3, 40, 56) and x.dtype == torch.bfloat16
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert "channels_last" in src.description and "bfloat16" in src.description


def descendants() -> set[int]:
    return {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}


def test_worker_processes_load_batches_and_close_ends_them(folder: Path) -> None:
    wl = vision_workload()
    before = descendants()
    src = image_folder_source(folder, wl, CPU, workers=2, crop=64)
    assert "2 workers" in src.description
    it = src.batches()
    batches = [next(it)[0][0] for _ in range(5)]  # crosses an epoch boundary (3 batches an epoch)
    for x in batches:
        assert x.shape == (4, 3, 64, 64) and x.dtype == torch.float32
        assert_imagenet_normalised(x)
    started = descendants() - before
    # The workers are real processes (a start method may add a long-lived helper such as a forkserver).
    assert len(started) >= 2
    src.close()
    _gone, alive = psutil.wait_procs([psutil.Process(p) for p in started if psutil.pid_exists(p)], timeout=10)
    assert len(started) - len(alive) >= 2, "close() left the DataLoader workers running"
    with pytest.raises(StopIteration):
        next(it)  # the harness's iterator ends with the source

    # Worker processes are seeded from the source's seed: a second source repeats the first batches.
    again = image_folder_source(folder, wl, CPU, workers=2, crop=64)
    try:
        it2 = again.batches()
        for x in batches[:2]:
            assert torch.equal(next(it2)[0][0], x)
    finally:
        again.close()


def test_image_folder_errors_name_the_path(tmp_path: Path, folder: Path) -> None:
    wl = vision_workload()
    missing = tmp_path / "nope"
    with pytest.raises(UsageError, match=f"{missing} does not exist"):
        image_folder_source(missing, wl, CPU)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match=f"{empty} is not an ImageFolder") as e:
        image_folder_source(empty, wl, CPU)
    assert "\n" not in str(e.value)

    no_images = tmp_path / "no_images"
    (no_images / "cat").mkdir(parents=True)
    (no_images / "cat" / "notes.txt").write_text("no image here")
    with pytest.raises(UsageError, match=f"{no_images} is not an ImageFolder"):
        image_folder_source(no_images, wl, CPU)

    few = write_image_folder(tmp_path / "few", classes=1, images_per_class=3, size=(32, 32))
    with pytest.raises(UsageError, match=f"{few} holds 3 images, fewer than one batch of 4"):
        image_folder_source(few, wl, CPU)

    with pytest.raises(UsageError, match="not RGB images"):
        image_folder_source(folder, token_workload(False), CPU)
    with pytest.raises(UsageError, match="workers -1"):
        image_folder_source(folder, wl, CPU, workers=-1)


# ---- token_source --------------------------------------------------------------------------------


@pytest.mark.parametrize("encoder_decoder", [False, True], ids=["gpt2-like", "t5-like"])
@pytest.mark.parametrize("train", [False, True], ids=["inference", "train"])
def test_token_batches_match_make_inputs(encoder_decoder: bool, train: bool) -> None:
    wl = token_workload(encoder_decoder)
    src = token_source(wl, CPU, train)
    assert src.on_device is False and "2x16" in src.description
    _, expected = wl.make_inputs("meta", train)
    it = src.batches()
    for _ in range(3):
        args, kwargs = next(it)
        assert args == ()
        assert list(kwargs) == list(expected)  # same keys, same order as make_inputs
        for key, t in kwargs.items():
            assert t.shape == (2, 16) and t.dtype == torch.int64 and t.device.type == "cpu", key
            assert int(t.min()) >= 0 and int(t.max()) < 50
        if train:
            assert kwargs["labels"] is kwargs["input_ids"]
        wl.model(**kwargs)
    src.close()


def test_token_batches_through_workers_and_close(tmp_path: Path) -> None:
    wl = token_workload(True)
    before = descendants()
    src = token_source(wl, CPU, True, workers=2, seed=5)
    it = src.batches()
    # 64 batches an epoch: 70 crosses into the second
    got = [next(it)[1] for _ in range(70)]
    assert all(k["input_ids"].shape == (2, 16) for k in got)
    # random ids, not a constant batch
    assert not torch.equal(got[0]["input_ids"], got[1]["input_ids"])
    assert not torch.equal(got[0]["input_ids"], got[0]["decoder_input_ids"])
    started = descendants() - before
    assert len(started) >= 2
    src.close()
    _gone, alive = psutil.wait_procs([psutil.Process(p) for p in started if psutil.pid_exists(p)], timeout=10)
    assert len(started) - len(alive) >= 2


def test_token_source_rejects_a_tensor_model() -> None:
    with pytest.raises(UsageError, match="not token ids"):
        token_source(vision_workload(), CPU, False)


# ---- synthetic_source ----------------------------------------------------------------------------


def test_synthetic_source_yields_the_same_tensors() -> None:
    wl = vision_workload(batch=2, sample_shape=(3, 8, 8))
    src = synthetic_source(wl, CPU, train=True)
    assert isinstance(src, BatchSource) and src.on_device is True
    assert src.description == "synthetic 2x3x8x8 float32 on cpu"
    it = src.batches()
    (a,), _ = next(it)
    (b,), _ = next(it)
    assert a is b and a.shape == (2, 3, 8, 8)

    tok = synthetic_source(token_workload(True), CPU, train=True)
    _, k1 = next(tok.batches())
    _, k2 = next(tok.batches())
    assert k1["input_ids"] is k2["input_ids"] and list(k1) == ["input_ids", "decoder_input_ids", "labels"]
    src.close()
    tok.close()
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(ValueError, match="closed"):
        src.batches()
