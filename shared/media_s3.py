"""Media in an S3-compatible bucket (Cloudflare R2, GCS interoperability, AWS S3, MinIO).

Objects are stored with their Content-Type and served by presigned GET URLs that expire; keys
are the same as the local store's (``outputs/<job id>.png``), under an optional prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from shared.media import StoredObject, content_type_for, ops_key, valid_key

if TYPE_CHECKING:
    from shared.config import Settings


class S3MediaStore:
    serves_files = False  # the bucket serves its own presigned URLs

    def __init__(self, client: Any, bucket: str, ttl_seconds: int, prefix: str = "") -> None:
        self.client = client  # one boto3 client per instance, created by shared.wiring
        self.bucket = bucket
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def _object(self, key: str) -> str:
        if not valid_key(key):
            raise ValueError("invalid media key")
        return self.prefix + key

    def put(self, key: str, data: bytes | IO[bytes], content_type: str) -> None:
        """One PUT; a file body is streamed from where it stands (botocore reads it in chunks to sign it)."""
        self.client.put_object(
            Bucket=self.bucket, Key=self._object(key), Body=data, ContentType=content_type or content_type_for(key)
        )

    def read(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        except ValueError:
            return None
        return answer["Body"].read()

    def delete(self, key: str) -> None:
        """A media key or an operations key; one already gone is fine (S3 deletes are idempotent)."""
        try:
            name = self.prefix + key if ops_key(key) else self._object(key)
        except ValueError:
            return
        self.client.delete_object(Bucket=self.bucket, Key=name)

    def objects(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[StoredObject]:
        if not prefix.endswith("/"):
            return []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if start_after:
            request["StartAfter"] = self.prefix + start_after
        found: list[StoredObject] = []
        while len(found) < limit:  # S3 lists at most 1000 keys per call
            answer = self.client.list_objects_v2(**request, MaxKeys=min(limit - len(found), 1000))
            for item in answer.get("Contents", []):
                key = item["Key"][len(self.prefix) :]
                if valid_key(key) or ops_key(key):
                    found.append(StoredObject(key, int(item["Size"]), item["LastModified"].timestamp()))
            if not answer.get("IsTruncated"):
                break
            request["ContinuationToken"] = answer["NextContinuationToken"]
        return found

    def upload(self, key: str, source: Path) -> None:
        if not ops_key(key):
            raise ValueError("invalid operations key")
        self.client.upload_file(str(source), self.bucket, self.prefix + key)  # multipart when large

    def download(self, key: str, target: Path) -> bool:
        from botocore.exceptions import ClientError

        if not ops_key(key):
            return False
        try:
            self.client.download_file(self.bucket, self.prefix + key, str(target))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return False
            raise
        return True

    def verify(self, key: str, expires: str | None, signature: str | None, now: float) -> bool:
        return False

    def local_path(self, key: str) -> Path | None:
        return None

    def url(self, key: str, now: float) -> str:
        """A presigned GET (the bucket checks signature and expiry, not us)."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._object(key)}, ExpiresIn=self.ttl_seconds
        )


def s3_client(endpoint_url: str | None, region: str, access_key: str | None, secret_key: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}),
    )


def from_settings(settings: Settings) -> S3MediaStore:
    """The bucket ``MEDIA_S3_*`` names (``MEDIA_BACKEND=s3``)."""
    s = settings
    access, secret = s.media_s3_access_key_id, s.media_s3_secret_access_key
    client = s3_client(
        s.media_s3_endpoint_url,
        s.media_s3_region,
        access.get_secret_value() if access else None,
        secret.get_secret_value() if secret else None,
    )
    return S3MediaStore(client, s.media_s3_bucket, s.media_url_ttl_seconds, s.media_s3_prefix)
