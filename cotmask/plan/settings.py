"""Fine-tuning settings of one (model, train_set, method), merged over the config's layers, and the
mask-ratio x warm-up sweep points (Fig. 3) with the methods they generate."""

from __future__ import annotations

from cotmask.plan.paths import number_label
from cotmask.plan.schema import ConfigError

SAME_SETTING_TOLERANCE = 1e-9


def cell_for(config: dict, model: str, train_set: str) -> dict | None:
    """The cell of a (model, train_set) pair, or None."""
    for cell in config["cells"]:
        if (cell["model"], cell["train_set"]) == (model, train_set):
            return cell
    return None


def layered_settings(config: dict, model: str, train_set: str, method: str) -> dict:
    """training <- models[m].finetune <- train_sets[t].finetune <- methods[x] <- cell overrides[x]."""
    settings = dict(config["training"])
    settings.update(config["models"][model]["finetune"])
    settings.update(config["train_sets"][train_set]["finetune"])
    settings.update(config["methods"][method])
    cell = cell_for(config, model, train_set)
    if cell is not None:
        settings.update(cell["overrides"].get(method, {}))
    return settings


def sweep_point_method(base: str, ratio: float, warmup: float) -> str:
    """Name of the method a sweep point generates: <base>_p<ratio>_w<warmup>."""
    return f"{base}_p{number_label(ratio)}_w{number_label(warmup)}"


def sweep_points(config: dict, sweep: dict) -> list[dict]:
    """Grid points of one sweep: dicts {method, mask_ratio, mask_warmup_ratio}, warm-up major.

    A point whose (mask_ratio, mask_warmup_ratio) equals the base method's resolved setting for this
    (model, train_set) reuses the base method's fine-tunes instead of training duplicates.
    """
    base = sweep["base_method"]
    own = layered_settings(config, sweep["model"], sweep["train_set"], base)
    points = []
    for warmup in sweep["warmup"]:
        for ratio in sweep["ratios"]:
            same = (
                abs(own["mask_ratio"] - ratio) < SAME_SETTING_TOLERANCE
                and abs(own["mask_warmup_ratio"] - warmup) < SAME_SETTING_TOLERANCE
            )
            method = base if same else sweep_point_method(base, ratio, warmup)
            points.append({"method": method, "mask_ratio": ratio, "mask_warmup_ratio": warmup})
    return points


def sweep_methods(config: dict, points: dict[str, list[dict]]) -> dict[str, tuple[str, float, float]]:
    """Generated methods: name -> (base method, mask_ratio, mask_warmup_ratio).

    ``points``: sweep name -> its points. A generated name that is also a key of ``methods`` is refused.
    """
    generated = {}
    for name, sweep_point_list in points.items():
        base = config["sweeps"][name]["base_method"]
        for point in sweep_point_list:
            if point["method"] == base:
                continue
            if point["method"] in config["methods"]:
                raise ConfigError(
                    f"sweeps.{name}",
                    f"generated method name {point['method']!r} is also a key of methods; rename it",
                )
            generated[point["method"]] = (base, point["mask_ratio"], point["mask_warmup_ratio"])
    return generated
