"""Payloads made by another CPython minor version, for real: the abi3 wheel is
built and installed into a virtualenv of every other CPython 3.10+ found on
the machine, which then serializes expressions for this interpreter (and
loads this interpreter's)."""

from __future__ import annotations

import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import textwrap

import pytest
from _workers import evaluate, make_closure_udf

import dfship
from dfship import Expr, col
from dfship.exceptions import PythonVersionMismatchError

ROOT = pathlib.Path(__file__).resolve().parents[2]
CACHE = ROOT / "target" / "cross-python"
HERE = (sys.version_info.major, sys.version_info.minor)


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


INTERPRETERS = other_interpreters()


@pytest.fixture(scope="session")
def wheel() -> pathlib.Path:
    out = CACHE / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "maturin",
            "build",
            "--quiet",
            "-m",
            str(ROOT / "codec" / "Cargo.toml"),
            "--out",
            str(out),
        ],
        check=True,
        cwd=ROOT,
    )
    (built,) = out.glob("dfship-*.whl")
    return built


def venv_for(version: tuple[int, int], exe: pathlib.Path, wheel: pathlib.Path) -> pathlib.Path:
    """A virtualenv of `exe` with pyarrow, cloudpickle and the wheel (cached
    across runs; the wheel is reinstalled every run)."""
    env_dir = CACHE / f"py{version[0]}{version[1]}"
    python = env_dir / "bin" / "python"
    if not (env_dir / ".deps-installed").exists():
        shutil.rmtree(env_dir, ignore_errors=True)
        subprocess.run([str(exe), "-m", "venv", str(env_dir)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "pyarrow", "cloudpickle"], check=True
        )
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
    )
    return python


MAKE_PAYLOADS = textwrap.dedent(
    """
    import pickle, sys
    import pyarrow as pa, pyarrow.compute as pc
    import dfship
    from dfship import col
    factor = 4
    times = lambda a: pc.multiply(a, factor)
    f = dfship.udf(times, [pa.int64()], pa.int64(), "immutable", name="t4")
    out = {
        "udf": pickle.dumps(f(col("a"))),
        "builtin": pickle.dumps(col("a") * 2 + 1),
        "version": sys.version_info[:2],
    }
    sys.stdout.buffer.write(pickle.dumps(out))
    """
)

LOAD_PAYLOAD = textwrap.dedent(
    """
    import pickle, sys
    import dfship
    blob = sys.stdin.buffer.read()
    try:
        pickle.loads(blob)
        print("loaded")
    except dfship.exceptions.PythonVersionMismatchError as e:
        print(f"{type(e).__name__}|{isinstance(e, ValueError)}|{e}")
    """
)


def test_other_interpreters_are_present() -> None:
    if not INTERPRETERS:
        pytest.skip("no other CPython 3.10+ minor version is installed on this machine")
    assert all(v != HERE for v in INTERPRETERS)


@pytest.mark.parametrize("version", sorted(INTERPRETERS), ids=lambda v: f"py{v[0]}{v[1]}")
def test_payloads_from_another_python_are_refused_naming_both(
    version: tuple[int, int], wheel: pathlib.Path
) -> None:
    python = venv_for(version, INTERPRETERS[version], wheel)
    made = subprocess.run([str(python), "-c", MAKE_PAYLOADS], capture_output=True, check=True)
    payloads = pickle.loads(made.stdout)
    assert tuple(payloads["version"]) == version

    with pytest.raises(PythonVersionMismatchError) as info:
        pickle.loads(payloads["udf"])
    message = str(info.value)
    assert f"Python {version[0]}.{version[1]}" in message
    assert f"Python {HERE[0]}.{HERE[1]}" in message
    assert info.value.sender == version and info.value.receiver == HERE

    # No inline Python code: the expression is portable across versions.
    assert evaluate(pickle.loads(payloads["builtin"]), [1, 2]) == [3, 5]

    # And the other direction: this interpreter's UDF payload over there.
    ours = pickle.dumps(make_closure_udf(2, {"bias": 1})(col("a")))
    loaded = subprocess.run(
        [str(python), "-c", LOAD_PAYLOAD], input=ours, capture_output=True, check=True
    )
    kind, is_value_error, text = loaded.stdout.decode().strip().split("|", 2)
    assert (kind, is_value_error) == ("PythonVersionMismatchError", "True")
    assert f"Python {HERE[0]}.{HERE[1]}" in text and f"Python {version[0]}.{version[1]}" in text


def test_same_version_payloads_load(wheel: pathlib.Path) -> None:
    """Control: the wheel is real and payloads of this version load."""
    blob = make_closure_udf(3, {"bias": 0})(col("a")).to_bytes()
    assert evaluate(Expr.from_bytes(blob), [2]) == [6]
    assert wheel.name.startswith(f"dfship-{dfship.__version__}")
    assert "abi3" in wheel.name
