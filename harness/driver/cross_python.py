"""Payloads across CPython minor versions, for real.

Builds dfship's abi3 wheel, installs it into a virtualenv of every other
CPython 3.10+ found on the machine (pyenv's versions, then ``python3.N`` on
PATH), makes payloads of every UDF family there and loads them here, and
the other way round. Prints one JSON report on stdout for
``harness/tests/cross_interpreter.rs``; progress goes to stderr.

Virtualenvs are cached in ``cross-python`` under the cargo target directory
(``CARGO_TARGET_DIR``, else ``target/``); the wheel is rebuilt and reinstalled
every run so that it is the code under test.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
CACHE = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "cross-python"
HERE = (sys.version_info.major, sys.version_info.minor)

# Runs under any interpreter with the wheel: pickles one expression per UDF
# family plus a built-in one, or loads the pickles it is given.
SCRIPT = textwrap.dedent(
    """
    import pickle, sys
    import pyarrow as pa, pyarrow.compute as pc
    import dfship
    from dfship import col, Window

    class Acc(dfship.Accumulator):
        def __init__(self): self.t = 0
        def update(self, *v): self.t += pc.sum(v[0]).as_py() or 0
        def merge(self, s): self.t += pc.sum(s[0]).as_py() or 0
        def state(self): return [pa.scalar(self.t, pa.int64())]
        def evaluate(self): return pa.scalar(self.t, pa.int64())

    class Ev(dfship.WindowEvaluator):
        def evaluate_all(self, values, n): return pa.array(range(n), pa.int64())

    def make():
        factor = 4
        times = lambda a: pc.multiply(a, factor)
        s = dfship.udf(times, [pa.int64()], pa.int64(), "immutable", name="x_scalar")
        a = dfship.udaf(Acc, pa.int64(), pa.int64(), [pa.int64()], "immutable", name="x_aggregate")
        w = dfship.udwf(Ev, [pa.int64()], pa.int64(), "immutable", name="x_window")
        return {
            "scalar": pickle.dumps(s(col("a"))),
            "aggregate": pickle.dumps(a(col("a"))),
            "window": pickle.dumps(w(col("a")).over(Window(order_by=[col("a")]))),
            "builtin": pickle.dumps(col("a") * 2 + 1),
        }

    def load(blobs):
        out = {}
        for family, blob in blobs.items():
            try:
                e = pickle.loads(blob)
                ctx = dfship.SessionContext()
                df = ctx.from_pydict({"a": [1, 2]})
                if family == "builtin":
                    out[family] = {"ok": df.select(e.alias("r")).to_pydict()["r"]}
                else:
                    out[family] = {"ok": str(e)}
            except Exception as e:
                out[family] = {
                    "err": type(e).__name__,
                    "value_error": isinstance(e, ValueError),
                    "msg": str(e),
                }
        return out

    if sys.argv[1] == "make":
        made = {"version": list(sys.version_info[:2]), "payloads": make()}
        sys.stdout.buffer.write(pickle.dumps(made))
    else:
        sys.stdout.buffer.write(pickle.dumps(load(pickle.loads(sys.stdin.buffer.read()))))
    """
)


def log(message: str) -> None:
    print(f"cross-python: {message}", file=sys.stderr, flush=True)


def other_interpreters() -> dict[tuple[int, int], pathlib.Path]:
    found: dict[tuple[int, int], pathlib.Path] = {}
    pyenv = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv")) / "versions"
    for minor in range(10, 15):
        if (3, minor) == HERE:
            continue
        candidates = (
            sorted(pyenv.glob(f"3.{minor}.*/bin/python3.{minor}")) if pyenv.is_dir() else []
        )
        on_path = shutil.which(f"python3.{minor}")
        if on_path:
            candidates.append(pathlib.Path(on_path))
        for exe in candidates:
            probe = subprocess.run(
                [str(exe), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True
            )
            if probe.returncode == 0 and probe.stdout.strip() == f"(3, {minor})".encode():
                found[(3, minor)] = exe
                break
    return found


# What cargo sets for the test binary that runs this script. Left in place, a
# nested cargo sees CARGO_MANIFEST_DIR and friends in its own environment, and
# build scripts that track them (ring's does) count as changed: the wheel build
# would recompile ring and everything above it (DataFusion included), and the
# next `maturin develop` would do it all again.
CARGO_TEST_VARS = re.compile(
    r"CARGO|CARGO_(PKG_\w+|MANIFEST_\w+|CRATE_\w+|BIN_\w+|PRIMARY_PACKAGE|TARGET_TMPDIR"
    r"|RUSTC_CURRENT_DIR)|OUT_DIR"
)


def build_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not CARGO_TEST_VARS.fullmatch(k)}


def build_wheel() -> pathlib.Path:
    out = CACHE / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    log("building the abi3 wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "maturin",
            "build",
            "--quiet",
            "-m",
            str(ROOT / "crates" / "python" / "Cargo.toml"),
            "--out",
            str(out),
        ],
        check=True,
        cwd=ROOT,
        env=build_env(),
        stdout=sys.stderr,
    )
    (built,) = out.glob("dfship-*.whl")
    check_wheel(built)
    return built


def check_wheel(wheel: pathlib.Path) -> None:
    """The wheel ships the package and nothing else: no project tooling
    (TPC-H lives in tpch/python), no other top-level names."""
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
    stray = [
        n
        for n in names
        if not (n.startswith("dfship/") or n.split("/")[0].endswith(".dist-info"))
        or n.startswith(("dfship/tpch/", "dfship_tpch/"))
    ]
    if stray or "dfship/__init__.py" not in names:
        raise SystemExit(f"cross-python: the wheel {wheel.name} holds what it should not: {stray}")
    log(f"wheel {wheel.name}: {len(names)} files, the dfship package only")


def venv_for(version: tuple[int, int], exe: pathlib.Path, wheel: pathlib.Path) -> pathlib.Path:
    env_dir = CACHE / f"py{version[0]}{version[1]}"
    python = env_dir / "bin" / "python"
    if not (env_dir / ".deps-installed").exists():
        log(f"creating a virtualenv of {exe}")
        shutil.rmtree(env_dir, ignore_errors=True)
        subprocess.run([str(exe), "-m", "venv", str(env_dir)], check=True, stdout=sys.stderr)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "pyarrow", "cloudpickle"], check=True, stdout=sys.stderr)
        (env_dir / ".deps-installed").touch()
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--force-reinstall",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        stdout=sys.stderr,
    )
    return python


def run_script(python: pathlib.Path | str, mode: str, stdin: bytes = b"") -> Any:
    done = subprocess.run([str(python), "-c", SCRIPT, mode], input=stdin, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"{python} {mode} failed:\n{done.stderr.decode()}")
    return pickle.loads(done.stdout)


def main() -> None:
    others = other_interpreters()
    report: dict[str, Any] = {"here": list(HERE), "others": []}
    if not others:
        print(json.dumps(report))
        return
    wheel = build_wheel()
    here_made = run_script(sys.executable, "make")
    for version, exe in sorted(others.items()):
        python = venv_for(version, exe, wheel)
        there_made = run_script(python, "make")
        report["others"].append(
            {
                "version": list(version),
                "made_there": there_made["version"],
                # Their payloads loaded here, ours loaded there.
                "loaded_here": run_script(
                    sys.executable, "load", pickle.dumps(there_made["payloads"])
                ),
                "loaded_there": run_script(python, "load", pickle.dumps(here_made["payloads"])),
            }
        )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
