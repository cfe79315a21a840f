"""The data a measured model is fed: synthetic tensors already on the device, or a real input pipeline.

Three sources, one interface (:class:`BatchSource`): an endless iterator of ``(args, kwargs)`` ready for
``model(*args, **kwargs)`` on the device, and a ``close()`` that stops worker processes.

* :func:`synthetic_source` -- one batch made once on the device and yielded forever: the step then times
  compute only (the data cost is ~0, as in most published throughput figures).
* :func:`image_folder_source` -- an ImageNet-style pipeline as in the PyTorch ImageNet example: real image
  files decoded by PIL, ``RandomResizedCrop`` / flip / normalize, a ``DataLoader`` with worker processes and
  pinned memory, and the host-to-device copy. :func:`write_image_folder` writes a small folder of generated
  JPEGs for tests and demos; a real ImageNet directory works the same way.
* :func:`token_source` -- token batches for language models through a ``DataLoader``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from nnperf.errors import UsageError

if TYPE_CHECKING:
    from nnperf.models.inputs import Workload

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BatchSource",
    "image_folder_source",
    "synthetic_source",
    "token_source",
    "write_image_folder",
]

#: Per-channel (R, G, B) mean and standard deviation of ImageNet pixels in [0, 1], as torchvision's models
#: and the PyTorch ImageNet example normalise with.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# The file that records how write_image_folder wrote a folder; written last, so its presence means the
# folder is complete. It lives beside train/, not in it, so ImageFolder never sees it.
_MANIFEST = "nnperf-imagefolder.json"
_MANIFEST_FORMAT = 1
_CLASS_DIR = re.compile(r"class_\d{3}")
_IMAGE_FILE = re.compile(r"img_\d{5}\.jpg")
_MAX_CLASSES = 1000  # class_XXX
_MAX_IMAGES_PER_CLASS = 100_000  # img_XXXXX.jpg
# Each image's width and height are the requested size times a factor drawn from this range, so crops and
# resizes differ from image to image as they do on ImageNet.
_SIZE_JITTER = (0.8, 1.2)

# One "epoch" of the token dataset: batches between DataLoader restarts. The samples are generated on
# demand, so this costs no memory; it only bounds how often the (cheap) epoch restart happens.
_TOKEN_EPOCH_BATCHES = 64


@runtime_checkable
class BatchSource(Protocol):
    """What the measurement harness iterates: batches on the device, and a way to stop the workers."""

    #: The data in a few words, e.g. ``"synthetic 16x3x224x224 float32 on cpu"``.
    description: str
    #: True when the batches already live on the device (no pipeline, no host-to-device copy per step).
    on_device: bool

    def batches(self) -> Iterator[tuple[tuple, dict]]:
        """An endless iterator of ``(args, kwargs)`` for ``model(*args, **kwargs)``, on the device."""
        ...

    def close(self) -> None:
        """Stop worker processes and drop the data; idempotent. ``batches()`` raises afterwards."""
        ...


# --------------------------------------------------------------------------------------------------
# A folder of generated JPEGs.


def write_image_folder(
    root: str | Path,
    *,
    classes: int = 4,
    images_per_class: int = 16,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    quality: int = 90,
) -> Path:
    """Write ``root/train/class_XXX/img_XXXXX.jpg``: real JPEG files for an ImageFolder pipeline.

    ``size`` is ``(width, height)`` as PIL counts; each image's sides are that times a factor in
    [0.8, 1.2] drawn per image. The content is a colour gradient with ripples and pixel noise, drawn from
    ``seed``, so the same arguments always give the same bytes, and decoding costs about what a photo of
    that size costs (a flat colour would compress to almost nothing and decode far faster).

    Idempotent: a folder already written with the same arguments (recorded in ``root/nnperf-imagefolder
    .json``, written last) is left untouched. Otherwise every image is (re)written, each file atomically,
    and images of this naming scheme beyond the requested counts are removed, so the folder holds exactly
    ``classes * images_per_class`` of them. Returns ``root/"train"``, the folder ImageFolder reads.
    """
    _check_int("classes", classes, 1, _MAX_CLASSES)
    _check_int("images_per_class", images_per_class, 1, _MAX_IMAGES_PER_CLASS - 1)
    _check_int("seed", seed, 0, 2**63 - 1)
    _check_int("quality", quality, 1, 100)
    try:
        width, height = (int(s) for s in size)
    except (TypeError, ValueError):
        raise UsageError(f"image size {size!r} must be (width, height), e.g. (320, 240)") from None
    if width < 8 or height < 8:
        raise UsageError(f"image size {size!r} is too small: use at least (8, 8), e.g. (320, 240)")

    root = Path(root).expanduser()
    train = root / "train"
    manifest = {
        "format": _MANIFEST_FORMAT,
        "classes": classes,
        "images_per_class": images_per_class,
        "size": [width, height],
        "seed": seed,
        "quality": quality,
    }
    expected = {
        train / f"class_{c:03d}" / f"img_{i:05d}.jpg" for c in range(classes) for i in range(images_per_class)
    }
    if _read_manifest(root / _MANIFEST) == manifest and all(p.is_file() for p in expected):
        return train

    from PIL import Image

    # Drop the manifest first: a crash part-way then leaves no claim that the folder is complete.
    (root / _MANIFEST).unlink(missing_ok=True)
    _remove_stale_images(train, expected)
    for c in range(classes):
        class_dir = train / f"class_{c:03d}"
        class_dir.mkdir(parents=True, exist_ok=True)
        palette = np.random.default_rng([seed, 0, c]).uniform(0.0, 255.0, size=(2, 3))
        for i in range(images_per_class):
            rng = np.random.default_rng([seed, 1, c, i])
            pixels = _render(rng, width, height, palette)
            _atomic_write(
                class_dir / f"img_{i:05d}.jpg",
                lambda tmp, px=pixels: Image.fromarray(px, "RGB").save(tmp, format="JPEG", quality=quality),
            )
    _atomic_write(root / _MANIFEST, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1) + "\n"))
    return train


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"{name} {value!r} must be an integer in [{low}, {high}]")


def _read_manifest(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _remove_stale_images(train: Path, expected: set[Path]) -> None:
    """Remove this scheme's images (and emptied class folders) that the requested counts do not include.

    Only names this function writes are touched, so files a user put in the folder survive.
    """
    if not train.is_dir():
        return
    for class_dir in train.iterdir():
        if not (class_dir.is_dir() and _CLASS_DIR.fullmatch(class_dir.name)):
            continue
        for f in class_dir.iterdir():
            if _IMAGE_FILE.fullmatch(f.name) and f not in expected:
                f.unlink()
        if not any(class_dir.iterdir()):
            class_dir.rmdir()


def _render(rng: np.random.Generator, width: int, height: int, palette: np.ndarray) -> np.ndarray:
    """An RGB ``uint8`` array of about ``height x width``: gradient between the class colours + texture."""
    w = max(8, round(width * rng.uniform(*_SIZE_JITTER)))
    h = max(8, round(height * rng.uniform(*_SIZE_JITTER)))
    # Column (1 x w) and row (h x 1) coordinates: every term below is built from them by broadcasting, so
    # an image costs a few full-size array operations.
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    angle = rng.uniform(0.0, 2.0 * np.pi)
    t = np.float32(np.cos(angle)) * x + np.float32(np.sin(angle)) * y
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    # The class colours, jittered per image so images of a class differ in more than texture.
    c0, c1 = (palette + rng.normal(0.0, 20.0, size=palette.shape)).astype(np.float32)
    img = c0 + t[..., None] * (c1 - c0)
    # Ripples at a few scales give the JPEG encoder low- and mid-frequency detail to keep.
    # sin(a + b) = sin(a)cos(b) + cos(a)sin(b) splits each plane wave into a row and a column factor.
    for _ in range(3):
        fx, fy = rng.uniform(1.0, 12.0, size=2)
        amp = rng.uniform(5.0, 30.0, size=3).astype(np.float32)
        ax = (2.0 * np.pi * fx * x + rng.uniform(0.0, 2.0 * np.pi)).astype(np.float32)
        by = (2.0 * np.pi * fy * y).astype(np.float32)
        wave = np.sin(ax) * np.cos(by) + np.cos(ax) * np.sin(by)
        img += wave[..., None] * amp
    # Pixel noise, like a camera sensor's: JPEG cannot flatten it, so the file (and its decoding) costs like
    # a photo's rather than a flat colour's.
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(8.0)
    return np.clip(img, 0.0, 255.0, out=img).astype(np.uint8)


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    # The temporary name does not end in an image extension, so a concurrent ImageFolder scan skips it.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------
# Sources.


class _SyntheticSource:
    """One batch, made once on the device, yielded forever."""

    on_device = True

    def __init__(self, inputs: tuple[tuple, dict], description: str) -> None:
        self.description = description
        self._inputs: tuple[tuple, dict] | None = inputs

    def batches(self) -> Iterator[tuple[tuple, dict]]:
        if self._inputs is None:
            raise ValueError(f"batch source ({self.description}) is closed")
        return self._repeat()

    def _repeat(self) -> Iterator[tuple[tuple, dict]]:
        # Reads the attribute each time (rather than itertools.repeat holding the tensors) so that close()
        # frees the device memory even while the harness still holds the iterator.
        while self._inputs is not None:
            yield self._inputs

    def close(self) -> None:
        self._inputs = None

    def __enter__(self) -> _SyntheticSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _PrivateCpuRng:
    """A seeded stream for the CPU global RNG, swapped in only while in-process loading runs.

    torchvision's random transforms draw from torch's global CPU generator. Worker processes seed their own
    copy (from the DataLoader's generator), but with ``workers=0`` the transforms run in this process: this
    makes them reproducible from ``seed`` and leaves the caller's global RNG as it was.
    """

    def __init__(self, seed: int) -> None:
        self._state = torch.Generator().manual_seed(seed).get_state()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        saved = torch.get_rng_state()
        torch.set_rng_state(self._state)
        try:
            yield
        finally:
            self._state = torch.get_rng_state()
            torch.set_rng_state(saved)


_END = object()


class _LoaderSource:
    """Batches from a DataLoader, converted for the device, epoch after epoch."""

    # Every batch is produced by a host pipeline while the step runs (and copied when the device is not the
    # CPU), so its cost is part of what is measured.
    on_device = False

    def __init__(
        self,
        loader: DataLoader,
        convert: Callable[[Any], tuple[tuple, dict]],
        description: str,
        private_rng: _PrivateCpuRng | None,
    ) -> None:
        self.description = description
        self._loader: DataLoader | None = loader
        self._convert = convert
        self._rng = private_rng
        self._active: Any = None  # the generator batches() last returned

    def batches(self) -> Iterator[tuple[tuple, dict]]:
        if self._loader is None:
            raise ValueError(f"batch source ({self.description}) is closed")
        # One iteration at a time: a persistent-worker DataLoader has a single iterator, which a second
        # concurrent epoch would reset under the first.
        if self._active is not None:
            self._active.close()
        self._active = self._generate(self._loader)
        return self._active

    def _generate(self, loader: DataLoader) -> Iterator[tuple[tuple, dict]]:
        while True:
            it = iter(loader)  # a new epoch: reshuffled; persistent workers are reused
            produced = False
            while True:
                with self._rng.active() if self._rng is not None else contextlib.nullcontext():
                    batch = next(it, _END)
                if batch is _END:
                    break
                produced = True
                yield self._convert(batch)
            if not produced:  # guards against spinning forever on an empty epoch
                raise RuntimeError(f"batch source ({self.description}) produced no batch in an epoch")

    def close(self) -> None:
        loader, self._loader = self._loader, None
        if self._active is not None:
            self._active.close()  # drops the generator's reference to the DataLoader iterator
            self._active = None
        if loader is None:
            return
        # With persistent workers the DataLoader keeps its iterator (and so the worker processes) alive;
        # shut them down now rather than whenever the garbage collector gets to it.
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None:
            shutdown = getattr(iterator, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
            loader._iterator = None

    def __enter__(self) -> _LoaderSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def synthetic_source(workload: Workload, device: torch.device, train: bool) -> BatchSource:
    """One batch from ``workload.make_inputs(device, train)``, made once and yielded forever (compute only)."""
    device = torch.device(device)
    inputs = workload.make_inputs(device, train)
    return _SyntheticSource(inputs, f"synthetic {workload.input_description} on {device}")


def _check_workers(workers: Any) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise UsageError(f"workers {workers!r} must be a non-negative integer (0 loads in-process), e.g. 4")


def _loader_seed(seed: Any) -> torch.Generator:
    _check_int("seed", seed, 0, 2**63 - 1)
    return torch.Generator().manual_seed(seed)


def _image_size(workload: Workload) -> tuple[int, int]:
    """``(H, W)`` of the images ``workload`` takes; a clear error when it does not take 3-channel images."""
    args, kwargs = workload.make_inputs("meta", train=False)  # on meta: shapes only, no memory
    x = args[0] if len(args) == 1 and not kwargs else None
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        raise UsageError(
            f"model {workload.name!r} takes {workload.input_description}, not RGB images N x 3 x H x W: "
            "use synthetic data (or token data for a language model)"
        )
    return int(x.shape[2]), int(x.shape[3])


def image_folder_source(
    path: str | Path,
    workload: Workload,
    device: torch.device,
    *,
    workers: int = 0,
    crop: int | None = None,
    pin_memory: bool | None = None,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
    seed: int = 0,
) -> BatchSource:
    """ImageNet-style training input: ``ImageFolder`` + the PyTorch ImageNet example's train transforms.

    ``path`` is a folder of class subfolders of images, or a root holding ``train/`` (an ImageNet
    directory, or what :func:`write_image_folder` writes). Each batch is ``RandomResizedCrop(crop)``,
    ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize(IMAGENET_MEAN, IMAGENET_STD)`` over decoded
    files, collated by a ``DataLoader`` (``workers`` processes, pinned memory by default when the device is
    CUDA, shuffled with a generator seeded from ``seed``, last partial batch dropped), then moved with
    ``.to(device, dtype, non_blocking=True)`` and made channels-last when asked. ``crop`` defaults to the
    workload's input height and width. Batches are ``((images,), {})``.
    """
    from torchvision import datasets, transforms

    device = torch.device(device)
    _check_workers(workers)
    generator = _loader_seed(seed)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise UsageError(f"image dtype {dtype!r} must be a floating-point dtype, e.g. torch.float32")
    height, width = _image_size(workload)
    if crop is not None:
        if isinstance(crop, bool) or not isinstance(crop, int) or crop < 1:
            raise UsageError(f"crop {crop!r} must be a positive integer, e.g. 224")
        height = width = crop

    given = Path(path).expanduser()
    fix = "give a folder of class subfolders of images (or a root holding train/), or write one with nnperf"
    if not given.exists():
        raise UsageError(f"image folder {given} does not exist: {fix}")
    if not given.is_dir():
        raise UsageError(f"image folder {given} is not a directory: {fix}")
    root = given / "train" if (given / "train").is_dir() else given

    transform = transforms.Compose(
        [
            transforms.RandomResizedCrop((height, width)),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    try:
        dataset = datasets.ImageFolder(str(root), transform=transform)
    except FileNotFoundError as e:  # torchvision's "no class folder" / "no valid file for the classes"
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(f"image folder {root} is not an ImageFolder ({reason}): {fix}") from None
    batch = workload.spec.batch
    if len(dataset) < batch:
        raise UsageError(
            f"image folder {root} holds {len(dataset)} images, fewer than one batch of {batch}: "
            f"use batch <= {len(dataset)} or a folder with at least {batch} images"
        )

    pin = pin_memory if pin_memory is not None else device.type == "cuda"
    loader = DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        pin_memory=pin,
        drop_last=True,  # every step sees a full batch, as the workload's shapes say
        persistent_workers=workers > 0,  # epochs restart without re-forking (and re-warming) workers
        generator=generator,
    )
    memory_format = torch.channels_last if channels_last else torch.preserve_format

    def convert(item: Any) -> tuple[tuple, dict]:
        # Labels are dropped: the vision workloads' loss draws its own random targets, and class indices
        # would only add a tiny copy that the synthetic path does not have.
        images, _labels = item
        x = images.to(device, dtype=dtype, non_blocking=True, memory_format=memory_format)
        return (x,), {}

    description = (
        f"ImageFolder {root} ({len(dataset)} images, {len(dataset.classes)} classes), "
        f"RandomResizedCrop {height}x{width} + flip + normalize, batch {batch}, "
        f"{_workers_text(workers)}{', pin_memory' if pin else ''} -> {device} {_dtype_name(dtype)}"
        f"{' channels_last' if channels_last else ''}"
    )
    return _LoaderSource(loader, convert, description, _PrivateCpuRng(seed) if workers == 0 else None)


class _RandomTokens(Dataset):
    """Random token ids, drawn per index from a seeded generator: the same sample for the same index.

    A top-level class (not a closure) so worker processes started with ``spawn`` can unpickle it.
    """

    def __init__(self, length: int, seq: int, vocab_size: int, encoder_decoder: bool, seed: int) -> None:
        self.length = length
        self.seq = seq
        self.vocab_size = vocab_size
        self.encoder_decoder = encoder_decoder
        self.seed = seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + index) % 2**63)
        item = {"input_ids": torch.randint(0, self.vocab_size, (self.seq,), generator=g)}
        if self.encoder_decoder:
            item["decoder_input_ids"] = torch.randint(0, self.vocab_size, (self.seq,), generator=g)
        return item


def token_source(
    workload: Workload, device: torch.device, train: bool, *, workers: int = 0, seed: int = 0
) -> BatchSource:
    """Token batches ``batch x seq`` of random ids through a ``DataLoader``, as ``make_inputs`` shapes them.

    Keyword arguments match :meth:`TokenWorkload.make_inputs`: ``input_ids``, ``decoder_input_ids`` for
    encoder-decoder models, and ``labels`` (the input ids themselves) when ``train``.
    """
    device = torch.device(device)
    _check_workers(workers)
    generator = _loader_seed(seed)
    tokens = getattr(workload, "tokens", None)
    if tokens is None or workload.spec.seq is None:
        raise UsageError(
            f"model {workload.name!r} takes {workload.input_description}, not token ids: "
            "use synthetic or image data"
        )
    batch, seq = workload.spec.batch, workload.spec.seq
    dataset = _RandomTokens(
        batch * _TOKEN_EPOCH_BATCHES, seq, tokens.vocab_size, tokens.encoder_decoder, seed
    )
    pin = device.type == "cuda"
    loader = DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        pin_memory=pin,
        drop_last=True,
        persistent_workers=workers > 0,
        generator=generator,
    )

    def convert(item: dict[str, torch.Tensor]) -> tuple[tuple, dict]:
        kwargs = {k: v.to(device, non_blocking=True) for k, v in item.items()}
        if train:
            kwargs["labels"] = kwargs["input_ids"]  # as make_inputs: the cost does not depend on the targets
        return (), kwargs

    description = (
        f"random tokens {batch}x{seq} (vocab {tokens.vocab_size}"
        f"{', encoder and decoder' if tokens.encoder_decoder else ''}), DataLoader "
        f"{_workers_text(workers)}{', pin_memory' if pin else ''} -> {device}"
    )
    # Token sampling uses its own generators, so in-process loading needs no private global RNG.
    return _LoaderSource(loader, convert, description, None)


def _workers_text(workers: int) -> str:
    return "in-process (0 workers)" if workers == 0 else f"{workers} worker{'s' if workers > 1 else ''}"


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
