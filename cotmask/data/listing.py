"""What ``cotmask data sources`` prints: every data source with its splits and default options, and every
augmentation kind with its default options."""

from __future__ import annotations

from typing import Any


def sources_listing() -> dict[str, Any]:
    """``{"sources": {name: {description, splits, options}}, "augmentations": {kind: options}}``, the
    options as ``{name: default}``."""
    from cotmask.data import SOURCES, source_splits
    from cotmask.data.augment import OPTIONS as AUG_OPTIONS

    return {
        "sources": {
            name: {
                "description": spec.description,
                "splits": source_splits(name, {}),
                "options": {o.name: o.default for o in spec.options.values()},
            }
            for name, spec in sorted(SOURCES.items())
        },
        "augmentations": {kind: {o.name: o.default for o in opts.values()} for kind, opts in AUG_OPTIONS.items()},
    }
