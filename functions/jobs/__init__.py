"""The domain: CPE protocol models, the job state machine and its errors. Pure Python, no AWS."""
