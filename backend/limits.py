"""How much one call may ask for: the numbers `/session` announces and the routes enforce.

Each keeps an answer inside what AWS allows: a Lambda answer of at most 6 MB (1,000 presigned
URLs of up to ~1.5 KB each, with session credentials in them), a request of at most 6 MB (batch
bodies are capped well below), and API Gateway's 29 s (a batch's S3 and table calls run side by
side, 16 at a time).
"""

from __future__ import annotations

from backend.files import CLIENT_TOKEN_DAYS
from backend.s3 import MAX_SINGLE_PUT_SIZE

BATCH_FILES = 100
"""Files per `/initializeBatch` or `/finalizeBatch` call."""
URLS_PER_CALL = 1000
"""Presigned URLs per `/getPreSignedUrls` call, and per `/initializeBatch` answer."""
PARTS_PER_BATCH_FILE = 100
"""Part URLs `/initializeBatch` signs at most for one file."""
PARTS_PER_FINALIZE_BATCH = 10_000
"""Parts in all per `/finalizeBatch` call: completing more may outlast API Gateway's 29 s."""
LIST_UPLOADS_LIMIT = 1000
"""Uploads per `/listUploads` page."""


def announced() -> dict[str, int]:
    """The limits as `/session` answers them."""
    return {
        "batchFiles": BATCH_FILES,
        "urlsPerCall": URLS_PER_CALL,
        "partsPerBatchFile": PARTS_PER_BATCH_FILE,
        "partsPerFinalizeBatch": PARTS_PER_FINALIZE_BATCH,
        "singlePutMaxSize": MAX_SINGLE_PUT_SIZE,
        "listUploadsLimit": LIST_UPLOADS_LIMIT,
        "clientTokenDays": CLIENT_TOKEN_DAYS,
    }
