#!/usr/bin/env python3
"""CDK entry point: builds the stack, nothing else."""

import os

import aws_cdk as cdk

from infra.stack import CpeServerlessStack

app = cdk.App(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
CpeServerlessStack(app, "CpeServerless")
app.synth()
