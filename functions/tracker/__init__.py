"""The tracker: the output-queue consumer that keeps the job records."""
