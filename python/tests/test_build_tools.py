"""The build's own checks catch what they exist for."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys
import zipfile
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = ROOT / "tools" / "check_make_env.py"
TOOLS_LINE = "TOOLS_DIR ?= $(CURDIR)/.tools\n"


def run_check(makefile: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), "--makefile", str(makefile)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_makefile_plans_the_same_with_nothing_exported() -> None:
    done = run_check(ROOT / "Makefile")
    assert done.returncode == 0, done.stdout + done.stderr


def test_tools_dir_defined_below_its_first_use_is_caught(tmp_path: pathlib.Path) -> None:
    # The bug a fresh clone once hit: TOOLS_DIR defined after `CARGO_FUZZ := $(TOOLS_DIR)/...`,
    # so a plain `make fuzz` ran /bin/cargo-fuzz while CI, exporting TOOLS_DIR, passed.
    text = (ROOT / "Makefile").read_text()
    assert text.count(TOOLS_LINE) == 1
    moved = text.replace(TOOLS_LINE, "", 1).replace(
        "MDBOOK := $(TOOLS_DIR)", TOOLS_LINE + "MDBOOK := $(TOOLS_DIR)", 1
    )
    assert moved.index(TOOLS_LINE) > moved.index("CARGO_FUZZ := $(TOOLS_DIR)")
    (tmp_path / "Makefile").write_text(moved)
    done = run_check(tmp_path / "Makefile")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "TOOLS_DIR is expanded while undefined" in done.stdout
    assert "CARGO_FUZZ: /bin/cargo-fuzz lies outside the clone" in done.stdout


def test_shell_default_in_a_variable_is_caught(tmp_path: pathlib.Path) -> None:
    # A cache location read from the caller's environment only: empty for a newcomer.
    text = (ROOT / "Makefile").read_text()
    broken = text.replace(
        "FUZZ_TARGET_DIR ?= $(TARGET_DIR)/fuzz", "FUZZ_TARGET_DIR ?= $(CACHE_ROOT)/fuzz", 1
    )
    assert broken != text
    (tmp_path / "Makefile").write_text(broken)
    done = run_check(tmp_path / "Makefile")
    assert done.returncode == 1
    assert "CACHE_ROOT is expanded while undefined" in done.stdout


def layers() -> Any:
    spec = importlib.util.spec_from_file_location(
        "check_layers", ROOT / "tools" / "check_layers.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_layers"] = module
    spec.loader.exec_module(module)
    return module


def test_the_workspace_layers_hold() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_layers.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dfship-wire < dfship-core < dfship-distributed < dfship-python" in done.stdout


def cycles_of(check: Any, edges: Any) -> list[set[Any]]:
    return [set(c) for c in check.cycles(edges)]


def package(name: str, *deps: str, kind: str | None = None) -> dict[str, Any]:
    return {"name": name, "dependencies": [{"name": d, "kind": kind} for d in deps]}


def test_a_manifest_reaching_up_a_layer_is_refused() -> None:
    check = layers()
    fine = [
        package("dfship-wire", "crc32fast"),
        package("dfship-core", "dfship-wire", "datafusion"),
        package("dfship-distributed", "dfship-core", "dfship-wire"),
        package("dfship-python", "dfship-distributed", "dfship-core"),
        package("dfship-harness", "dfship-core"),
    ]
    assert check.manifest_problems(fine) == []
    up = [*fine[:1], package("dfship-core", "dfship-wire", "dfship-distributed"), *fine[2:]]
    assert any(
        "dfship-core depends on dfship-distributed" in p for p in check.manifest_problems(up)
    )
    dev_up = [package("dfship-wire", "dfship-core", kind="dev"), *fine[1:]]
    assert any("dfship-wire depends on dfship-core" in p for p in check.manifest_problems(dev_up))
    df_in_wire = [package("dfship-wire", "datafusion-proto"), *fine[1:]]
    assert any("free of DataFusion" in p for p in check.manifest_problems(df_in_wire))
    on_bindings = [*fine, package("dfship-benches", "dfship-python")]
    assert any(
        "dfship-benches depends on dfship-python" in p for p in check.manifest_problems(on_bindings)
    )


def test_a_rust_module_cycle_is_found(tmp_path: pathlib.Path) -> None:
    check = layers()
    src = tmp_path / "src"
    (src / "codec").mkdir(parents=True)
    (src / "lib.rs").write_text("pub mod codec;\npub mod error;\n")
    (src / "codec" / "mod.rs").write_text("mod expr;\npub use expr::encode;\npub struct Codec;\n")
    (src / "codec" / "expr.rs").write_text("use crate::error::Error;\npub fn encode() {}\n")
    (src / "error.rs").write_text(
        "// crate::codec in a comment is no import\npub struct Error;\n"
        "#[cfg(test)]\nmod tests { use crate::codec::Codec; }\n"
    )
    assert check.cycles(check.rust_edges(src)) == []
    # A child taking an item from its parent, which re-exports the child: a cycle.
    (src / "codec" / "expr.rs").write_text("use super::Codec;\npub fn encode() {}\n")
    assert cycles_of(check, check.rust_edges(src)) == [{("codec",), ("codec", "expr")}]
    # Through the crate root, in a grouped import.
    (src / "codec" / "expr.rs").write_text("pub fn encode() {}\n")
    (src / "error.rs").write_text("use crate::{codec::Codec};\npub struct Error;\n")
    (src / "codec" / "mod.rs").write_text(
        "mod expr;\nuse crate::error::Error;\npub struct Codec;\n"
    )
    assert cycles_of(check, check.rust_edges(src)) == [{("codec",), ("error",)}]


def test_a_python_import_cycle_is_found_even_when_lazy(tmp_path: pathlib.Path) -> None:
    check = layers()
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from pkg.a import A\n")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\nA = 1\n"
    )
    (pkg / "b.py").write_text("from pkg.a import A\nB = 2\n")
    assert check.cycles(check.python_edges(pkg)) == []
    (pkg / "a.py").write_text("A = 1\ndef f():\n    from pkg import b\n    return b.B\n")
    assert cycles_of(check, check.python_edges(pkg)) == [{"pkg.a", "pkg.b"}]


def test_the_wheel_check_refuses_project_tooling(tmp_path: pathlib.Path) -> None:
    # harness/driver/cross_python.py checks the wheel it builds for the
    # cross-interpreter suite; the TPC-H tooling must stay out of it.
    spec = importlib.util.spec_from_file_location(
        "cross_python", ROOT / "harness" / "driver" / "cross_python.py"
    )
    assert spec is not None and spec.loader is not None
    cross = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cross)

    def wheel(*names: str) -> pathlib.Path:
        path = tmp_path / f"dfship-{len(names)}.whl"
        with zipfile.ZipFile(path, "w") as whl:
            for name in names:
                whl.writestr(name, "")
        return path

    good = ("dfship/__init__.py", "dfship/_internal.abi3.so", "dfship-0.1.0.dist-info/RECORD")
    cross.check_wheel(wheel(*good))
    for stray in ("dfship/tpch/__init__.py", "dfship_tpch/__init__.py", "tests/test_x.py"):
        with pytest.raises(SystemExit, match="holds what it should not"):
            cross.check_wheel(wheel(*good, stray))
