"""The study spec: a YAML file naming models, axes, environments and a protocol, validated before anything runs.

A study is what a performance question needs written down: the models (with their inputs), the settings to
vary (*axes*, whose cartesian product :mod:`nnperf.experiments.matrix` expands into cases), the named
*environments* they run in (this machine with some settings fixed, or a Slurm partition with its resources)
and the measurement protocol. The format is documented in the README (section "nnperf study")::

    name: threads                   # [A-Za-z0-9_.-]+ (it names the results)
    hypothesis: "a second thread halves the step time"
    models: [resnet18, {name: gpt2, seq: 64}, {name: gpt2, context: 512}]   # context: decode steps
    axes: {mode: [infer, train], batch: [8]}
    environments: [{name: 1-thread, threads: 1}, {name: all-threads}]
    run: {warmup: 1, min_iters: 3, repetitions: 1}

Validation walks the YAML *node* tree (``yaml.compose``), not the loaded data, so every error names the file,
the line and the field path, e.g. ``study.yaml: line 7: axes.batch[1]: expected a positive integer, got
'eight'``: unknown keys (with the closest known one), wrong types, unknown models (looked up in the model
registry, never built), empty axes, duplicate names. Combinations of valid values that cannot run together
(``compile`` with ``jit``) are not errors here: the matrix drops them with a reason.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from nnperf.errors import NnperfError, UsageError
from nnperf.records.measurement import MODES, RunSpec

__all__ = [
    "AXES",
    "DEFAULT_PROJECT_TO",
    "SLURM_KEYS",
    "TEXT_FAMILIES",
    "Environment",
    "ModelEntry",
    "RunSettings",
    "StudySpec",
    "demo_spec",
    "load_spec",
]

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SLURM_TIME = re.compile(r"^(\d+-)?\d+(:\d+){0,2}$")  # minutes, m:s, h:m:s, d-h, d-h:m, d-h:m:s
_SLURM_MEM = re.compile(r"^\d+[KMGT]?$", re.IGNORECASE)

#: Model families fed token ids: an input shape means nothing to them (their length is ``seq``).
TEXT_FAMILIES = frozenset({"causal-lm", "masked-lm", "seq2seq-lm"})

#: The axes a study may vary: the RunSpec settings that are not the model or the protocol, in this order.
AXES: tuple[str, ...] = (
    "mode",
    "batch",
    "dtype",
    "autocast",
    "compile",
    "jit",
    "channels_last",
    "threads",
    "device",
    "data",
    "workers",
    "optimizer",
)
_AXIS_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(RunSpec) if f.name in AXES}

#: Slurm settings of an environment (``partition`` required); ``setup`` is shell run before each case.
SLURM_KEYS: tuple[str, ...] = (
    "partition",
    "account",
    "qos",
    "time",
    "cpus_per_task",
    "mem",
    "gres",
    "constraint",
    "setup",
)

_TOP_KEYS = ("name", "hypothesis", "description", "models", "axes", "environments", "run", "project_to")
#: Spec-sheet GPUs the report projects the study's models onto when the spec does not say (`project_to: []`: none).
DEFAULT_PROJECT_TO: tuple[str, ...] = ("t4", "a100-sxm4-80gb", "h100-sxm5-80gb")
_MODEL_KEYS = ("name", "label", "input", "seq", "context")
_ENV_KEYS = ("name", "slurm", "price_per_hour", *AXES)
_RUN_KEYS = ("warmup", "min_iters", "min_time_s", "budget_s", "timeout_s", "repetitions", "profile")


@dataclass(frozen=True)
class ModelEntry:
    """One model of a study. ``label`` names it in cases and reports (unique within the study)."""

    name: str
    label: str
    input: tuple[int, ...] | None = None  # one sample's shape (vision/custom models); None = the model's own
    seq: int | None = None  # tokens per sample (language models); None = the default
    family: str | None = None  # "vision", "causal-lm", ... where the registry lists the model
    context: int | None = None  # tokens in the KV cache: each case measures one decode step (causal LMs)


@dataclass(frozen=True)
class Environment:
    """Where cases run: this machine (``slurm`` None) or a Slurm partition, with axis settings fixed.

    ``overrides`` maps an axis name to the one value this environment uses for it, replacing the axis.
    """

    name: str
    overrides: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    slurm: Mapping[str, Any] | None = None
    price_per_hour: float | None = None

    def __hash__(self) -> int:  # the mappings are read-only views; hash their items
        slurm = tuple(sorted(self.slurm.items(), key=lambda kv: kv[0])) if self.slurm else None
        return hash((self.name, tuple(sorted(self.overrides.items())), repr(slurm), self.price_per_hour))

    @property
    def is_local(self) -> bool:
        return self.slurm is None


@dataclass(frozen=True)
class RunSettings:
    """The measurement protocol of every case (see ``nnperf bench``), the per-case timeout and repetitions."""

    warmup: int = 3
    min_iters: int = 10
    min_time_s: float = 1.0
    budget_s: float = 60.0
    timeout_s: float = 900.0  # the runner kills a case (its own process) after this long
    repetitions: int = 1  # independent runs of each case, each its own record
    profile: bool = False  # per-op breakdown (for op-level measured roofline points)


@dataclass(frozen=True)
class StudySpec:
    """A validated study. ``axes`` holds every axis (defaults filled in) as a tuple of canonical values."""

    name: str
    hypothesis: str | None
    description: str | None
    models: tuple[ModelEntry, ...]
    axes: Mapping[str, tuple[Any, ...]]
    environments: tuple[Environment, ...]
    run: RunSettings
    source_text: str
    source: str = "study spec"  # the file name errors and reports cite
    #: Spec-sheet GPUs (``nnperf predict --list-cards``) the report projects every model onto.
    project_to: tuple[str, ...] = DEFAULT_PROJECT_TO


# --------------------------------------------------------------------------------------------------
# Loading


def load_spec(path_or_text: str | Path, *, source: str | None = None) -> StudySpec:
    """Read and validate a study spec: a file path, or YAML text (a string with a newline in it).

    Raises :class:`UsageError` with one line naming the file, line, field path, what was expected and the
    fix. Nothing is built or run: models are only looked up by name.
    """
    if isinstance(path_or_text, Path) or "\n" not in path_or_text:
        path = Path(path_or_text).expanduser()
        if not path.is_file():
            raise UsageError(f"study spec {str(path)!r} not found: give the path of a study YAML file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read study spec {str(path)!r}: {exc}") from exc
        name = source or path.name
    else:
        text, name = path_or_text, source or "study spec"
    return _Parser(name).study(text)


def demo_spec() -> StudySpec:
    """The built-in demo study (``nnperf study run --demo``), from the package's ``demo_study.yaml``."""
    from importlib.resources import files

    text = files("nnperf.experiments").joinpath("demo_study.yaml").read_text(encoding="utf-8")
    return load_spec(text, source="demo_study.yaml")


# --------------------------------------------------------------------------------------------------
# The validating walk over the YAML nodes


# Spellings from other tools (sbatch's --gpus, --time's "walltime") and their names here.
_KNOWN_SPELLINGS = {
    "gpus": "gres",
    "gpu": "gres",
    "cpus": "cpus_per_task",
    "memory": "mem",
    "walltime": "time",
    "batch_size": "batch",
    "seq_len": "seq",
    "shape": "input",
    "precision": "dtype",
}


def _did_you_mean(word: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if not close:  # an abbreviation or a longer spelling of a known key ("sequence" for "seq")
        close = [
            k for k in known if min(len(k), len(word)) >= 3 and (word.startswith(k) or k.startswith(word))
        ][:1]
    if not close and _KNOWN_SPELLINGS.get(word) in known:
        close = [_KNOWN_SPELLINGS[word]]
    return f"did you mean {close[0]!r}? " if close else ""


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.ctor = yaml.constructor.SafeConstructor()

    # -- errors and primitives -------------------------------------------------------------------
    def fail(self, node: Node | None, path: str, message: str) -> NoReturn:
        where = (
            f"{self.source}: line {node.start_mark.line + 1}: " if node is not None else f"{self.source}: "
        )
        raise UsageError(f"{where}{path}: {message}" if path else f"{where}{message}")

    def value(self, node: Node, path: str) -> Any:
        try:
            return self.ctor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.fail(node, path, f"cannot read this value ({getattr(exc, 'problem', None) or exc})")

    def shown(self, node: Node, path: str) -> str:
        """How a wrong value is quoted in a message."""
        if isinstance(node, MappingNode):
            return "a mapping"
        if isinstance(node, SequenceNode):
            return "a list"
        return repr(self.value(node, path))

    def mapping(
        self, node: Node, path: str, allowed: tuple[str, ...], what: str
    ) -> dict[str, tuple[Node, Node]]:
        if not isinstance(node, MappingNode):
            self.fail(node, path, f"expected a mapping ({what}), got {self.shown(node, path)}")
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self.fail(key_node, path, "YAML merge keys (<<) are not supported here: write the keys out")
            key = self.value(key_node, path)
            if not isinstance(key, str):
                self.fail(key_node, path, f"keys are names, got {key!r}")
            key_path = f"{path}.{key}" if path else key
            if key in out:
                self.fail(key_node, key_path, "given twice: keep one")
            if key not in allowed:
                self.fail(
                    key_node,
                    key_path,
                    f"unknown key: {_did_you_mean(key, allowed)}{what} takes {', '.join(allowed)}",
                )
            out[key] = (key_node, value_node)
        return out

    def sequence(self, node: Node, path: str, example: str) -> list[tuple[Node, str]]:
        if not isinstance(node, SequenceNode):
            self.fail(node, path, f"expected a list, e.g. {example}, got {self.shown(node, path)}")
        if not node.value:
            self.fail(node, path, f"empty list: give at least one item, e.g. {example}")
        return [(item, f"{path}[{i}]") for i, item in enumerate(node.value)]

    def scalar(self, node: Node, path: str, expected: str) -> Any:
        if not isinstance(node, ScalarNode):
            self.fail(node, path, f"expected {expected}, got {self.shown(node, path)}")
        return self.value(node, path)

    def text(self, node: Node, path: str, *, name: bool = False) -> str:
        """A string as written (an unquoted ``2024`` is the text ``2024``); ``name``: [A-Za-z0-9_.-]+."""
        expected = "a name of letters, digits, '_', '.' or '-'" if name else "text"
        if not isinstance(node, ScalarNode) or node.tag == _NULL_TAG or not str(node.value).strip():
            shown = "nothing" if isinstance(node, ScalarNode) else self.shown(node, path)
            self.fail(node, path, f"expected {expected}, got {shown}")
        value = str(node.value).strip()
        if "\n" in value:
            self.fail(node, path, f"expected {expected} on one line, got {value!r}")
        if name and not _NAME.match(value):
            self.fail(node, path, f"expected {expected}, got {value!r}")
        return value

    def optional_text(self, node: Node, path: str) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == _NULL_TAG:
            return None
        if not isinstance(node, ScalarNode):
            self.fail(node, path, f"expected text, got {self.shown(node, path)}")
        return str(node.value)

    def integer(self, node: Node, path: str, minimum: int) -> int:
        expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        value = self.scalar(node, path, expected)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(node, path, f"expected {expected}, got {value!r}")
        return value

    def number(self, node: Node, path: str, *, positive: bool) -> float:
        expected = "a positive number" if positive else "a number >= 0"
        value = self.scalar(node, path, expected)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(node, path, f"expected {expected}, got {value!r}")
        if value < 0 or (positive and value == 0):
            self.fail(node, path, f"expected {expected}, got {value!r}")
        return float(value)

    def boolean(self, node: Node, path: str) -> bool:
        value = self.scalar(node, path, "true or false")
        if not isinstance(value, bool):
            self.fail(node, path, f"expected true or false, got {value!r}")
        return value

    def choice(
        self, node: Node, path: str, choices: tuple[str, ...], *, nullable: bool = False
    ) -> str | None:
        shown = ", ".join(choices) + (" or null" if nullable else "")
        value = self.scalar(node, path, f"one of {shown}")
        if value is None and nullable:
            return None
        if not isinstance(value, str) or value not in choices:
            hint = _did_you_mean(value, choices) if isinstance(value, str) else ""
            self.fail(node, path, f"{hint}expected one of {shown}, got {value!r}")
        return value

    # -- the study ---------------------------------------------------------------------------------
    def study(self, text: str) -> StudySpec:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = f"line {mark.line + 1}: " if mark is not None else ""
            raise UsageError(
                f"{self.source}: {line}not valid YAML: {exc.problem or exc.context}: fix the syntax there"
            ) from None
        except yaml.YAMLError as exc:
            raise UsageError(f"{self.source}: not valid YAML: {exc}") from None
        if root is None:
            raise UsageError(f"{self.source}: the spec is empty: give at least name and models")
        top = self.mapping(root, "", _TOP_KEYS, "a study")
        for required, example in (("name", "name: my-study"), ("models", "models: [resnet18]")):
            if required not in top:
                self.fail(root, required, f"missing: every study needs it, e.g. {example}")
        name = self.text(top["name"][1], "name", name=True)
        hypothesis = self.optional_text(top["hypothesis"][1], "hypothesis") if "hypothesis" in top else None
        description = (
            self.optional_text(top["description"][1], "description") if "description" in top else None
        )
        models = self.models(top["models"][1])
        axes, axis_nodes = self.axes(top["axes"][1]) if "axes" in top else self.axes(None)
        if "environments" in top:
            environments, env_nodes = self.environments(top["environments"][1])
        else:
            environments, env_nodes = (Environment("local"),), [{}]
        run = self.run(top["run"][1]) if "run" in top else RunSettings()
        self.check_data_dirs(axes, axis_nodes, environments, env_nodes)
        project_to = self.project_to(top["project_to"][1]) if "project_to" in top else DEFAULT_PROJECT_TO
        return StudySpec(
            name=name,
            hypothesis=hypothesis,
            description=description,
            models=models,
            axes=MappingProxyType(axes),
            environments=environments,
            run=run,
            source_text=text,
            source=self.source,
            project_to=project_to,
        )

    def project_to(self, node: Node) -> tuple[str, ...]:
        """Card names of nnperf's spec-sheet table; an empty list switches the report's projection off."""
        from nnperf.machine.targets import find_card

        if isinstance(node, SequenceNode) and not node.value:
            return ()
        out: list[str] = []
        for item, path in self.sequence(node, "project_to", "[t4, a100-sxm4-80gb, h100-sxm5-80gb]"):
            name = self.text(item, path)
            try:
                find_card(name)
            except UsageError as exc:
                self.fail(item, path, str(exc))
            out.append(name)
        return tuple(dict.fromkeys(out))

    def models(self, node: Node) -> tuple[ModelEntry, ...]:
        out: list[ModelEntry] = []
        labels: dict[str, str] = {}
        if isinstance(node, ScalarNode) and node.tag != _NULL_TAG:  # one model: models: resnet18
            items = [(node, "models")]
        else:
            items = self.sequence(node, "models", "[resnet18, {name: gpt2, seq: 64}]")
        for item, path in items:
            entry = self.model(item, path)
            if entry.label in labels:
                self.fail(
                    item,
                    path,
                    f"label {entry.label!r} is also {labels[entry.label]}'s: give each model a distinct label",
                )
            labels[entry.label] = path
            out.append(entry)
        return tuple(out)

    def model(self, node: Node, path: str) -> ModelEntry:
        if isinstance(node, ScalarNode):
            name_node, fields_ = node, {}
            name_path = path
        else:
            fields_ = self.mapping(node, path, _MODEL_KEYS, "a model")
            if "name" not in fields_:
                self.fail(node, f"{path}.name", "missing: e.g. {name: gpt2, seq: 64}")
            name_node, name_path = fields_["name"][1], f"{path}.name"
        name = self.text(name_node, name_path)
        family = self.family(name, name_node, name_path)
        seq = self.integer(fields_["seq"][1], f"{path}.seq", 1) if "seq" in fields_ else None
        shape = self.shape(fields_["input"][1], f"{path}.input") if "input" in fields_ else None
        if seq is not None and family is not None and family not in TEXT_FAMILIES:
            self.fail(
                fields_["seq"][1], f"{path}.seq", f"{name!r} is a {family} model, not fed tokens: drop seq"
            )
        if shape is not None and family in TEXT_FAMILIES:
            self.fail(
                fields_["input"][1],
                f"{path}.input",
                f"{name!r} takes token ids: give seq (tokens per sample) instead of input",
            )
        context = self.integer(fields_["context"][1], f"{path}.context", 1) if "context" in fields_ else None
        if context is not None and family is not None and family != "causal-lm":
            self.fail(
                fields_["context"][1],
                f"{path}.context",
                f"{name!r} is a {family} model: a KV-cache context (decode step) needs a causal LM",
            )
        if "label" in fields_:
            label = self.text(fields_["label"][1], f"{path}.label")
        else:  # distinct by default when one model appears with several inputs
            label = (
                name
                + (f"-seq{seq}" if seq else "")
                + (f"-ctx{context}" if context else "")
                + ("-" + "x".join(map(str, shape)) if shape else "")
            )
        return ModelEntry(name=name, label=label, input=shape, seq=seq, family=family, context=context)

    def family(self, name: str, node: Node, path: str) -> str | None:
        """The model's family if the registry lists it; refuses names no model source claims."""
        from nnperf.models.registry import find_source

        try:
            source = find_source(name)
        except NnperfError as exc:
            self.fail(node, path, str(exc))
        return next((e.family for e in source.entries() if e.name == name.lower()), None)

    def shape(self, node: Node, path: str) -> tuple[int, ...]:
        from nnperf.models import parse_shape

        expected = "one sample's shape, e.g. 3x224x224"
        if isinstance(node, SequenceNode):
            dims = [self.integer(item, p, 1) for item, p in self.sequence(node, path, "[3, 224, 224]")]
            return tuple(dims)
        value = self.scalar(node, path, expected)
        if isinstance(value, bool) or value is None:
            self.fail(node, path, f"expected {expected}, got {value!r}")
        try:
            return parse_shape(str(value))
        except UsageError:
            self.fail(node, path, f"expected {expected}, got {value!r}")

    # -- axes --------------------------------------------------------------------------------------
    def axis_value(self, axis: str, node: Node, path: str) -> Any:
        return _AXIS_PARSERS[axis](self, node, path)

    def axes(self, node: Node | None) -> tuple[dict[str, tuple[Any, ...]], dict[str, list[Node]]]:
        given = self.mapping(node, "axes", AXES, "axes") if node is not None else {}
        axes: dict[str, tuple[Any, ...]] = {}
        nodes: dict[str, list[Node]] = {}
        for axis in AXES:
            if axis not in given:
                axes[axis] = (_AXIS_DEFAULTS[axis],)
                nodes[axis] = []
                continue
            value_node = given[axis][1]
            path = f"axes.{axis}"
            if isinstance(value_node, SequenceNode):
                if not value_node.value:
                    default = _AXIS_DEFAULTS[axis]
                    self.fail(
                        value_node,
                        path,
                        f"empty list: give at least one value, or leave {axis} out for its default "
                        f"({'null' if default is None else default})",
                    )
                items = [(item, f"{path}[{i}]") for i, item in enumerate(value_node.value)]
            elif isinstance(value_node, MappingNode):
                self.fail(value_node, path, f"expected a list of values, got {self.shown(value_node, path)}")
            else:  # a scalar is a one-value axis
                items = [(value_node, path)]
            values: list[Any] = []
            for item, item_path in items:
                value = self.axis_value(axis, item, item_path)
                if value in values:
                    self.fail(item, item_path, f"{value!r} is listed twice: keep one")
                values.append(value)
            axes[axis] = tuple(values)
            nodes[axis] = [item for item, _ in items]
        return axes, nodes

    # -- environments ------------------------------------------------------------------------------
    def environments(self, node: Node) -> tuple[tuple[Environment, ...], list[dict[str, Node]]]:
        out: list[Environment] = []
        all_nodes: list[dict[str, Node]] = []
        seen: dict[str, str] = {}
        example = "[{name: 1-thread, threads: 1}, {name: all-threads}]"
        for item, path in self.sequence(node, "environments", example):
            fields_ = self.mapping(item, path, _ENV_KEYS, "an environment")
            if "name" not in fields_:
                self.fail(
                    item, f"{path}.name", "missing: every environment needs a name, e.g. name: 1-thread"
                )
            name_node = fields_["name"][1]
            name = self.text(name_node, f"{path}.name", name=True)
            if name in seen:
                self.fail(
                    name_node, f"{path}.name", f"{name!r} is also {seen[name]}'s name: names must be unique"
                )
            seen[name] = path
            overrides: dict[str, Any] = {}
            nodes: dict[str, Node] = {}
            for axis in AXES:
                if axis not in fields_:
                    continue
                value_node = fields_[axis][1]
                if not isinstance(value_node, ScalarNode):
                    self.fail(
                        value_node,
                        f"{path}.{axis}",
                        f"an environment fixes one value, got {self.shown(value_node, path)}: "
                        f"list several under axes.{axis} instead",
                    )
                overrides[axis] = self.axis_value(axis, value_node, f"{path}.{axis}")
                nodes[axis] = value_node
            slurm = self.slurm(fields_["slurm"][1], f"{path}.slurm") if "slurm" in fields_ else None
            price = None
            if "price_per_hour" in fields_:
                price_node = fields_["price_per_hour"][1]
                if not (isinstance(price_node, ScalarNode) and price_node.tag == _NULL_TAG):
                    price = self.number(price_node, f"{path}.price_per_hour", positive=False)
            out.append(Environment(name, MappingProxyType(overrides), slurm, price))
            all_nodes.append(nodes)
        return tuple(out), all_nodes

    def slurm(self, node: Node, path: str) -> Mapping[str, Any]:
        fields_ = self.mapping(node, path, SLURM_KEYS, "slurm")
        if "partition" not in fields_:
            self.fail(node, f"{path}.partition", "missing: name the Slurm partition, e.g. partition: gpu")
        out: dict[str, Any] = {}
        for key, (_, value_node) in fields_.items():
            key_path = f"{path}.{key}"
            if isinstance(value_node, ScalarNode) and value_node.tag == _NULL_TAG and key != "partition":
                out[key] = None
            elif key == "cpus_per_task":
                out[key] = self.integer(value_node, key_path, 1)
            elif key == "time":
                # Read as written: YAML 1.1 would turn an unquoted 00:30:00 into the integer 1800.
                text = self.text(value_node, key_path)
                if not _SLURM_TIME.match(text):
                    self.fail(
                        value_node,
                        key_path,
                        f"expected a Slurm time such as 00:30:00 or 1-00:00:00, got {text!r}",
                    )
                out[key] = text
            elif key == "mem":
                text = self.text(value_node, key_path)
                if not _SLURM_MEM.match(text):
                    self.fail(
                        value_node,
                        key_path,
                        f"expected a Slurm memory size such as 32G or 4000M, got {text!r}",
                    )
                out[key] = text
            elif key == "setup":
                if isinstance(value_node, SequenceNode):
                    out[key] = tuple(
                        self.text(item, p)
                        for item, p in self.sequence(value_node, key_path, "[module load cuda]")
                    )
                else:
                    out[key] = (self.text(value_node, key_path),)
            else:
                out[key] = self.text(value_node, key_path)
        return MappingProxyType(out)

    # -- run ---------------------------------------------------------------------------------------
    def run(self, node: Node) -> RunSettings:
        fields_ = self.mapping(node, "run", _RUN_KEYS, "run")
        values: dict[str, Any] = {}
        for key, (_, value_node) in fields_.items():
            path = f"run.{key}"
            if key in ("warmup", "min_iters", "repetitions"):
                values[key] = self.integer(value_node, path, 1)
            elif key == "profile":
                values[key] = self.boolean(value_node, path)
            else:
                values[key] = self.number(value_node, path, positive=key != "min_time_s")
        settings = RunSettings(**values)
        if settings.min_time_s > settings.budget_s:  # one of them was given: the defaults are 1 s and 60 s
            key = "min_time_s" if "min_time_s" in fields_ else "budget_s"
            self.fail(
                fields_[key][1],
                f"run.{key}",
                f"run.min_time_s ({settings.min_time_s:g} s) is over run.budget_s ({settings.budget_s:g} s): "
                "lower the minimum or raise the budget",
            )
        return settings

    def check_data_dirs(
        self,
        axes: dict[str, tuple[Any, ...]],
        axis_nodes: dict[str, list[Node]],
        environments: tuple[Environment, ...],
        env_nodes: list[dict[str, Node]],
    ) -> None:
        """A data directory must exist where the case runs: checked for the environments on this machine."""
        for i, env in enumerate(environments):
            if not env.is_local:
                continue
            if "data" in env.overrides:
                pairs = [(env.overrides["data"], env_nodes[i]["data"], f"environments[{i}].data")]
            else:
                pairs = [
                    (v, n, f"axes.data[{j}]" if len(axis_nodes["data"]) > 1 else "axes.data")
                    for j, (v, n) in enumerate(zip(axes["data"], axis_nodes["data"], strict=False))
                ]
            for value, node, path in pairs:
                if value not in _DATA_WORDS and not Path(value).expanduser().is_dir():
                    self.fail(
                        node,
                        path,
                        f"{value!r} is not a directory here (relative paths are from where the study runs): "
                        "give an ImageFolder directory, 'synthetic' or 'generated'",
                    )


# -- one parser per axis: each returns the canonical value RunSpec takes -------------------------------
_DATA_WORDS = ("synthetic", "generated")


def _mode(p: _Parser, node: Node, path: str) -> Any:
    return p.choice(node, path, MODES)


def _batch(p: _Parser, node: Node, path: str) -> Any:
    return p.integer(node, path, 1)


def _dtype(p: _Parser, node: Node, path: str) -> Any:
    from nnperf.models import DTYPES, parse_dtype

    expected = f"one of {', '.join(DTYPES)} (or float32, bfloat16, ...)"
    value = p.scalar(node, path, expected)
    if isinstance(value, str):
        try:
            return parse_dtype(value)
        except UsageError:
            pass
    p.fail(node, path, f"expected {expected}, got {value!r}")


def _autocast(p: _Parser, node: Node, path: str) -> Any:
    from nnperf.static.summary import AUTOCAST_DTYPES

    return p.choice(node, path, tuple(AUTOCAST_DTYPES), nullable=True)


def _compile(p: _Parser, node: Node, path: str) -> Any:
    from nnperf.measure.bench import COMPILE_MODES

    value = p.scalar(node, path, "a torch.compile mode")
    if value is False:  # compile: false reads naturally as "eager"
        return None
    if value is True:
        return "default"
    return p.choice(node, path, COMPILE_MODES, nullable=True)


def _flag(p: _Parser, node: Node, path: str) -> Any:
    return p.boolean(node, path)


def _threads(p: _Parser, node: Node, path: str) -> Any:
    value = p.scalar(node, path, "a positive integer")
    if value is None:  # PyTorch's default (all cores)
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        p.fail(node, path, f"expected a positive integer (or null for PyTorch's default), got {value!r}")
    return value


def _device(p: _Parser, node: Node, path: str) -> Any:
    value = p.text(node, path)
    if not re.match(r"^(cpu|cuda(:\d+)?)$", value):
        p.fail(node, path, f"expected cpu, cuda or cuda:N, got {value!r}")
    return value


def _data(p: _Parser, node: Node, path: str) -> Any:
    return p.text(node, path)


def _workers(p: _Parser, node: Node, path: str) -> Any:
    return p.integer(node, path, 0)


def _optimizer(p: _Parser, node: Node, path: str) -> Any:
    from nnperf.static.optimizers import OPTIMIZERS

    return p.choice(node, path, tuple(OPTIMIZERS), nullable=True)


_AXIS_PARSERS: dict[str, Callable[[_Parser, Node, str], Any]] = {
    "mode": _mode,
    "batch": _batch,
    "dtype": _dtype,
    "autocast": _autocast,
    "compile": _compile,
    "jit": _flag,
    "channels_last": _flag,
    "threads": _threads,
    "device": _device,
    "data": _data,
    "workers": _workers,
    "optimizer": _optimizer,
}
