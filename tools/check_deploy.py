"""Checks the deployment files in examples/deploy (``make deploy-check``).

- Kubernetes manifests: every document validates, strictly (unknown fields
  are errors), against the Kubernetes API schema bundled by
  ``kubernetes-validate``;
- the Dockerfile: parsed, ``FROM`` first, only known instructions, the
  exec-form ``ENTRYPOINT`` and ``HEALTHCHECK`` are valid JSON;
- the systemd unit: ``systemd-analyze verify`` where systemd is installed
  (said so when it is not), with the unit's interpreter path pointed at
  this machine's Python, the only line that is machine-specific;
- everywhere a worker is started (the Dockerfile's entry point, the unit's
  ``ExecStart``, the Deployment's command), its options parse with the
  worker's own argument parser, so a renamed option fails here.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import yaml
from dockerfile_parse import DockerfileParser

from dfship.worker import _parser

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "examples" / "deploy"
KUBERNETES = "1.33.0"
DOCKER_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "COMMENT",
}  # fmt: skip


def worker_options(argv: list[str], where: str) -> list[str]:
    """The errors of a worker command line (``python -m dfship.worker ...``)."""
    try:
        at = argv.index("dfship.worker")
    except ValueError:
        return [f"{where}: does not start `-m dfship.worker`: {argv}"]
    parser = _parser()
    known = {o for action in parser._actions for o in action.option_strings}
    # argparse takes abbreviations: a deployment file must spell options out
    inexact = [a for a in argv[at + 1 :] if a.startswith("--") and a.split("=")[0] not in known]
    if inexact:
        return [f"{where}: not worker options: {inexact}"]
    try:
        parser.parse_args(argv[at + 1 :])
    except SystemExit:
        return [f"{where}: the worker refuses its options {argv[at + 1 :]}"]
    return []


def kubernetes(path: Path) -> list[str]:
    errors = []
    for doc in yaml.safe_load_all(path.read_text()):
        kind = f"{path.name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{kind}: {e.message} at {'/'.join(map(str, e.path))}")
        if doc.get("kind") == "Deployment":
            for c in doc["spec"]["template"]["spec"]["containers"]:
                argv = [str(a) for a in c.get("command", []) + c.get("args", [])]
                errors += worker_options(argv, f"{kind} container {c['name']}")
    return errors


def dockerfile(path: Path) -> list[str]:
    parser = DockerfileParser(fileobj=path.open("rb"))
    steps = [s for s in parser.structure if s["instruction"] != "COMMENT"]
    errors = []
    if not steps or steps[0]["instruction"] not in ("FROM", "ARG"):
        errors.append(f"{path.name}: does not start with FROM")
    for step in steps:
        if step["instruction"] not in DOCKER_INSTRUCTIONS:
            errors.append(f"{path.name}:{step['startline'] + 1}: unknown {step['instruction']}")
    for step in steps:
        value = step["value"]
        if step["instruction"] == "HEALTHCHECK":
            value = value[value.index("CMD") + 3 :]
        if step["instruction"] in ("ENTRYPOINT", "HEALTHCHECK"):
            try:
                argv = json.loads(value)
            except json.JSONDecodeError as e:
                errors.append(f"{path.name}:{step['startline'] + 1}: not exec-form JSON: {e}")
                continue
            if step["instruction"] == "ENTRYPOINT":
                errors += worker_options(argv, f"{path.name} ENTRYPOINT")
    return errors


def systemd(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.split("=", 1)[1])
    errors = worker_options(argv, f"{path.name} ExecStart")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print(f"  {path.name}: systemd-analyze is not installed here, the unit is not verified")
        return errors
    local = [
        f"ExecStart={shlex.join([sys.executable, *argv[1:]])}" if line == exec_start else line
        for line in lines
    ]
    with tempfile.TemporaryDirectory() as tmp:
        unit = Path(tmp) / path.name
        unit.write_text("\n".join(local) + "\n")
        done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    # verify also reports the host's own units' problems: keep ours
    ours = [line for line in (done.stdout + done.stderr).splitlines() if path.name in line]
    if done.returncode != 0 or ours:
        errors += [f"{path.name}: systemd-analyze verify: {line}" for line in ours] or [
            f"{path.name}: systemd-analyze verify failed: {done.stderr.strip()}"
        ]
    return errors


def main() -> int:
    errors = []
    manifests = sorted((DEPLOY / "k8s").glob("*.yaml"))
    for m in manifests:
        errors += kubernetes(m)
    errors += dockerfile(DEPLOY / "Dockerfile")
    units = sorted(DEPLOY.glob("*.service"))
    for u in units:
        errors += systemd(u)
    for e in errors:
        print(f"deploy-check: {e}", file=sys.stderr)
    if not errors:
        print(
            f"deploy-check: {len(manifests)} Kubernetes manifest(s) valid against the"
            f" {KUBERNETES} API, the Dockerfile, {len(units)} systemd unit(s), and every worker"
            " command line parses"
        )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
