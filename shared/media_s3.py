"""Media in an S3-compatible bucket (Cloudflare R2, GCS interoperability, AWS S3, MinIO).

Objects are stored with their Content-Type and served by presigned GET URLs that expire; keys
are the same as the local store's (``outputs/<job id>.png``), under an optional prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.media import content_type_for, valid_key


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

    def put(self, key: str, data: bytes, content_type: str) -> None:
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
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._object(key))
        except ValueError:
            pass

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
