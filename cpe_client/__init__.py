"""A Python client and CLI for the job API: SigV4-signed (IAM auth) or with a bearer token (JWT
auth), against a deployed stack or the local one alike."""

from cpe_client.client import ApiError, JobsClient

__all__ = ["ApiError", "JobsClient"]
