#!/usr/bin/env bash
# The cross-interpreter suite needs a CPython 3.10+ of another minor version
# than the venv's. Finds one (pyenv's versions, python3.N on PATH) and, when
# there is none, installs one from Debian's packages where they can be had.
# Fails, naming what is missing, when no route works.
set -u
here=$("$1" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
for minor in 10 11 12 13 14; do
  v=3.$minor
  [ "$v" = "$here" ] && continue
  for exe in "$pyenv_root"/versions/$v.*/bin/python$v "$(command -v python$v)"; do
    if [ -n "$exe" ] && [ -x "$exe" ] && "$exe" -c 'import venv, ensurepip' 2>/dev/null; then
      echo "other-python: $("$exe" --version) at $exe (the venv runs Python $here)"
      exit 0
    fi
  done
done
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  for minor in 13 12 10 14; do
    v=3.$minor
    [ "$v" = "$here" ] && continue
    if apt-cache show "python$v-venv" >/dev/null 2>&1; then
      echo "other-python: installing python$v from Debian's packages"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python$v" "python$v-venv" >/dev/null && exit 0
    fi
  done
fi
echo "other-python: no CPython 3.10+ other than $here found (looked in $pyenv_root/versions and for python3.N on PATH) and none could be installed from Debian's packages." >&2
echo "other-python: install one (e.g. 'pyenv install 3.12' or your distribution's python3.12 and python3.12-venv) and run make test again." >&2
exit 1
