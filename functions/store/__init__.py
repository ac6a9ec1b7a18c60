"""Data access: the jobs table (PynamoDB records, the DynamoDB store, its in-memory twin)."""
