"""Settings every test tier shares.

Powertools reads its service name and metrics namespace when the handler modules are imported, as
Lambda's environment provides them before any import; the tests provide them the same way."""

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "cpe-serverless-tests")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "CpeServerlessTests")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
