#!/usr/bin/env bash
# Re-lock the tested dependency set (constraints.txt).
#
# Installs the newest versions that pyproject.toml's ranges allow, WITHOUT the constraints, in a
# throw-away virtual environment; runs the whole test suite there; and only if it passes rewrites
# constraints.txt with exactly what was installed (`pip freeze`, transitive packages included).
# A failing suite leaves constraints.txt untouched and prints which versions failed.
#
#   scripts/update_constraints.sh              # the whole suite (about 5 minutes on 2 cores)
#   scripts/update_constraints.sh -m "not slow"  # extra arguments go to pytest
#
# torch stays pinned (TORCH, default 2.13.0): an unpinned torch pulls the CUDA build (gigabytes).
# Not run by .ci/run; see the README ("Dependencies") for when to run it.
set -euo pipefail
cd "$(dirname "$0")/.."
torch_version=${TORCH:-2.13.0}
work=$(mktemp -d)
trap 'rm -rf "$work" constraints.txt.new' EXIT
export PIP_PROGRESS_BAR=off PIP_DISABLE_PIP_VERSION_CHECK=1 HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
pip install -q "torch==$torch_version"
pip install -q -e ".[dev]"
pip freeze --exclude-editable | grep -v -i '^endorm' | sed -E 's/^(torch==[^+]+)\+.*$/\1/' > "$work/freeze.txt"
echo "newest versions within pyproject.toml's ranges:"
grep -i -E '^(torch|transformers|trl|accelerate|tokenizers|datasets|math-verify|numpy|scipy|hypothesis|pytest)==' \
    "$work/freeze.txt" | sed 's/^/  /'
if ! pytest -q -p no:cacheprovider "$@"; then
    echo "the suite fails with these versions: constraints.txt is unchanged" >&2
    exit 1
fi
{
    echo "# The exact dependency set the test suite passed with (pip freeze, transitive packages included)."
    echo "# Written by scripts/update_constraints.sh on $(date -u +%Y-%m-%d) with Python $(python -c 'import platform; print(platform.python_version())')."
    echo "# Used by the README's test command: pip install -c constraints.txt -e \".[dev]\""
    cat "$work/freeze.txt"
} > constraints.txt.new
mv constraints.txt.new constraints.txt
echo "wrote constraints.txt ($(grep -c '==' constraints.txt) packages)"
