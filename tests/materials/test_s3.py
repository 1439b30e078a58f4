"""S3 storage against a real S3-compatible server (moto's standalone server, started here), not a mocked client."""

from __future__ import annotations

import hashlib
import io
import socket

import boto3
import pytest
from pypdf import PdfReader

from tests.helpers import login_as, make_pdf, stored_files
from workshop.storage import KEY_RE, S3Storage, StorageError, get_storage

BUCKET = "conclave-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(app, s3_server, monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    client = boto3.client("s3", endpoint_url=s3_server)
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    monkeypatch.setitem(app.config, "STORAGE_URL", f"s3://{BUCKET}/conclave/materials")
    monkeypatch.setitem(app.config, "S3_ENDPOINT_URL", s3_server)
    return client


def objects(client) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_upload_download_and_delete_through_the_routes_on_s3(client, talk, s3):
    data = make_pdf("Bucket slide")
    material = talk.upload_ok(client, data, "../../slides.pdf")
    key = material.storage_key
    assert KEY_RE.fullmatch(key) and "slides" not in key
    # Only the prepared copy is kept: the upload as sent went once the worker replaced it.
    assert objects(s3) == [f"conclave/materials/{key}"]
    kept = s3.get_object(Bucket=BUCKET, Key=f"conclave/materials/{key}")["Body"].read()
    assert kept.startswith(b"%PDF-") and kept != data and hashlib.sha256(kept).hexdigest() == material.sha256
    assert stored_files(talk.storage_dir) == []  # nothing on local disk

    login_as(client, talk.ada)
    response = client.get(f"/m/{material.public_id}")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    text = PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    assert "Bucket slide 1" in text and "ada@example.org" in text

    login_as(client, talk.speaker)
    assert client.post(talk.material_url(material, "/delete")).status_code == 302
    assert objects(s3) == []


def test_the_s3_backend_is_chosen_from_the_configuration(app, s3, s3_server):
    with app.app_context():
        storage = get_storage()
        assert isinstance(storage, S3Storage)
        assert (storage.bucket, storage.prefix) == (BUCKET, "conclave/materials/")
        with pytest.raises(StorageError):
            storage.get("A" * 43)
        with pytest.raises(ValueError):
            storage.put("../../escape", b"x")
    assert objects(s3) == []
