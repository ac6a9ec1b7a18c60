"""A CT-compatible engine: the ValidateAsset and TranscodeAsset activities done in-process with
FFmpeg's libraries (PyAV), reporting with CPE's messages. Transport-free at its core (activities
take a task, a reporter and storage); ``worker`` runs it on an SQS input queue."""
