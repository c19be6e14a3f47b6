"""Object stores: where ``s3://``, ``gs://``, ``az://``/``abfss://``,
``http(s)://`` and ``file://`` URLs are read from and written to.

The classes and :meth:`SessionContext.register_object_store
<dfship.SessionContext.register_object_store>` take the ``datafusion``
package's names and parameters::

    ctx.register_object_store(
        "s3://", AmazonS3(bucket_name="data", endpoint="http://127.0.0.1:9000", allow_http=True)
    )
    ctx.read_parquet("s3://data/lineitem/")

Settings a store is not given come from the process's environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``,
``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP``; ``GOOGLE_SERVICE_ACCOUNT``;
``AZURE_STORAGE_ACCOUNT_NAME``, ``AZURE_STORAGE_ACCOUNT_KEY``, ...). When
that environment configures a scheme, its URLs need no registration at all:
a session builds the store on first use. That is how workers read the data
of a distributed query: a plan carries URLs, never stores or credentials,
and each worker resolves them with its own configuration.

Keyword ``client_options`` (a dict) passes further settings of the store,
such as ``connect_timeout`` or ``timeout``, and dfship's ``retry_timeout``
(default 20 s) and ``max_retries`` (default 3), which bound how long an
unreachable endpoint is retried. A store object cannot be pickled.

>>> from dfship.object_store import LocalFileSystem
>>> LocalFileSystem()
ObjectStore(file://)
"""

from __future__ import annotations

from dfship import _internal

ObjectStore = _internal.ObjectStore
AmazonS3 = _internal.AmazonS3
GoogleCloud = _internal.GoogleCloud
MicrosoftAzure = _internal.MicrosoftAzure
Http = _internal.Http
LocalFileSystem = _internal.LocalFileSystem

__all__ = ["AmazonS3", "GoogleCloud", "Http", "LocalFileSystem", "MicrosoftAzure", "ObjectStore"]
