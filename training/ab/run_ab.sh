#!/usr/bin/env bash
# Runs the recipe A/B one option after another (resuming any that stopped), from the
# repository root: training/ab/run_ab.sh [OPTION.yaml ...]. Results: runs/ab/<option>/.
set -u
cd "$(dirname "$0")/../.."
options=("$@")
[ ${#options[@]} -gt 0 ] || options=(training/ab/[0-9]_*.yaml)
for option in "${options[@]}"; do
    name=$(basename "$option" .yaml)
    out=runs/ab/$name
    [ -f "$out/metrics.json" ] && continue
    resume=()
    [ -f "$out/last.pt" ] && resume=(--resume "$out/last.pt")
    mkdir -p runs/ab
    .venv/bin/python -m sgcp_core train --config training/ab/base.yaml --config "$option" \
        --no-progress "${resume[@]}" >> "runs/ab/$name.log" 2>&1 || exit $?
done
