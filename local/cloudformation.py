"""Deploying a synthesized CDK app (template and asset zips) into moto's CloudFormation, the way
``cdk deploy`` does on a bootstrapped account: assets to the bootstrap bucket, the bootstrap
version in SSM, then CreateStack.

moto does not model every resource type. Those it lacks are left out of the deployed copy, each
reference to them replaced by a placeholder string (so the dashboard, say, still deploys without
the alarms it shows), and listed in ``Deployment.not_modelled`` so a caller can say what covered
them instead. Everything else is created by moto's own CloudFormation engine.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.cloudformation.parsing import NULL_MODELS, get_model_map

QUALIFIER = "hnb659fds"  # the CDK default bootstrap qualifier
BOOTSTRAP_VERSION = "30"


@dataclass(frozen=True)
class Deployment:
    stack_name: str
    status: str
    status_reason: str | None
    outputs: dict[str, str]
    physical_ids: dict[str, str]  # logical id -> physical id, as moto's CloudFormation reports them
    not_modelled: dict[str, str]  # logical id -> resource type moto does not model


def modelled(resource_type: str) -> bool:
    return resource_type in get_model_map() and resource_type not in NULL_MODELS


def placeholder(logical_id: str) -> str:
    """What a reference to a resource moto does not model becomes: ARN-shaped, so that IAM policies
    naming it stay valid."""
    return f"arn:aws:moto:us-east-1:123456789012:not-modelled/{logical_id}"


def _arn(function: Any) -> Any:
    """A function's ARN from a reference to it ({"Ref": ...} gives its name)."""
    if isinstance(function, dict) and function.keys() == {"Ref"}:
        return {"Fn::GetAtt": [function["Ref"], "Arn"]}
    return function


def deployable_copy(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The template without the resources moto does not model, and those resources."""
    left_out = {
        logical_id: resource["Type"]
        for logical_id, resource in template["Resources"].items()
        if not modelled(resource["Type"])
    }

    # moto has no aliases: one stands for the function it names, by ARN as an alias's Ref is (the
    # local runtime runs a function's code as deployed, the version an alias points at on AWS).
    aliased = {
        logical_id: _arn(template["Resources"][logical_id]["Properties"]["FunctionName"])
        for logical_id, kind in left_out.items()
        if kind == "AWS::Lambda::Alias"
    }

    def replace(value: Any) -> Any:
        if isinstance(value, dict):
            if value.keys() == {"Ref"} and value["Ref"] in aliased:
                return replace(aliased[value["Ref"]])
            if value.keys() == {"Ref"} and value["Ref"] in left_out:
                return placeholder(value["Ref"])
            if value.keys() == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] in left_out:
                return placeholder(value["Fn::GetAtt"][0])
            return {key: replace(item) for key, item in value.items()}
        if isinstance(value, list):
            return [replace(item) for item in value]
        return value

    copy = replace({key: value for key, value in template.items() if key != "Rules"})
    copy["Resources"] = {k: v for k, v in copy["Resources"].items() if k not in left_out}
    for resource in copy["Resources"].values():
        # moto parses an archive's EventPattern as a string only; CloudFormation takes both.
        pattern = resource.get("Properties", {}).get("EventPattern")
        if resource["Type"] == "AWS::Events::Archive" and isinstance(pattern, dict):
            resource["Properties"]["EventPattern"] = json.dumps(pattern)
        # moto reads every method's integration as if it had a URI and a method; a MOCK has neither.
        integration = resource.get("Properties", {}).get("Integration") or {}
        if resource["Type"] == "AWS::ApiGateway::Method" and integration.get("Type") == "MOCK":
            integration.setdefault("IntegrationHttpMethod", resource["Properties"]["HttpMethod"])
            integration.setdefault("Uri", "")
    for resource in copy["Resources"].values():
        depends = resource.get("DependsOn")
        if depends is not None:
            kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in left_out]
            if kept:
                resource["DependsOn"] = kept
            else:
                del resource["DependsOn"]
    return copy, left_out


def _zip(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
    return buffer.getvalue()


def deploy(cdk_out: Path, stack_name: str, session: Any) -> Deployment:
    """Publish ``stack_name``'s assets from ``cdk_out`` and create the stack (boto3 ``session``
    bound to moto)."""
    region = session.region_name
    account = session.client("sts").get_caller_identity()["Account"]
    bucket = f"cdk-{QUALIFIER}-assets-{account}-{region}"
    s3 = session.client("s3")
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    session.client("ssm").put_parameter(
        Name=f"/cdk-bootstrap/{QUALIFIER}/version", Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True
    )
    manifest = json.loads((cdk_out / f"{stack_name}.assets.json").read_text())
    for asset in manifest["files"].values():
        source = cdk_out / asset["source"]["path"]
        body = _zip(source) if source.is_dir() else source.read_bytes()
        for destination in asset["destinations"].values():
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)

    template, not_modelled = deployable_copy(
        json.loads((cdk_out / f"{stack_name}.template.json").read_text())
    )
    # Templates over 51,200 bytes must come from S3, as the CDK CLI does.
    key = f"deploy/{stack_name}.template.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(template).encode())
    cloudformation = session.client("cloudformation")
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateURL=f"https://{bucket}.s3.amazonaws.com/{key}",
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    summaries = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name)
    return Deployment(
        stack_name=stack_name,
        status=stack["StackStatus"],
        status_reason=stack.get("StackStatusReason"),
        outputs={output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])},
        physical_ids={
            summary["LogicalResourceId"]: summary["PhysicalResourceId"]
            for page in summaries
            for summary in page["StackResourceSummaries"]
        },
        not_modelled=not_modelled,
    )
