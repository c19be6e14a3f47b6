"""Object stores through the public API, against real servers: moto's S3
server as its own process (``dfship_tpch.s3_server``), and a small HTTP file server of the
test's own with range requests."""

from __future__ import annotations

import http.server
import os
import pickle
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dfship
import dfship_tpch
from dfship import exceptions
from dfship.distributed import DistributedContext, Worker, spawn_worker
from dfship.object_store import AmazonS3, Http, LocalFileSystem, MicrosoftAzure
from dfship_tpch.s3_server import S3Server, free_port, start_s3_server


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_s3_server(tmp_path_factory.mktemp("s3") / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3: S3Server, request: pytest.FixtureRequest) -> str:
    name = "b-" + request.node.name.lower().replace("_", "-")[:50].strip("-")
    s3.create_bucket(name)
    return name


def s3_store(s3: S3Server, bucket: str, **overrides: object) -> AmazonS3:
    settings: dict[str, object] = {
        "bucket_name": bucket,
        "region": s3.region,
        "access_key_id": s3.access_key_id,
        "secret_access_key": s3.secret_access_key,
        "endpoint": s3.endpoint,
        "allow_http": True,
        **overrides,
    }
    return AmazonS3(**settings)  # type: ignore[arg-type]


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's environment configures no cloud store."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "GOOGLE_", "AZURE_")):
            monkeypatch.delenv(name)


ROOT = Path(__file__).resolve().parents[2]

FRAME = {"id": [1, 2, 3, 4], "name": ["a", "b", None, "d"], "score": [1.5, 2.5, 3.5, None]}


def test_parquet_and_csv_round_trip_through_s3(s3: S3Server, bucket: str) -> None:
    ctx = dfship.SessionContext()
    ctx.register_object_store("s3://", s3_store(s3, bucket), host=bucket)
    df = ctx.from_pydict(FRAME)
    df.write_parquet(f"s3://{bucket}/pq/")
    df.write_csv(f"s3://{bucket}/csv/", with_header=True)
    keys = s3.keys(bucket)
    assert any(k.startswith("pq/") and k.endswith(".parquet") for k in keys), keys
    assert any(k.startswith("csv/") and k.endswith(".csv") for k in keys), keys
    got = ctx.read_parquet(f"s3://{bucket}/pq/").sort(dfship.col("id")).to_pydict()
    assert got == FRAME
    csv = ctx.read_csv(f"s3://{bucket}/csv/").sort(dfship.col("id")).to_pydict()
    assert csv["id"] == FRAME["id"] and csv["name"] == FRAME["name"]

    ctx.register_parquet("t", f"s3://{bucket}/pq/")
    ctx.register_csv("c", f"s3://{bucket}/csv/")
    joined = ctx.sql("SELECT t.id, c.score FROM t JOIN c USING (id) ORDER BY t.id").to_pydict()
    assert joined["id"] == [1, 2, 3, 4]
    ctx.sql(f"CREATE EXTERNAL TABLE ext STORED AS PARQUET LOCATION 's3://{bucket}/pq/'").collect()
    assert ctx.sql("SELECT count(*) AS n FROM ext").to_pydict() == {"n": [4]}


def test_json_and_listing_tables_read_from_s3(s3: S3Server, bucket: str) -> None:
    s3.client().put_object(
        Bucket=bucket, Key="json/part.json", Body=b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n'
    )
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table({"v": [10, 20]}), buffer)
    s3.client().put_object(
        Bucket=bucket, Key="list/one.parquet", Body=buffer.getvalue().to_pybytes()
    )
    ctx = dfship.SessionContext()
    store = s3_store(s3, bucket)
    got = ctx.read_json(f"s3://{bucket}/json/", object_store=store).sort(dfship.col("a"))
    assert got.to_pydict() == {"a": [1, 2], "b": ["x", "y"]}
    ctx.register_listing_table("l", f"s3://{bucket}/list/")
    assert ctx.sql("SELECT sum(v) AS s FROM l").to_pydict() == {"s": [30]}
    ctx.register_json("j", f"s3://{bucket}/json/")
    assert ctx.sql("SELECT max(a) AS m FROM j").to_pydict() == {"m": [2]}


def test_stores_come_from_the_environment_without_registration(
    s3: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    ctx = dfship.SessionContext()
    ctx.from_pydict(FRAME).write_parquet(f"s3://{bucket}/env/")
    assert ctx.read_parquet(f"s3://{bucket}/env/").count() == 4


def test_local_file_system_with_a_prefix(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1, 2, 3]}), tmp_path / "data.parquet")
    ctx = dfship.SessionContext()
    ctx.register_object_store("file://", LocalFileSystem(prefix=str(tmp_path)))
    # Paths are now relative to the prefix.
    assert ctx.read_parquet("file:///data.parquet").to_pydict() == {"x": [1, 2, 3]}
    ctx.deregister_object_store("file://")
    assert ctx.read_parquet(str(tmp_path / "data.parquet")).count() == 3


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the single byte ranges object_store asks for."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        wanted = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not wanted or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        first, _, last = wanted.removeprefix("bytes=").partition("-")
        start = int(first) if first else size - int(last)
        end = min(int(last), size - 1) if first and last else size - 1
        body = path.read_bytes()[start : end + 1]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Last-Modified", self.date_time_string(int(path.stat().st_mtime)))
        self.end_headers()
        import io

        return io.BytesIO(body)


@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    def handler(*args: object) -> _RangeHandler:
        return _RangeHandler(*args, directory=str(root))  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_http_store_reads_parquet_and_csv(http_files: tuple[str, Path]) -> None:
    url, root = http_files
    pq.write_table(pa.table({"k": [1, 2, 3], "v": ["x", "y", "z"]}), root / "t.parquet")
    (root / "t.csv").write_text("k,v\n1,x\n2,y\n")
    ctx = dfship.SessionContext()
    ctx.register_object_store("http://", Http(url), host=url.removeprefix("http://"))
    assert ctx.read_parquet(f"{url}/t.parquet").to_pydict() == {
        "k": [1, 2, 3],
        "v": ["x", "y", "z"],
    }
    assert ctx.read_csv(f"{url}/t.csv").to_pydict() == {"k": [1, 2], "v": ["x", "y"]}
    # Registering through the reader's own argument.
    other = dfship.SessionContext()
    assert other.read_parquet(f"{url}/t.parquet", object_store=Http(url)).count() == 3


# -- bad input: typed errors that name the URL and never the secret ------------


def test_wrong_credentials(s3: S3Server, bucket: str) -> None:
    ctx = dfship.SessionContext()
    ctx.register_object_store("s3://", s3_store(s3, bucket), host=bucket)
    ctx.from_pydict(FRAME).write_parquet(f"s3://{bucket}/x/")
    wrong = "WrongSecretKeyValue0123456789abcdef"
    ctx.register_object_store("s3://", s3_store(s3, bucket, secret_access_key=wrong), host=bucket)
    with pytest.raises(exceptions.ObjectStoreAuthError) as caught:
        ctx.read_parquet(f"s3://{bucket}/x/").collect()
    message = str(caught.value)
    assert f"s3://{bucket}/x" in message
    assert isinstance(caught.value, PermissionError)
    assert wrong not in message and s3.secret_access_key not in message


def test_missing_bucket(s3: S3Server) -> None:
    ctx = dfship.SessionContext()
    ctx.register_object_store("s3://", s3_store(s3, "no-such-bucket"), host="no-such-bucket")
    with pytest.raises(exceptions.ObjectStoreNotFoundError) as caught:
        ctx.read_parquet("s3://no-such-bucket/data/").collect()
    assert "s3://no-such-bucket" in str(caught.value)
    assert s3.secret_access_key not in str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)


def test_unreachable_endpoint_fails_within_the_retry_bound() -> None:
    secret = "UnreachableSecret0123456789"
    dead = f"http://127.0.0.1:{free_port()}"
    store = AmazonS3(
        "b",
        region="us-east-1",
        access_key_id="AKIDEXAMPLE",
        secret_access_key=secret,
        endpoint=dead,
        allow_http=True,
        client_options={"retry_timeout": "2s", "max_retries": "2"},
    )
    ctx = dfship.SessionContext()
    ctx.register_object_store("s3://", store, host="b")
    start = time.monotonic()
    with pytest.raises(exceptions.ObjectStoreUnavailableError) as caught:
        ctx.read_parquet("s3://b/data/").collect()
    assert time.monotonic() - start < 30
    assert "s3://b" in str(caught.value) and secret not in str(caught.value)
    assert isinstance(caught.value, ConnectionError)


def test_unknown_scheme_and_unconfigured_store(no_aws_env: None) -> None:
    ctx = dfship.SessionContext()
    with pytest.raises(dfship.exceptions.DfshipError) as caught:
        ctx.read_parquet("ftp://host/data.parquet").collect()
    assert "ftp" in str(caught.value)
    with pytest.raises(exceptions.ObjectStoreNotConfiguredError) as missing:
        ctx.read_parquet("s3://nowhere/data/").collect()
    message = str(missing.value)
    assert "s3://nowhere" in message
    assert "AWS_ACCESS_KEY_ID" in message and "--object-store" in message


def test_bad_store_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="no_such_option"):
        AmazonS3("b", client_options={"no_such_option": "1"})
    with pytest.raises(ValueError, match="retry_timeout"):
        AmazonS3("b", client_options={"retry_timeout": "soon"})
    with pytest.raises(ValueError, match="ftp"):
        Http("ftp://example.invalid")
    ctx = dfship.SessionContext()
    with pytest.raises(ValueError, match="gopher"):
        ctx.register_object_store("gopher://", LocalFileSystem())
    with pytest.raises(ValueError, match="Cannot determine object store URL"):
        ctx.read_parquet("relative/path", object_store=LocalFileSystem())


def test_stores_never_pickle(s3: S3Server) -> None:
    store = s3_store(s3, "b")
    with pytest.raises(TypeError, match="credentials stay in this process") as caught:
        pickle.dumps(store)
    assert s3.secret_access_key not in str(caught.value)
    assert s3.secret_access_key not in repr(store)
    azure = MicrosoftAzure("c", account="acct", access_key="a2V5a2V5a2V5")
    with pytest.raises(TypeError):
        pickle.dumps(azure)


def test_a_plan_carries_the_url_but_no_credential(s3: S3Server, bucket: str) -> None:
    ctx = dfship.SessionContext()
    ctx.register_object_store("s3://", s3_store(s3, bucket), host=bucket)
    ctx.from_pydict(FRAME).write_parquet(f"s3://{bucket}/p/")
    df = ctx.read_parquet(f"s3://{bucket}/p/").filter(dfship.col("id") > dfship.lit(1))
    blob = pickle.dumps(df.execution_plan())
    assert f"{bucket}".encode() in blob
    assert s3.secret_access_key.encode() not in blob
    assert s3.access_key_id.encode() not in blob


# -- workers configured by their own environment --------------------------------

# Small enough that every SF 0.01 lineitem and orders file splits into
# several tasks, so that the scans run on the workers.
BYTES_PER_TASK = 64 * 1024


@pytest.fixture(scope="module")
def tpch_s3(s3: S3Server) -> str:
    """SF 0.01 in four parts, written to its own bucket by `dfship-tpch gen`
    with the server's environment variables (the same generator as the
    local dataset, so the two hold the same rows)."""
    s3.create_bucket("tpch")
    _tpch_gen(s3, "s3://tpch/sf0.01")
    return "s3://tpch/sf0.01"


def _tpch_gen(s3: S3Server, out: str) -> str:
    command = ["cargo", "run", "--quiet", "-p", "dfship-tpch", "--"]
    command += ["gen", "--sf", "0.01", "--parts", "4", "--out", out]
    done = subprocess.run(
        command, cwd=ROOT, env={**os.environ, **s3.env()}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_tpch_gen_to_s3_is_idempotent_and_marks_the_dataset_last(
    s3: S3Server, tpch_s3: str
) -> None:
    keys = s3.keys("tpch", "sf0.01/")
    assert "sf0.01/tpch-dataset.txt" in keys
    assert "sf0.01/tpch-dataset.txt.partial" not in keys
    assert len([k for k in keys if k.endswith(".parquet")]) == 2 + 6 * 4
    assert "nothing to generate" in _tpch_gen(s3, tpch_s3)
    # A file lost: the marker goes while it is written again, then returns.
    s3.client().delete_object(Bucket="tpch", Key="sf0.01/orders/part-3.parquet")
    out = _tpch_gen(s3, tpch_s3)
    assert "orders" in out and "lineitem" not in out, out
    assert "sf0.01/orders/part-3.parquet" in s3.keys("tpch", "sf0.01/")
    assert "sf0.01/tpch-dataset.txt.partial" not in s3.keys("tpch", "sf0.01/")


def test_an_interrupted_tpch_dataset_on_s3_is_not_read(
    s3: S3Server, tpch_s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an interrupted `gen` leaves: the request recorded in the partial
    marker, some files, no marker. Readers refuse it."""
    client = s3.client()
    client.copy_object(
        Bucket="tpch",
        Key="cut/tpch-dataset.txt.partial",
        CopySource={"Bucket": "tpch", "Key": "sf0.01/tpch-dataset.txt"},
    )
    client.copy_object(
        Bucket="tpch",
        Key="cut/nation/part-1.parquet",
        CopySource={"Bucket": "tpch", "Key": "sf0.01/nation/part-1.parquet"},
    )
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    with pytest.raises(dfship_tpch.DatasetError, match="missing"):
        dfship_tpch.dataset("s3://tpch/cut")
    done = subprocess.run(
        ["cargo", "run", "--quiet", "-p", "dfship-tpch", "--", "run", "--data", "s3://tpch/cut"],
        cwd=ROOT,
        env={**os.environ, **s3.env()},
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "tpch-dataset.txt is missing" in done.stderr, done.stderr


def _tpch_ctx(ctx: dfship.SessionContext, root: str) -> dfship.SessionContext:
    for table in dfship_tpch.TABLES:
        ctx.register_parquet(table, f"{root}/{table}/")
    return ctx


def _distributed(
    s3: S3Server, urls: list[str], root: str, token: str | None = None
) -> DistributedContext:
    """A coordinator that plans with a registered store (it lists the files);
    the workers read them with their own configuration."""
    dist = DistributedContext(urls, bytes_per_task=BYTES_PER_TASK, token=token)
    dist.register_object_store("s3://", s3_store(s3, "tpch"), host="tpch")
    _tpch_ctx(dist, root)
    plan = dist.sql(dfship_tpch.query_text(1)).execution_plan().display_indent()
    assert "DistributedExec" in plan, plan
    return dist


def _same_as_local(ctx: dfship.SessionContext, local: dfship.SessionContext, n: int) -> None:
    got, want = dfship_tpch.run_query(ctx, n), dfship_tpch.run_query(local, n)
    ordered = dfship_tpch.is_ordered(dfship_tpch.query_text(n))
    assert dfship_tpch.compare(got, want, ordered=ordered) is None, f"q{n:02d}"


def test_tpch_from_s3_single_node_and_on_two_workers_configured_by_env(
    s3: S3Server, tpch_s3: str, tpch_data: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = dfship_tpch.context(tpch_data)
    with monkeypatch.context() as m:
        for name, value in s3.env().items():
            m.setenv(name, value)
        single = _tpch_ctx(dfship.SessionContext(), tpch_s3)
        for n in range(1, 23):
            _same_as_local(single, local, n)

    # The coordinator's environment configures no store; the workers have
    # only their own variables.
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    workers = [spawn_worker(env=s3.env()) for _ in range(2)]
    try:
        dist = _distributed(s3, [w.url for w in workers], tpch_s3)
        for n in range(1, 23):
            _same_as_local(dist, local, n)
    finally:
        for w in workers:
            w.stop()


def test_a_worker_without_a_store_says_what_to_set(
    s3: S3Server, tpch_s3: str, no_aws_env: None
) -> None:
    workers = [spawn_worker() for _ in range(2)]
    try:
        dist = _distributed(s3, [w.url for w in workers], tpch_s3)
        with pytest.raises(exceptions.ObjectStoreNotConfiguredError) as caught:
            dfship_tpch.run_query(dist, 1)
    finally:
        for w in workers:
            w.stop()
    message = str(caught.value)
    assert "s3://tpch" in message and "--object-store" in message and "AWS_ACCESS_KEY_ID" in message
    assert s3.secret_access_key not in message


def test_a_worker_store_from_the_command_line(
    s3: S3Server, tpch_s3: str, tpch_data: str, no_aws_env: None
) -> None:
    # Credentials in the environment, the endpoint on the command line.
    env = {"AWS_ACCESS_KEY_ID": s3.access_key_id, "AWS_SECRET_ACCESS_KEY": s3.secret_access_key}
    spec = f"s3://tpch?endpoint={s3.endpoint}&allow_http=true&region={s3.region}"
    workers = [spawn_worker(env=env, object_stores=[spec]) for _ in range(2)]
    try:
        assert "object stores s3://tpch" in workers[0].banner
        assert s3.endpoint not in workers[0].banner
        dist = _distributed(s3, [w.url for w in workers], tpch_s3)
        _same_as_local(dist, dfship_tpch.context(tpch_data), 1)
    finally:
        for w in workers:
            w.stop()


def test_a_worker_given_a_ctx_reads_with_its_stores(
    s3: S3Server, tpch_s3: str, tpch_data: str, no_aws_env: None
) -> None:
    own = dfship.SessionContext()
    own.register_object_store("s3://", s3_store(s3, "tpch"), host="tpch")
    with Worker(ctx=own) as a, Worker(ctx=own) as b:
        dist = _distributed(s3, [a.url, b.url], tpch_s3)
        _same_as_local(dist, dfship_tpch.context(tpch_data), 1)


def test_a_credential_on_the_worker_command_line_is_refused() -> None:
    with pytest.raises(RuntimeError, match="credential") as caught:
        spawn_worker(object_stores=["s3://b?secret_access_key=TopSecretValue123"])
    assert "TopSecretValue123" not in str(caught.value)


def test_tpch_tooling_reads_a_dataset_from_a_url(
    s3: S3Server, tpch_s3: str, tpch_data: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    assert dfship_tpch.dataset(tpch_s3) == dfship_tpch.dataset(tpch_data)
    for table in dfship_tpch.TABLES:
        local = [
            Path(p).relative_to(tpch_data).as_posix()
            for p in dfship_tpch.table_files(tpch_data, table)
        ]
        remote = [u.removeprefix(tpch_s3 + "/") for u in dfship_tpch.table_files(tpch_s3, table)]
        assert remote == local, table
    with pytest.raises(dfship_tpch.DatasetError, match="missing"):
        dfship_tpch.dataset("s3://tpch/nothing-here")


@pytest.mark.slow
def test_tpch_pool_mode_under_spawn_reads_from_s3(
    s3: S3Server, tpch_s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pool workers (spawned: a fresh interpreter each) read the task's URLs
    with their own environment; nothing about the store is pickled."""
    from dfship_tpch import pool as tpch_pool

    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    outcomes = tpch_pool.run_pool(tpch_s3, 2, "spawn")
    assert len(outcomes) == len(tpch_pool.QUERIES) * len(tpch_pool.VARIANTS)
    assert {(o.query, o.variant): o.difference for o in outcomes if o.difference} == {}
    assert all(o.tasks == 4 for o in outcomes)


def test_ray_hosted_workers_read_s3_with_their_runtime_env(
    s3: S3Server, tpch_s3: str, tpch_data: str, no_aws_env: None
) -> None:
    """Ray actors get the store from ``runtime_env``'s variables; the driver
    (and so the Ray processes it starts) has none."""
    ray = pytest.importorskip("ray", reason="Ray has no build for this Python")
    from dfship.distributed.ray import start_workers

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": s3.env()},
    )
    try:
        workers = start_workers(2, num_cpus=1, threads=2)
        dist = _distributed(s3, list(workers), tpch_s3, workers.token)
        local = dfship_tpch.context(tpch_data)
        for n in (1, 5, 18):
            _same_as_local(dist, local, n)
        workers.stop()
    finally:
        ray.shutdown()
