#!/usr/bin/env bash
# Install a single-node SLURM (Debian 12: Slurm 22.05, munge 0.5) for tests/test_slurm.py.
#
# Only the packages are installed; nothing is started or enabled here. The test harness
# (tests/slurm_cluster.py) writes its own slurm.conf and munge key into a temporary directory,
# starts munged/slurmctld/slurmd on non-default ports and stops them by pid at the end.
# Safe to run twice; does nothing if the binaries are already present. Needs root (or sudo).
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)

have_all() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v squeue >/dev/null \
        && command -v munged >/dev/null && command -v mungekey >/dev/null \
        && [ -x /usr/sbin/slurmstepd ]
}

if have_all; then
    echo "install_slurm: slurm and munge already installed"
    exit 0
fi

# Without the packages tests/test_slurm.py skips (pytest -ra shows the reason), so a machine where
# they cannot be installed gets a warning, not a failed CI run.
warn_and_exit() {
    echo "install_slurm: WARNING: $1; tests/test_slurm.py will be skipped" >&2
    exit 0
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else
        warn_and_exit "need root or sudo to apt-get install ${PACKAGES[*]}"
    fi
fi
if ! command -v apt-get >/dev/null; then
    warn_and_exit "no apt-get (the harness expects Debian/Ubuntu's slurm-wlm and munge packages)"
fi

export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101 keeps the packages' init scripts from starting daemons during installation
# (no systemd in containers; the harness starts its own daemons with its own config).
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod +x "$POLICY"
    CREATED_POLICY=1
fi
cleanup() { if [ "$CREATED_POLICY" = 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT

$SUDO apt-get update -q || warn_and_exit "apt-get update failed"
$SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" || warn_and_exit "apt-get install failed"

if ! have_all; then
    warn_and_exit "installation finished but a binary is missing"
fi
echo "install_slurm: $(slurmctld -V) and munge $(munged --version 2>&1 | head -n1)"
