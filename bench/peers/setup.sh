#!/usr/bin/env bash
# Create or update the virtual environment of one benchmark peer: bench/.venvs/PEER.
#
#   bash bench/peers/setup.sh feast|mlflow
#
# Installs bench/peers/requirements-PEER.txt (top-level pins) constrained by
# bench/peers/constraints-PEER.txt (a full freeze, when present) so transitive versions are
# reproducible too. Idempotent: a stamp holding the hash of both files skips a venv that is
# already up to date. Quiet; prints one line when done. Peers are never riskline dependencies.
set -euo pipefail

usage() { echo "usage: $0 feast|mlflow" >&2; exit 2; }
[[ $# -eq 1 ]] || usage
peer=$1
case "$peer" in feast | mlflow) ;; *) usage ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venvs=$(dirname "$here")/.venvs
venv=$venvs/$peer
req=$here/requirements-$peer.txt
con=$here/constraints-$peer.txt
stamp=$venv/.riskline-peer-stamp
python=${PYTHON:-python3}

files=("$req")
[[ -f "$con" ]] && files+=("$con")
want=$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)

start=$SECONDS
# Up to date: same pins as at the last successful install (checked cheaply: importing feast
# takes seconds; the full import check runs after every install).
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && have=$("$venv/bin/python" -c "from importlib.metadata import version as v; print(v('$peer'))" 2>/dev/null); then
    echo "$peer: $have up to date in $venv"
    exit 0
fi

mkdir -p "$venvs"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip_args=(install --quiet --disable-pip-version-check --no-input -r "$req")
[[ -f "$con" ]] && pip_args+=(-c "$con")
log=$venv/.riskline-peer-setup.log
# pip's output (including this machine's warnings about absent local indexes) goes to a log,
# shown only on failure.
if ! "$venv/bin/python" -m pip "${pip_args[@]}" > "$log" 2>&1; then
    grep -v "^WARNING: Location 'file:" "$log" | tail -n 30 >&2
    echo "$peer: pip install failed; full log in $log" >&2
    exit 1
fi
version=$("$venv/bin/python" -c "import $peer; print($peer.__version__)")
echo "$want" > "$stamp"
echo "$peer: $version installed in $venv in $((SECONDS - start)) s"
