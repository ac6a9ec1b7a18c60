"""The job API: submit, read, list, follow and cancel jobs over API Gateway."""
