#!/usr/bin/env bash
# What a fresh machine needs before `make demo` or `make test` can set up the
# rest: Python 3.10+ with venv, a Rust toolchain (the one rust-toolchain.toml
# names, with rustfmt and clippy) and a C compiler. Says what is missing and
# how to get it, instead of failing later inside a build.
set -u
python=${1:-python3}
missing=0
say() { echo "preflight: $*" >&2; }

if ! command -v "$python" >/dev/null 2>&1; then
  say "no '$python' on PATH: install Python 3.10 or newer (Debian: apt-get install python3 python3-venv), or run make with PYTHON=/path/to/python3"
  missing=1
elif ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  say "$("$python" --version 2>&1) is too old: dfship needs Python 3.10 or newer (make PYTHON=python3.X picks another)"
  missing=1
elif ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  say "$python cannot create virtualenvs: install its venv module (Debian: apt-get install python3-venv)"
  missing=1
fi

if ! command -v cargo >/dev/null 2>&1; then
  say "no 'cargo' on PATH: install a Rust toolchain with rustup (https://rustup.rs); rust-toolchain.toml selects the version"
  missing=1
else
  want=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
  have=$(rustc --version 2>/dev/null | awk '{print $2}')
  if [ -z "$have" ]; then
    say "rustc does not run: with rustup, 'rustup toolchain install $want --component rustfmt,clippy'"
    missing=1
  elif [ "$have" != "$want" ]; then
    say "rustc is $have but rust-toolchain.toml pins $want: 'rustup toolchain install $want --component rustfmt,clippy'"
    missing=1
  fi
  for tool in fmt clippy; do
    if ! cargo "$tool" --version >/dev/null 2>&1; then
      say "'cargo $tool' is missing: 'rustup component add $([ $tool = fmt ] && echo rustfmt || echo clippy)'"
      missing=1
    fi
  done
fi

if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1 && ! command -v clang >/dev/null 2>&1; then
  say "no C compiler (cc, gcc or clang): some dependencies compile C code (Debian: apt-get install build-essential)"
  missing=1
fi

if [ "$missing" -ne 0 ]; then
  say "the machine lacks what is listed above; see README.md, 'On a fresh machine'"
  exit 1
fi
echo "preflight: $("$python" --version 2>&1), $(rustc --version), $(cc --version 2>/dev/null | head -n 1)"
