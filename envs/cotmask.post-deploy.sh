#!/usr/bin/env bash
# Run by Snakemake inside the freshly created envs/cotmask.yaml environment (--sdm conda), from the
# workflow's working directory: install the cotmask package of this repository (dependencies are
# already pinned in envs/cotmask.yaml, hence --no-deps).
set -euo pipefail
pip install --no-deps "$(dirname "$0")/.."
