"""CDK infrastructure: one construct per concern, composed by :mod:`infra.stack`."""
