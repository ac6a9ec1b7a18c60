#!/usr/bin/env python3
"""CDK entry point: reads the configuration, builds the stack, runs the AWS Solutions checks."""

import os
import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import CONTEXT_KEY, ConfigError, load_config
from infra.stack import CpeServerlessStack

app = cdk.App(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
try:
    config = load_config(app.node.try_get_context(CONTEXT_KEY))
except ConfigError as error:
    sys.exit(f"error: {error}")
CpeServerlessStack(app, os.environ.get("CPE_STACK_NAME", "CpeServerless"), config=config)
# Every finding fails synth unless acknowledged, resource by resource (infra/security.py).
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
