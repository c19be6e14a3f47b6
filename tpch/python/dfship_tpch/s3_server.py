"""A real S3-protocol server for the object-store tests and ``make tpch-s3``:
moto's standalone server, started as its own process (on loopback unless told
otherwise) with IAM authentication on.

moto is a pip package (pinned in constraints.txt), so the tests need no
container runtime or second toolchain, and its server checks request
signatures: a wrong secret gets the ``SignatureDoesNotMatch`` a real S3
returns. The first requests (creating the user, its policy and its access
key) are let through unauthenticated; every later one must be signed with
that key.

As a command, it runs another command against a fresh server and stops the
server after it::

    python -m dfship_tpch.s3_server --bucket tpch -- dfship-tpch gen --out s3://tpch/sf1 ...

The command sees the standard ``AWS_*`` variables pointing at the server.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The requests that set up the user before authentication starts.
_SETUP_ACTIONS = 3


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class S3Server:
    """A running server and the one key it accepts."""

    proc: subprocess.Popen[bytes]
    endpoint: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The standard variables that point a process at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self, **overrides: Any) -> Any:
        import boto3

        settings = {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "region_name": self.region,
            **overrides,
        }
        return boto3.client("s3", **settings)

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_s3_server(log: Path, host: str = "127.0.0.1") -> S3Server:
    """Starts ``python -m moto.server`` on ``host`` and returns it with a
    fresh key."""
    import boto3

    port = free_port(host)
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_ACTIONS)}
    for name in list(env):
        if name.startswith("AWS_"):
            del env[name]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the S3 server exited with {proc.returncode}: {log.read_text()}")
        try:
            # A bare connection: an HTTP request would use up a setup action.
            socket.create_connection((host, port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the S3 server did not listen: {log.read_text()}") from None
            time.sleep(0.1)
    endpoint = f"http://{host}:{port}"
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
        region_name="us-east-1",
    )
    iam.create_user(UserName="dfship")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="dfship", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="dfship")["AccessKey"]
    return S3Server(proc, endpoint, key["AccessKeyId"], key["SecretAccessKey"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dfship_tpch.s3_server",
        description="Run COMMAND with AWS_* variables pointing at a fresh local S3 server.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--bucket", action="append", default=[], help="create this bucket first")
    parser.add_argument("--log", type=Path, default=Path("s3-server.log"), help="server log")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    server = start_s3_server(args.log, args.host)
    try:
        for bucket in args.bucket:
            server.create_bucket(bucket)
        print(f"s3 server: {server.endpoint} (log {args.log})", flush=True)
        return subprocess.run(command, env={**os.environ, **server.env()}).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
