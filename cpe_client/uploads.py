"""Posting a file to a presigned POST form (``POST /uploads``'s answer), as a browser would:
multipart/form-data with the form's fields first and the file last, streamed from disk."""

from __future__ import annotations

import mimetypes
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK_BYTES = 1024 * 1024
_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9._-]")


class UploadRefused(Exception):
    """S3 refused the file (over the size cap, another content type, an expired form...)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def content_type_of(path: Path) -> str | None:
    return mimetypes.guess_type(path.name)[0]


def upload_name(path: Path) -> str:
    """The file's name as an upload may carry it (letters, digits, ``._-``; at most 100)."""
    name = _NOT_IN_A_NAME.sub("_", path.name).lstrip("._-")[:100]
    return name or "source"


def post_form(form: dict[str, Any], path: Path, content_type: str, *, timeout: float) -> None:
    boundary = f"cpe-{uuid.uuid4().hex}"
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in form["fields"].items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{upload_name(path)}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as file:
            while chunk := file.read(CHUNK_BYTES):
                yield chunk
        yield tail

    request = urllib.request.Request(  # noqa: S310 - the form's own URL, from the API
        form["url"],
        data=body(),
        method="POST",
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + path.stat().st_size + len(tail)),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310
            return
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        code = re.search(r"<Code>([^<]*)</Code>", text)
        message = re.search(r"<Message>([^<]*)</Message>", text)
        raise UploadRefused(
            error.code, code[1] if code else "HTTP_ERROR", message[1] if message else text[:200]
        ) from None
