"""Messages out of the functions: SQS queues (CPE commands, webhook deliveries) and EventBridge
events. One interface per kind, an AWS adapter and an in-memory twin for each."""
