"""Check a workflow config without Snakemake: ``python -m cotmask.plan CONFIG``.

Reads the file (a YAML syntax error names its line and column, which Snakemake's own loader of
``--configfile`` does not), validates it against config/schema.yaml, plans every job, runs the path
checks of rules/common.smk from the current folder, and prints the jobs of a run from scratch per rule
as JSON. A bad config prints one ``error:`` line naming the file or the key, and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from cotmask.cli.common import print_json, report_error
from cotmask.plan import ConfigError, plan_config_file

PROG = "python -m cotmask.plan"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("config", help="workflow config file (YAML), e.g. config/smoke.yaml")
    args = parser.parse_args(argv)
    try:
        plan = plan_config_file(args.config)
    except (ConfigError, ValueError, OSError) as error:
        return report_error(PROG, error)
    print_json(plan.job_counts(), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
