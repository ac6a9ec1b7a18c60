"""Sending CPE commands (START_JOB, CANCEL_JOB) to the stack's input queue."""
