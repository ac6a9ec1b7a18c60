"""What a job may name: its id, S3 buckets and keys, and the shape of URLs. Pure checks, used by the
API's strict view of the CT job (functions.jobs.payload), its OpenAPI schema (the same patterns),
the URL checks (functions.shared.urls) and the engine."""

from __future__ import annotations

import re

MAX_JOB_ID_LENGTH = 128
JOB_ID_PATTERN = rf"^[A-Za-z0-9_.:-]{{1,{MAX_JOB_ID_LENGTH}}}$"
MAX_KEY_LENGTH = 1024
MAX_URL_LENGTH = 2048
_PORT = r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
# A path character: no control (C0, DEL, C1), space of any kind, or invisible format character
# (zero widths, bidirectional overrides and isolates: a URL the console shows must read as it is).
# Spelled out, not "\s": the schema's readers differ on "\s" (ECMAScript takes U+FEFF and not
# U+0085, Python's re and Rust's regex the reverse), and a pattern must mean one thing to the API,
# its schema's generators and browsers.
_URL_PATH_CHAR = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]"
_HOST_AND_PATH = rf"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?{_PORT}(/{_URL_PATH_CHAR}*)?$"
HTTP_URL = rf"^https?://{_HOST_AND_PATH}"
HTTPS_URL = rf"^https://{_HOST_AND_PATH}"

# Dot-separated labels of lowercase letters, digits and inner hyphens (S3's naming rules; the
# OpenAPI schema carries the same patterns, so what it calls valid this module accepts).
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
BUCKET_PATTERN = rf"^{_LABEL}(?:\.{_LABEL})*$"
# Path segments without control characters or backslashes, and never "." or "..".
_CHAR = r"[^/\\\x00-\x1f\x7f]"
_NOT_DOT = r"[^/.\\\x00-\x1f\x7f]"
_SEGMENT = rf"(?:{_NOT_DOT}{_CHAR}*|\.{_NOT_DOT}{_CHAR}*|\.\.{_CHAR}+)"
KEY_PATTERN = rf"^/?{_SEGMENT}(?:/{_SEGMENT})*$"

_BUCKET = re.compile(BUCKET_PATTERN)
_KEY = re.compile(KEY_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafeName(ValueError):
    """A name the stack must not use; the message says why."""


def check_bucket(name: str) -> str:
    """S3 bucket naming rules: 3-63 characters, dot-separated labels of lowercase letters, digits
    and inner hyphens. (Names S3 reserves, like IP addresses, pass: no such bucket exists, and the
    job fails when the engine reads it, as with any missing bucket.)"""
    if not 3 <= len(name) <= 63 or not _BUCKET.match(name):
        raise UnsafeName("not a valid S3 bucket name")
    return name


def check_key(key: str) -> str:
    """An S3 key as CT takes it (``file``): a path, with or without a leading ``/``, whose
    directory receives the outputs. No control characters, no backslashes, no ``.`` or ``..``
    segments, no empty segments: nothing that could climb out of the intended prefix."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise UnsafeName(f"must be 1 to {MAX_KEY_LENGTH} characters")
    if _CONTROL.search(key):
        raise UnsafeName("contains control characters")
    if "\\" in key:
        raise UnsafeName("contains a backslash")
    if not _KEY.match(key):
        raise UnsafeName("contains an empty, '.' or '..' path segment")
    return key
