"""The `datafusion` package's own Python tests, run against dfship.

Measures the README's claim that code written for the `datafusion` package
ports by changing the import. The suite is taken from a git mirror of
apache/datafusion-python (made with the workplace's ``fetch``) at one
commit, with the arrow-testing and parquet-testing data at the commits that
commit pins, into a directory outside this repository; none of it is ever
committed here. Every Python name token ``datafusion`` becomes ``dfship``
(imports and module attribute access; strings such as configuration keys
are left alone), and nothing else changes.

    python tools/reference_suite.py prepare --mirror M --arrow-testing A \\
        --parquet-testing P --out DIR
    python tools/reference_suite.py run --out DIR [-- PYTEST-ARGS]
    python tools/reference_suite.py compare --reference REF.xml --dfship OURS.xml

``run`` runs pytest there with the interpreter given (this virtualenv's by
default) and prints passed/failed/errors per test file from its JUnit XML,
which stays in DIR.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tokenize
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

#: The 55.0.0rc3 version bump: the suite the reference 55.0.0 was released with.
COMMIT = "2bd80eca6151917e02721dbb7025cfad6fcd74aa"
PYTEST_INI = """[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
doctest_optionflags = NORMALIZE_WHITESPACE ELLIPSIS
testpaths = python/tests
"""


def rename(source: str, old: str = "datafusion", new: str = "dfship") -> str:
    """Replaces every NAME token ``old`` with ``new``; strings and comments
    keep their text.

    >>> rename("import datafusion as d\\nfrom datafusion.expr import Expr\\nk = 'datafusion.x'\\n")
    "import dfship as d\\nfrom dfship.expr import Expr\\nk = 'datafusion.x'\\n"
    """
    lines = source.splitlines(keepends=True)
    hits = [
        tok.start
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.NAME and tok.string == old
    ]
    for row, col in reversed(hits):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[col + len(old) :]
    return "".join(lines)


def _extract(git_dir: Path, commit: str, paths: list[str], out: Path) -> None:
    archive = subprocess.run(
        ["git", "-C", str(git_dir), "archive", "--format=tar", commit, *paths],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(out, filter="data")


def _submodule_commit(git_dir: Path, commit: str, path: str) -> str:
    line = subprocess.run(
        ["git", "-C", str(git_dir), "ls-tree", commit, path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if len(line) < 3 or line[1] != "commit":
        raise SystemExit(f"{path} is not a submodule at {commit}")
    return line[2]


def prepare(args: argparse.Namespace) -> int:
    out: Path = args.out.resolve()
    repo = Path(__file__).resolve().parents[1]
    if out == repo or repo in out.parents:
        raise SystemExit(f"{out} is inside this repository: the suite must stay outside it")
    out.mkdir(parents=True, exist_ok=True)
    _extract(args.mirror, args.commit, ["python/tests", "conftest.py"], out)
    for path, mirror in (("testing", args.arrow_testing), ("parquet", args.parquet_testing)):
        pinned = _submodule_commit(args.mirror, args.commit, path)
        (out / path).mkdir(exist_ok=True)
        _extract(mirror, pinned, ["data"], out / path)
        print(f"{path}: {mirror} at {pinned}")
    renamed = 0
    for file in (
        []
        if args.keep_imports
        else sorted([*out.joinpath("python/tests").rglob("*.py"), out / "conftest.py"])
    ):
        text = file.read_text()
        new = rename(text)
        if new != text:
            file.write_text(new)
            renamed += 1
    (out / "pytest.ini").write_text(PYTEST_INI)
    print(f"suite at {args.commit} in {out}: imports renamed in {renamed} files")
    return 0


def summarize(junit: Path) -> dict[str, Counter[str]]:
    """Outcomes per test file from pytest's JUnit XML."""
    per_file: dict[str, Counter[str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("classname", "").split(".")
        key = next((p for p in name if p.startswith("test_")), ".".join(name[:3]))
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "errors"}.get(child.tag, "skipped")
        per_file.setdefault(key, Counter())[outcome] += 1
    return per_file


def run(args: argparse.Namespace) -> int:
    out: Path = args.out.resolve()
    junit = out / "junit.xml"
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    command = [args.python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--junitxml={junit}", "-o", "junit_family=xunit1",
               "--continue-on-collection-errors", *extra]  # fmt: skip
    code = subprocess.run(command, cwd=out).returncode
    if not junit.exists():
        print(f"pytest wrote no {junit} (exit status {code})", file=sys.stderr)
        return 1
    total: Counter[str] = Counter()
    for file, outcomes in sorted(summarize(junit).items()):
        total.update(outcomes)
        print(f"{file:<40} " + " ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print("total " + " ".join(f"{k} {v}" for k, v in sorted(total.items())))
    return 0


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """Each test's outcome and first line of its failure message, by id.
    A file that failed to import counts as one errored test named after it."""
    result: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "errors"}.get(child.tag, "skipped")
                message = (
                    (child.get("message") or "").splitlines()[0][:160]
                    if child.get("message")
                    else ""
                )
        result[test_id] = (outcome, message)
    return result


def compare(args: argparse.Namespace) -> int:
    """Of the tests the reference passes, how many dfship passes; the rest
    listed by file with their messages."""
    reference = outcomes(args.reference)
    ours = outcomes(args.dfship)
    passing = sorted(t for t, (o, _) in reference.items() if o == "passed")
    missing: dict[str, list[str]] = {}
    passed = 0
    for test in passing:
        outcome, message = ours.get(test, ("not collected", ""))
        if outcome == "passed":
            passed += 1
            continue
        file = test.split("::")[0]
        missing.setdefault(file, []).append(f"{test.split('::', 1)[1]}: {outcome}: {message}")
    share = passed / len(passing) if passing else 0.0
    print(f"dfship passes {passed} of the {len(passing)} tests the reference passes ({share:.1%})")
    for file, lines in sorted(missing.items()):
        print(f"\n{file} ({len(lines)})")
        for line in lines:
            print(f"  {line}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/reference_suite.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="extract the suite and its data, renaming the imports")
    p.add_argument("--mirror", type=Path, required=True, help="git dir of apache/datafusion-python")
    p.add_argument("--arrow-testing", type=Path, required=True, help="git dir of arrow-testing")
    p.add_argument("--parquet-testing", type=Path, required=True, help="git dir of parquet-testing")
    p.add_argument("--commit", default=COMMIT)
    p.add_argument("--out", type=Path, required=True, help="a directory outside this repository")
    p.add_argument(
        "--keep-imports",
        action="store_true",
        help="leave `datafusion` as it is (the suite as the reference package runs it)",
    )
    p.set_defaults(func=prepare)
    r = sub.add_parser("run", help="run the prepared suite and count outcomes per file")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--python", default=sys.executable, help="the interpreter with dfship installed")
    r.add_argument("pytest_args", nargs=argparse.REMAINDER)
    r.set_defaults(func=run)
    c = sub.add_parser("compare", help="dfship's outcomes on the tests the reference passes")
    c.add_argument("--reference", type=Path, required=True, help="JUnit XML of the reference run")
    c.add_argument("--dfship", type=Path, required=True, help="JUnit XML of dfship's run")
    c.set_defaults(func=compare)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
