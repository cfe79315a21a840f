"""Study specs: every malformed spec is refused with file, line and field path; the matrix expands as counted."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from nnperf.errors import UsageError
from nnperf.experiments.matrix import Case, expand
from nnperf.experiments.spec import AXES, Environment, RunSettings, demo_spec, load_spec
from nnperf.records.measurement import RunSpec


def spec(text: str) -> str:
    """The YAML text as written in the test (line 1 = the first line after the opening quotes)."""
    return textwrap.dedent(text).lstrip("\n")


def refused(text: str) -> str:
    with pytest.raises(UsageError) as info:
        load_spec(spec(text), source="study.yaml")
    message = str(info.value)
    assert "\n" not in message  # one line, printed as is by the CLI
    return message


BASE = """
name: t
models: [mnist-cnn]
"""


# -- a valid spec ----------------------------------------------------------------------------------


def test_valid_spec_is_read_with_defaults_filled_in() -> None:
    s = load_spec(
        spec(
            """
            name: my-study.v1
            hypothesis: more threads help
            models:
              - mnist-cnn
              - {name: gpt2, seq: 64}
              - {name: resnet18, input: 3x64x64, label: small-resnet}
            axes:
              mode: [infer, train]
              batch: 8          # a scalar is a one-value axis
              dtype: [bfloat16] # an alias, stored canonical
              compile: [false, default]
            """
        )
    )
    assert s.name == "my-study.v1" and s.hypothesis == "more threads help" and s.description is None
    assert [(m.name, m.label, m.input, m.seq, m.family) for m in s.models] == [
        ("mnist-cnn", "mnist-cnn", None, None, "vision"),
        ("gpt2", "gpt2-seq64", None, 64, "causal-lm"),  # default label tells the inputs apart
        ("resnet18", "small-resnet", (3, 64, 64), None, "vision"),
    ]
    assert tuple(s.axes) == AXES
    assert s.axes["mode"] == ("infer", "train")
    assert s.axes["batch"] == (8,)
    assert s.axes["dtype"] == ("bf16",)
    assert s.axes["compile"] == (None, "default")
    assert s.axes["threads"] == (None,) and s.axes["data"] == ("synthetic",)  # RunSpec's defaults
    assert s.environments == (Environment("local"),)
    assert s.run == RunSettings()
    assert s.source_text.startswith("name: my-study.v1\n")


def test_environments_slurm_and_run_settings() -> None:
    s = load_spec(
        spec(
            """
            name: t
            models: [mnist-cnn]
            environments:
              - {name: 1-thread, threads: 1, price_per_hour: 0.05}
              - name: gpu-node
                device: cuda
                slurm: {partition: gpu, gres: "gpu:1", time: 00:30:00, cpus_per_task: 8, mem: 32G, account: null}
            run: {warmup: 1, min_iters: 2, min_time_s: 0, budget_s: 10, timeout_s: 60, repetitions: 2, profile: true}
            """
        )
    )
    local, gpu = s.environments
    assert local.is_local and dict(local.overrides) == {"threads": 1} and local.price_per_hour == 0.05
    assert not gpu.is_local and dict(gpu.overrides) == {"device": "cuda"}
    assert gpu.slurm is not None
    # An unquoted 00:30:00 is the YAML 1.1 integer 1800; the spec keeps the text as written.
    assert dict(gpu.slurm) == {
        "partition": "gpu",
        "gres": "gpu:1",
        "time": "00:30:00",
        "cpus_per_task": 8,
        "mem": "32G",
        "account": None,
    }
    assert s.run == RunSettings(
        warmup=1, min_iters=2, min_time_s=0.0, budget_s=10.0, timeout_s=60.0, repetitions=2, profile=True
    )
    assert len({local, gpu}) == 2  # hashable despite the read-only mappings


def test_load_from_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(spec(BASE) + "axes:\n  batch: [eight]\n")
    with pytest.raises(
        UsageError, match=r"^mine\.yaml: line 4: axes\.batch\[0\]: expected a positive integer"
    ):
        load_spec(path)
    with pytest.raises(UsageError, match=r"^mine\.yaml: line 4: axes\.batch\[0\]"):
        load_spec(str(path))  # a string without a newline is a path
    with pytest.raises(UsageError, match="not found"):
        load_spec(tmp_path / "missing.yaml")


def test_one_model_may_be_a_scalar_and_merge_keys_are_refused() -> None:
    assert [m.name for m in load_spec("name: t\nmodels: mnist-cnn\n").models] == ["mnist-cnn"]
    assert refused(BASE + "axes:\n  <<: {batch: 1}\n").startswith(
        "study.yaml: line 4: axes: YAML merge keys (<<) are not supported here"
    )


# -- malformed specs: refused with the field path and line ---------------------------------------


def test_unknown_keys_at_every_level_suggest_the_known_one() -> None:
    assert refused(BASE + "axis:\n  batch: [1]\n").startswith(
        "study.yaml: line 3: axis: unknown key: did you mean 'axes'?"
    )
    assert refused(BASE + "axes:\n  batch_size: [1]\n").startswith(
        "study.yaml: line 4: axes.batch_size: unknown key: did you mean 'batch'?"
    )
    assert refused("name: t\nmodels:\n  - mnist-cnn\n  - {name: gpt2, sequence: 64}\n").startswith(
        "study.yaml: line 4: models[1].sequence: unknown key: did you mean 'seq'?"
    )
    assert refused(BASE + "run:\n  warm_up: 1\n").startswith(
        "study.yaml: line 4: run.warm_up: unknown key: did you mean 'warmup'?"
    )


@pytest.mark.parametrize(
    ("axes", "expected"),
    [
        ("  batch: [8, eight]", "line 4: axes.batch[1]: expected a positive integer, got 'eight'"),
        ("  batch: [0]", "line 4: axes.batch[0]: expected a positive integer, got 0"),
        ("  batch: [true]", "line 4: axes.batch[0]: expected a positive integer, got True"),
        ("  threads: [0]", "line 4: axes.threads[0]: expected a positive integer (or null"),
        ("  mode: [eval]", "line 4: axes.mode[0]: expected one of infer, train, got 'eval'"),
        ("  mode: [trian]", "line 4: axes.mode[0]: did you mean 'train'?"),
        ("  dtype: [fp8]", "line 4: axes.dtype[0]: expected one of fp32, fp16, bf16, fp64"),
        ("  compile: [defualt]", "line 4: axes.compile[0]: did you mean 'default'?"),
        ("  jit: [maybe]", "line 4: axes.jit[0]: expected true or false, got 'maybe'"),
        ("  device: [gpu]", "line 4: axes.device[0]: expected cpu, cuda or cuda:N, got 'gpu'"),
        ("  workers: [-1]", "line 4: axes.workers[0]: expected an integer >= 0, got -1"),
        ("  optimizer: [lion]", "line 4: axes.optimizer[0]: expected one of sgd,"),
        ("  autocast: [fp32]", "line 4: axes.autocast[0]: expected one of bf16, fp16 or null"),
        ("  batch: {a: 1}", "line 4: axes.batch: expected a list of values, got a mapping"),
        ("  batch: [8, 8]", "line 4: axes.batch[1]: 8 is listed twice"),
    ],
)
def test_wrong_axis_values(axes: str, expected: str) -> None:
    message = refused(BASE + "axes:\n" + axes + "\n")
    assert message.startswith("study.yaml: "), message
    assert expected in message, message


def test_empty_axis_and_empty_lists() -> None:
    assert refused(BASE + "axes:\n  batch: []\n").startswith(
        "study.yaml: line 4: axes.batch: empty list: give at least one value, or leave batch out for its default (1)"
    )
    assert refused("name: t\nmodels: []\n").startswith("study.yaml: line 2: models: empty list")
    assert refused(BASE + "environments: []\n").startswith("study.yaml: line 3: environments: empty list")


def test_unknown_model_is_refused_with_suggestions_and_nothing_is_built() -> None:
    message = refused("name: t\nmodels:\n  - resnet18\n  - {name: resnett18}\n")
    assert message.startswith(
        "study.yaml: line 4: models[1].name: unknown model 'resnett18': did you mean 'resnet18'"
    )
    message = refused("name: t\nmodels: [resnet18,\n  nosuchmodel]\n")
    assert message.startswith("study.yaml: line 3: models[1]: unknown model 'nosuchmodel'")


def test_model_inputs_must_fit_the_model() -> None:
    assert refused("name: t\nmodels:\n  - {name: resnet18, seq: 64}\n").startswith(
        "study.yaml: line 3: models[0].seq: 'resnet18' is a vision model, not fed tokens: drop seq"
    )
    assert refused("name: t\nmodels:\n  - {name: gpt2, input: 3x224x224}\n").startswith(
        "study.yaml: line 3: models[0].input: 'gpt2' takes token ids: give seq"
    )
    assert refused("name: t\nmodels:\n  - {name: resnet18, input: 3xbig}\n").startswith(
        "study.yaml: line 3: models[0].input: expected one sample's shape, e.g. 3x224x224, got '3xbig'"
    )
    assert refused("name: t\nmodels:\n  - {label: x}\n").startswith(
        "study.yaml: line 3: models[0].name: missing"
    )
    assert refused("name: t\nmodels:\n  - mnist-cnn\n  - {name: resnet18, label: mnist-cnn}\n").startswith(
        "study.yaml: line 4: models[1]: label 'mnist-cnn' is also models[0]'s"
    )


def test_environment_errors() -> None:
    envs = "environments:\n  - {name: a, threads: 1}\n  - {name: a, threads: 2}\n"
    assert refused(BASE + envs).startswith(
        "study.yaml: line 5: environments[1].name: 'a' is also environments[0]'s name: names must be unique"
    )
    assert refused(BASE + "environments:\n  - {name: a, thread: 1}\n").startswith(
        "study.yaml: line 4: environments[0].thread: unknown key: did you mean 'threads'?"
    )
    assert refused(BASE + "environments:\n  - {name: a, gpu: true}\n").startswith(
        "study.yaml: line 4: environments[0].gpu: unknown key"
    )
    assert refused(BASE + "environments:\n  - {name: a, threads: [1, 2]}\n").startswith(
        "study.yaml: line 4: environments[0].threads: an environment fixes one value, got a list: "
        "list several under axes.threads instead"
    )
    assert refused(BASE + "environments:\n  - {threads: 1}\n").startswith(
        "study.yaml: line 4: environments[0].name: missing"
    )
    assert refused(BASE + "environments:\n  - {name: 'my machine'}\n").startswith(
        "study.yaml: line 4: environments[0].name: expected a name of letters, digits"
    )
    assert refused(BASE + "environments:\n  - {name: a, price_per_hour: -1}\n").startswith(
        "study.yaml: line 4: environments[0].price_per_hour: expected a number >= 0, got -1"
    )


def test_slurm_errors() -> None:
    head = BASE + "environments:\n  - name: cluster\n    slurm:\n"
    assert refused(head + "      gres: gpu:1\n").startswith(
        "study.yaml: line 6: environments[0].slurm.partition: missing: name the Slurm partition"
    )
    assert refused(head + "      partition: gpu\n      gpus: 1\n").startswith(
        "study.yaml: line 7: environments[0].slurm.gpus: unknown key: did you mean 'gres'?"
    )
    assert refused(head + "      partition: gpu\n      cpus_per_task: 0\n").startswith(
        "study.yaml: line 7: environments[0].slurm.cpus_per_task: expected a positive integer, got 0"
    )
    assert refused(head + "      partition: gpu\n      time: half an hour\n").startswith(
        "study.yaml: line 7: environments[0].slurm.time: expected a Slurm time"
    )
    assert refused(head + "      partition: gpu\n      mem: lots\n").startswith(
        "study.yaml: line 7: environments[0].slurm.mem: expected a Slurm memory size"
    )


def test_top_level_and_run_errors() -> None:
    assert refused("models: [mnist-cnn]\n").startswith("study.yaml: line 1: name: missing")
    assert refused("name: t\n").startswith("study.yaml: line 1: models: missing")
    assert refused("name: my study\nmodels: [mnist-cnn]\n").startswith(
        "study.yaml: line 1: name: expected a name"
    )
    assert refused("- name: t\n").startswith("study.yaml: line 1: expected a mapping (a study), got a list")
    assert refused(BASE + "name: u\n").startswith("study.yaml: line 3: name: given twice")
    assert refused(BASE + "run: {min_iters: 0}\n").startswith(
        "study.yaml: line 3: run.min_iters: expected a positive integer, got 0"
    )
    assert refused(BASE + "run: {timeout_s: fast}\n").startswith(
        "study.yaml: line 3: run.timeout_s: expected a positive number, got 'fast'"
    )
    assert refused(BASE + "run: {profile: 1}\n").startswith(
        "study.yaml: line 3: run.profile: expected true or false"
    )
    assert refused(BASE + "run:\n  budget_s: 5\n  min_time_s: 10\n").startswith(
        "study.yaml: line 5: run.min_time_s: run.min_time_s (10 s) is over run.budget_s (5 s)"
    )
    with pytest.raises(UsageError, match=r"^study\.yaml: the spec is empty"):
        load_spec("# nothing\n", source="study.yaml")


def test_yaml_syntax_error_names_the_line() -> None:
    message = refused("name: t\nmodels: [mnist-cnn\naxes:\n  batch: [1]\n")
    assert re.match(r"^study\.yaml: line \d+: not valid YAML: ", message), message


def test_data_directory_must_exist_for_local_environments(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert refused(BASE + f"axes:\n  data: [synthetic, {missing}]\n").startswith(
        f"study.yaml: line 4: axes.data[1]: '{missing}' is not a directory here"
    )
    # A Slurm node has its own file system: its data paths are not checked here.
    s = load_spec(
        spec(BASE + f"axes:\n  data: [{missing}]\nenvironments:\n  - {{name: c, slurm: {{partition: p}}}}\n")
    )
    assert s.axes["data"] == (str(missing),)
    (tmp_path / "images").mkdir()
    assert load_spec(spec(BASE + f"axes:\n  data: [{tmp_path / 'images'}]\n")).axes["data"] == (
        str(tmp_path / "images"),
    )


# -- expansion -------------------------------------------------------------------------------------


TWO_BY_TWO_BY_TWO = """
name: t
models: [mnist-cnn, resnet18]
axes:
  mode: [infer, train]
  batch: [4]
environments:
  - {name: one, threads: 1}
  - {name: two, threads: 2}
run: {warmup: 1, min_iters: 2, min_time_s: 0.5, budget_s: 9}
"""


def test_expansion_counts_and_order() -> None:
    e = expand(load_spec(spec(TWO_BY_TWO_BY_TWO)))
    # 2 models x 2 modes x 2 environments = 8 cases, nothing left out or merged
    assert len(e.cases) == 8 and e.skipped == [] and e.merged == 0
    # Environments innermost: the two settings compared run back to back.
    assert [(c.model.label, c.spec.mode, c.environment.name) for c in e.cases[:4]] == [
        ("mnist-cnn", "infer", "one"),
        ("mnist-cnn", "infer", "two"),
        ("mnist-cnn", "train", "one"),
        ("mnist-cnn", "train", "two"),
    ]
    first = e.cases[0]
    assert isinstance(first, Case) and first.repetition == 1
    assert first.spec == RunSpec(
        model="mnist-cnn",
        mode="infer",
        batch=4,
        threads=1,
        warmup=1,
        min_iters=2,
        min_time_s=0.5,
        budget_s=9.0,
    )
    assert all(re.fullmatch(r"[0-9a-f]{16}", c.id) for c in e.cases)
    assert len({c.id for c in e.cases}) == 8


def test_model_seq_and_input_are_carried() -> None:
    s = load_spec(
        spec("name: t\nmodels:\n  - {name: gpt2, seq: 16}\n  - {name: resnet18, input: [3, 32, 32]}\n")
    )
    gpt2, resnet = expand(s).cases
    assert gpt2.spec.model == "gpt2" and gpt2.spec.seq == 16 and gpt2.model.input is None
    assert resnet.spec.model == "resnet18" and resnet.spec.seq is None and resnet.model.input == (3, 32, 32)


def test_environment_override_replaces_the_axis_and_duplicates_merge() -> None:
    s = load_spec(
        spec(
            BASE
            + "axes:\n  threads: [1, 2]\nenvironments:\n  - {name: free}\n  - {name: pinned, threads: 1}\n"
        )
    )
    e = expand(s)
    # free: threads 1 and 2 -> 2 cases; pinned: both axis values become threads=1 -> 1 case, 1 merged
    assert [(c.environment.name, c.spec.threads) for c in e.cases] == [
        ("free", 1),
        ("pinned", 1),
        ("free", 2),
    ]
    assert e.merged == 1
    # The same settings in two environments are two cases (an environment is part of the identity).
    assert e.cases[0].id != e.cases[1].id


def test_optimizer_does_not_split_inference_cases() -> None:
    s = load_spec(spec(BASE + "axes:\n  mode: [infer, train]\n  optimizer: [sgd, adam]\n"))
    e = expand(s)
    # infer: one case (no optimizer is stepped); train: sgd and adam -> 3 cases, 1 merged
    assert [(c.spec.mode, c.spec.optimizer) for c in e.cases] == [
        ("infer", None),
        ("train", "sgd"),
        ("train", "adam"),
    ]
    assert e.merged == 1


def test_invalid_combinations_are_skipped_with_reasons() -> None:
    s = load_spec(spec(BASE + "axes:\n  compile: [null, default]\n  jit: [false, true]\n  workers: [0, 2]\n"))
    e = expand(s)
    # 2 x 2 x 2 = 8 combinations; compile+jit (2 of them, any workers) and workers 2 on synthetic data
    # (4 of them) overlap in 1: 8 - (2 + 4 - 1) = 3 cases
    assert [(c.spec.compile, c.spec.jit, c.spec.workers) for c in e.cases] == [
        (None, False, 0),
        (None, True, 0),
        ("default", False, 0),
    ]
    assert len(e.skipped) == 5
    assert sum("compile and jit both set" in r for r in e.skipped) == 2
    assert sum("DataLoader workers need a real pipeline" in r for r in e.skipped) == 3
    assert all(r.startswith("mnist-cnn in local (") for r in e.skipped)


def test_decode_step_models_are_inference_cases_on_synthetic_tokens() -> None:
    assert refused("name: t\nmodels:\n  - {name: resnet18, context: 64}\n").startswith(
        "study.yaml: line 3: models[0].context: 'resnet18' is a vision model: a KV-cache context (decode step) "
        "needs a causal LM"
    )
    assert refused("name: t\nmodels:\n  - {name: gpt2, context: 0}\n").startswith(
        "study.yaml: line 3: models[0].context: expected"
    )
    s = load_spec(
        spec(
            "name: t\nmodels:\n  - gpt2\n  - {name: gpt2, context: 256}\n"
            "axes:\n  mode: [infer, train]\n  data: [synthetic, generated]\n"
        )
    )
    e = expand(s)
    # gpt2: 2 modes x 2 data = 4 cases; the decode step only (infer, synthetic): 1 case, 3 left out.
    decode = [c for c in e.cases if c.spec.context is not None]
    assert len(e.cases) == 5 and len(decode) == 1
    assert decode[0].model.label == "gpt2-ctx256" and decode[0].spec.mode == "infer"
    assert sum("a decode step (context)" in r for r in e.skipped) == 3


def test_text_model_rules() -> None:
    s = load_spec(
        spec(
            "name: t\nmodels: [gpt2, mnist-cnn]\naxes:\n  channels_last: [false, true]\n  dtype: [fp32, bf16]\n"
        )
    )
    s2 = load_spec(
        spec("name: t\nmodels: [mnist-cnn]\naxes:\n  autocast: [null, bf16]\n  dtype: [fp32, bf16]\n")
    )
    e = expand(s)
    # gpt2: channels_last true left out -> 2 dtypes; mnist-cnn: 2 x 2 -> 6 cases
    assert len(e.cases) == 6
    assert len(e.skipped) == 2 and all("channels_last is a layout of image batches" in r for r in e.skipped)
    e2 = expand(s2)
    # autocast bf16 over bf16 weights left out: 4 - 1 = 3 cases
    assert len(e2.cases) == 3 and len(e2.skipped) == 1 and "autocast bf16 over bf16 weights" in e2.skipped[0]


def test_repetitions_are_outermost_with_distinct_ids() -> None:
    s = load_spec(spec(BASE + "axes:\n  batch: [1, 2]\nrun: {repetitions: 3}\n"))
    e = expand(s)
    # 2 batches x 3 repetitions = 6 cases, each repetition a full pass
    assert [(c.repetition, c.spec.batch) for c in e.cases] == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)]
    assert len({c.id for c in e.cases}) == 6


def test_ids_are_stable_and_change_with_the_settings() -> None:
    ids = [c.id for c in expand(load_spec(spec(TWO_BY_TWO_BY_TWO))).cases]
    assert ids == [c.id for c in expand(load_spec(spec(TWO_BY_TWO_BY_TWO))).cases]
    # Comments and layout do not change an id; a setting does.
    relaid = spec(TWO_BY_TWO_BY_TWO).replace("batch: [4]", "batch: 4   # the same value")
    assert ids == [c.id for c in expand(load_spec(relaid)).cases]
    changed = [
        c.id for c in expand(load_spec(spec(TWO_BY_TWO_BY_TWO).replace("batch: [4]", "batch: [5]"))).cases
    ]
    assert not set(ids) & set(changed)
    renamed = [c.id for c in expand(load_spec(spec(TWO_BY_TWO_BY_TWO).replace("name: t", "name: u"))).cases]
    assert not set(ids) & set(renamed)
    # A profiled run records more (the per-op breakdown): another case, not the same one again.
    profiled = spec(TWO_BY_TWO_BY_TWO).replace("budget_s: 9}", "budget_s: 9, profile: true}")
    assert not set(ids) & {c.id for c in expand(load_spec(profiled)).cases}


def test_slurm_environment_cases_are_expanded_not_validated_here() -> None:
    s = load_spec(
        spec(
            BASE
            + "environments:\n  - {name: cluster, device: cuda, slurm: {partition: gpu, gres: 'gpu:1'}}\n"
        )
    )
    (case,) = expand(s).cases
    assert case.spec.device == "cuda" and case.environment.slurm is not None


# -- the demo --------------------------------------------------------------------------------------


def test_demo_spec_loads_and_expands() -> None:
    s = demo_spec()
    assert s.name == "demo" and s.hypothesis and s.source == "demo_study.yaml"
    assert [m.label for m in s.models] == ["resnet18", "mobilenet_v2", "gpt2-seq32"]
    assert [e.name for e in s.environments] == ["1-thread", "all-threads"]
    e = expand(s)
    # 3 models x 2 modes x 2 environments = 12 cases
    assert len(e.cases) == 12 and e.skipped == [] and e.merged == 0
    assert {c.spec.threads for c in e.cases if c.environment.name == "1-thread"} == {1}
    assert {c.spec.threads for c in e.cases if c.environment.name == "all-threads"} == {None}
    assert {c.spec.data for c in e.cases} == {"generated"}
    assert all(c.environment.is_local for c in e.cases)


def test_demo_yaml_file_is_a_valid_spec() -> None:
    path = Path(__file__).resolve().parents[2] / "src" / "nnperf" / "experiments" / "demo_study.yaml"
    assert load_spec(path).source_text == demo_spec().source_text


def test_project_to_names_spec_sheet_cards() -> None:
    from nnperf.experiments.spec import DEFAULT_PROJECT_TO

    assert (
        load_spec(spec(BASE)).project_to == DEFAULT_PROJECT_TO == ("t4", "a100-sxm4-80gb", "h100-sxm5-80gb")
    )
    assert load_spec(spec(BASE + "project_to: [l4, h200-sxm-141gb, l4]\n")).project_to == (
        "l4",
        "h200-sxm-141gb",
    )
    assert load_spec(spec(BASE + "project_to: []\n")).project_to == ()
    assert refused(BASE + "project_to: [l4, a100]\n").startswith(
        "study.yaml: line 3: project_to[1]: unknown target 'a100'"
    )
    assert "did you mean a100-sxm4-80gb" in refused(BASE + "project_to: [a100]\n")
    assert refused(BASE + "project_to: l4\n").startswith("study.yaml: line 3: project_to: expected a list")
