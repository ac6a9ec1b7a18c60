"""Plumbing shared by the Lambda handlers (settings, batch glue). No domain logic here."""
