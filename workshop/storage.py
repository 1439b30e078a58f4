"""Where material bytes live: a directory on local disk, or an S3-compatible bucket.

One small interface, ``put(key, data)``, ``get(key)`` and ``delete(key)``, whatever the backend.
Keys are random (``new_key``) and checked against ``KEY_RE`` on every call, so no user input ever
forms a path or an object name. ``get_storage()`` picks the backend from the app's configuration:

- ``STORAGE_URL`` empty, or ``file://``: files under ``MATERIALS_DIR`` (instance/materials by default);
  ``file:///srv/conclave/materials`` names another directory;
- ``STORAGE_URL=s3://bucket/prefix``: objects ``prefix/<key>`` in ``bucket``, through boto3, with the
  credentials boto3 finds (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, a profile or
  an instance role) and ``S3_ENDPOINT_URL`` for S3-compatible servers (MinIO, Ceph, R2...).
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from flask import current_app

KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,100}")


class StorageError(Exception):
    """The bytes behind a key cannot be read or written (missing object, unreachable server)."""


def new_key() -> str:
    """A fresh random key: 256 bits, URL- and path-safe."""
    return secrets.token_urlsafe(32)


def check_key(key: str) -> str:
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise ValueError("A storage key is 16 to 100 characters among A-Z, a-z, 0-9, '_' and '-'.")
    return key


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...


class LocalStorage:
    """Files under ``root``, one per key, in a subdirectory named after the key's first two characters."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write beside the target and rename, so a reader never sees half a file.
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise StorageError(f"cannot write {key[:6]}…: {error.strerror or error}") from error

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as error:
            raise StorageError(f"cannot read {key[:6]}…: {error.strerror or error}") from error

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as error:
            raise StorageError(f"cannot delete {key[:6]}…: {error.strerror or error}") from error


class S3Storage:
    """Objects ``<prefix>/<key>`` in an S3 bucket (or any S3-compatible server at ``endpoint_url``)."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, client=None):
        import boto3

        if not bucket:
            raise ValueError("STORAGE_URL must name a bucket: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url or None)

    def object_name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self.object_name(key), Body=data,
                                   ContentType="application/octet-stream")
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"cannot write {key[:6]}… to s3://{self.bucket}: {error}") from error

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.object_name(key))["Body"].read()
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"cannot read {key[:6]}… from s3://{self.bucket}: {error}") from error

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_name(key))
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"cannot delete {key[:6]}… from s3://{self.bucket}: {error}") from error


def storage_from_config(config) -> Storage:
    """The backend that ``config`` (a Flask config or a dict) names. Raises RuntimeError for an unknown URL."""
    url = (config.get("STORAGE_URL") or "").strip()
    parts = urlsplit(url)
    if not url or parts.scheme == "file":
        root = unquote(parts.path) if url and parts.path not in ("", "/") else config["MATERIALS_DIR"]
        return LocalStorage(root)
    if parts.scheme == "s3":
        return S3Storage(parts.netloc, unquote(parts.path), config.get("S3_ENDPOINT_URL") or None)
    raise RuntimeError(f"STORAGE_URL must be empty, file:///a/directory or s3://bucket/prefix, not {url!r}")


def get_storage() -> Storage:
    """The current app's storage. One backend (and one boto3 client, which is thread-safe) per setting."""
    config = current_app.config
    settings = (config.get("STORAGE_URL") or "", config.get("MATERIALS_DIR"), config.get("S3_ENDPOINT_URL") or "")
    cache = current_app.extensions.setdefault("conclave_storage", {})
    if settings not in cache:
        storage = storage_from_config(config)
        if isinstance(storage, LocalStorage) and current_app.static_folder:
            static = Path(current_app.static_folder).resolve()
            if storage.root.resolve().is_relative_to(static):
                raise RuntimeError("MATERIALS_DIR must not be inside static/: uploads would be served as is.")
        cache[settings] = storage
    return cache[settings]
