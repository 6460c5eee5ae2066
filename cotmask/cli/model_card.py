"""``cotmask model-card``: the model card (README.md) of a fine-tuned folder, with the results of an
evaluate job's folder (:func:`cotmask.model_card.card_with_results`; what the workflow's ``model_card`` rule
runs). Text work only: imports neither torch nor transformers."""

from __future__ import annotations

import argparse

from cotmask.cli.common import add_command, add_model


def _model_card(args: argparse.Namespace) -> int:
    from cotmask.model_card import card_with_results

    path, n_results = card_with_results(args.model, args.out, args.evals)
    print(f"wrote {path} ({n_results} evaluation results)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``cotmask model-card``."""
    parser = add_command(
        subparsers, "model-card", _model_card,
        help="write a fine-tune's model card (README.md), with the results of its evaluations",
        description="Write the Hugging Face model card of a cotmask fine-tune from its train_metrics.json "
        "(base model, method, hyper-parameters) and, with --evals, the summaries of an evaluate job's folder "
        "(cotmask evaluate-suite --out-dir, or the workflow's work/evals/...): accuracy, CI and n per "
        "benchmark and decoding, also as the card's model-index.",
    )
    add_model(parser)
    parser.add_argument("--evals", default=None,
                        help="folder of evaluation summaries (*.json with an 'accuracy'); leave out for a card "
                        "without results (default: none)")
    parser.add_argument("--out", default=None,
                        help="card file to write (default: README.md inside the --model folder, replacing the "
                        "card the fine-tune was saved with)")
