"""s3up: a desktop uploader for very large files to S3 through a presigned multipart-upload API."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("s3up")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
