#!/usr/bin/env bash
# Prints the path of a virtualenv with test/e2e/runtime/python/requirements.txt installed, building it once: the
# venv is cached by the hash of the requirements (and the Python version), so a changed pin builds a
# new one and an unchanged one costs nothing. Safe to run concurrently (one builder, the rest wait).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
requirements="$here/requirements.txt"
python="${OTELKIT_PYTHON:-python3}"
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "venv.sh: Python >= 3.11 is required ($python is $version); set OTELKIT_PYTHON" >&2
  exit 1
fi
hash="$( (cat "$requirements"; echo "$version") | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/otelkit"
venv="$cache/python-venv-$hash"
mkdir -p "$cache"
exec 9>"$venv.lock"
flock 9
# the marker is written last, so a build that failed part-way is started again, never used
if [[ ! -f "$venv/.complete" ]]; then
  rm -rf "$venv"
  "$python" -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements" >&2
  touch "$venv/.complete"
fi
echo "$venv"
