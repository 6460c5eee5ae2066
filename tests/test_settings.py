"""cotmask.settings: the one type rule of FinetuneConfig, MaskingConfig, data options and pre-training settings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cotmask.data.options import Option, resolve_options
from cotmask.masking_config import MaskingConfig
from cotmask.settings import coerce, coerce_fields, coerce_values, kind_of, typed_arguments
from cotmask.train import FinetuneConfig


@pytest.mark.parametrize(
    "value, kind, expected",
    [
        (True, bool, True),
        (False, bool, False),
        (" TRUE ", bool, True),
        ("False", bool, False),
        (7, int, 7),
        (3.0, int, 3),
        (-2, int, -2),
        (2, float, 2.0),
        (0.25, float, 0.25),
        ("1e-5", float, 1e-5),  # YAML 1.1 reads an exponent without a dot as text
        (" 0.5 ", float, 0.5),
        ("text", str, "text"),
        ("", str, ""),
        (Path("a/b"), str, "a/b"),
        (["x", "y"], list, ["x", "y"]),
        (("x", 3), list, ["x", "3"]),
        ("train, test", list, ["train", "test"]),
        ('["a", "b,c"]', list, ["a", "b,c"]),
        ("", list, []),
        ({"tf32": True}, dict, {"tf32": True}),
    ],
)
def test_good_values_are_converted(value, kind, expected):
    result = coerce(value, kind, where="Owner.key")
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "value, kind, expected",
    [
        (1, bool, "true or false"),
        ("yes", bool, "true or false"),
        ("ten", int, "an integer"),
        ("3", int, "an integer"),
        (2.5, int, "an integer"),
        (True, int, "an integer"),
        ("fast", float, "a finite number"),
        (False, float, "a finite number"),
        (math.nan, float, "a finite number"),
        ("inf", float, "a finite number"),
        ([0.1], float, "a finite number"),
        (5, str, "a string"),
        (None, str, "a string"),
        ([True], list, "a list of strings"),
        ({"a": 1}, list, "a list of strings"),
        ("[1, 2", list, "a list of strings"),
        ([1], dict, "a mapping"),
    ],
)
def test_bad_values_name_the_setting_and_the_kind(value, kind, expected):
    with pytest.raises(ValueError) as caught:
        coerce(value, kind, where="Owner.key")
    message = str(caught.value)
    assert message.startswith(f"Owner.key: expected {expected}")
    assert message.endswith(f"got {value!r}")


def test_null_only_where_allowed():
    assert coerce(None, int, where="Owner.limit", nullable=True) is None
    with pytest.raises(ValueError, match=r"^Owner\.limit: expected an integer, got None$"):
        coerce(None, int, where="Owner.limit")
    with pytest.raises(TypeError, match="unsupported"):
        coerce(1, complex, where="Owner.z")


@pytest.mark.parametrize(
    "hint, expected",
    [
        (int, (int, False)),
        (int | None, (int, True)),
        ("str | None", None),  # a string hint is not resolved here: rejected
        (dict, (dict, False)),
        (dict[str, int], (dict, False)),
        (list[str] | None, (list, True)),
        (int | str, None),
        (set, None),
    ],
)
def test_kind_of_reads_simple_hints(hint, expected):
    if expected is None:
        with pytest.raises(TypeError, match="unsupported setting type"):
            kind_of(hint)
    else:
        assert kind_of(hint) == expected


@dataclass
class _Example:
    rate: float = 1e-3
    steps: int = 3
    limit: int | None = None
    name: str = "x"
    flag: bool = False
    extra: dict = field(default_factory=dict)
    untouched: object = None


def test_coerce_fields_converts_in_place_and_names_class_and_field():
    example = _Example(rate=2, steps=4.0, limit=None, name=Path("p"), flag="true", untouched=object())
    coerce_fields(example, skip=("untouched",))
    assert (example.rate, example.steps, example.limit, example.name, example.flag) == (2.0, 4, None, "p", True)
    assert type(example.rate) is float and type(example.steps) is int
    bad = _Example(steps="many")
    with pytest.raises(ValueError, match=r"^_Example\.steps: expected an integer, got 'many'$"):
        coerce_fields(bad, skip=("untouched",))
    with pytest.raises(TypeError, match="unsupported setting type"):  # an un-skipped field of another type
        coerce_fields(_Example())


def test_coerce_values_leaves_keys_without_a_hint_alone():
    hints = {"lr": float, "epochs": int}
    assert coerce_values("pretrain", {"lr": "2e-3", "epochs": 2, "corpus": ["a"]}, hints) == {
        "lr": 2e-3, "epochs": 2, "corpus": ["a"]
    }
    with pytest.raises(ValueError, match=r"^pretrain\.epochs: expected an integer, got 1\.5$"):
        coerce_values("pretrain", {"epochs": 1.5}, hints)


def test_the_three_owners_share_the_rule():
    """FinetuneConfig, MaskingConfig and the data options accept and reject the same values alike."""
    base = dict(base_model="m", train_file="t.jsonl", output_dir="out/run")
    cfg = FinetuneConfig.from_dict({**base, "learning_rate": "2e-5", "epochs": 2.0, "weight_decay": 0,
                                    "bf16": "False", "mask_ratio": "1e-1", "mask_warmup_ratio": 1})
    assert (cfg.learning_rate, cfg.epochs, cfg.weight_decay, cfg.bf16) == (2e-5, 2, 0.0, False)
    assert (cfg.mask.mask_ratio, cfg.mask.mask_warmup_ratio) == (0.1, 1.0)
    assert type(cfg.epochs) is int and type(cfg.weight_decay) is float
    declared = {"rate": Option("rate", float, 0.5), "n": Option("n", int, 1), "on": Option("on", bool, False)}
    assert resolve_options("source 'x'", declared, {"rate": "2e-5", "n": 2.0, "on": "False"}) == {
        "rate": 2e-5, "n": 2, "on": False
    }
    with pytest.raises(ValueError, match=r"^FinetuneConfig\.bf16: expected true or false, got 1$"):
        FinetuneConfig.from_dict({**base, "bf16": 1})
    with pytest.raises(ValueError, match=r"^MaskingConfig\.loss_on_noised: expected true or false, got 1$"):
        MaskingConfig(loss_on_noised=1)
    with pytest.raises(ValueError, match=r"^source 'x': option 'on': expected true or false, got 1$"):
        resolve_options("source 'x'", declared, {"on": 1})


def test_typed_arguments_converts_before_the_call():
    calls = []

    @typed_arguments
    def build(path: str, files: list[str], *, size: int = 2, rate: float | None = None) -> None:
        calls.append((path, files, size, rate))

    build(Path("out"), (Path("a.jsonl"), "b.jsonl"), size=4.0, rate="5e-4")
    build("out", ["a"])
    assert calls == [("out", ["a.jsonl", "b.jsonl"], 4, 5e-4), ("out", ["a"], 2, None)]
    with pytest.raises(ValueError, match=r"^build\.size: expected an integer, got 'big'$"):
        build("out", [], size="big")
    assert len(calls) == 2, "a bad argument stops the call before its body runs"
    with pytest.raises(TypeError, match="unsupported setting type"):

        @typed_arguments
        def untyped(model: object) -> None:
            pass
