"""The stack configuration (context key ``cpe``): defaults, what it accepts, and clear refusals."""

from __future__ import annotations

import json

import pytest

from functions.api.settings import DEFAULT_WORKFLOW
from functions.jobs.rules import CompletionRule
from infra.config import ConfigError, JwtAuth, StackConfig, load_config

ARN = "arn:aws:sqs:eu-west-1:123456789012:cpe-input"
URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/cpe-output"


def test_no_configuration_is_the_secure_default():
    config = load_config(None)
    assert config == StackConfig()
    assert config.auth.mode == "iam" and config.removalPolicy == "retain"
    assert not config.queues.existing
    assert config.completion.rule() == CompletionRule()
    assert config.workflow.model_dump() == DEFAULT_WORKFLOW


def test_a_json_string_from_the_command_line_reads_like_an_object():
    value = {
        "clientName": "site",
        "auth": {"mode": "jwt", "issuer": "https://id.example.com/", "audience": ["a"]},
    }
    assert load_config(json.dumps(value)) == load_config(value)
    assert isinstance(load_config(value).auth, JwtAuth)


def test_a_queue_given_by_url_knows_its_arn():
    config = load_config({"queues": {"input": {"arn": ARN}, "output": {"url": URL}}})
    assert config.queues.existing
    assert config.queues.output is not None
    assert config.queues.output.queue_arn == "arn:aws:sqs:eu-west-1:123456789012:cpe-output"
    china = load_config(
        {
            "queues": {
                "input": {"arn": ARN},
                "output": {"url": "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/o"},
            }
        }
    )
    assert china.queues.output is not None
    assert china.queues.output.queue_arn == "arn:aws-cn:sqs:cn-north-1:123456789012:o"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{nope", "context 'cpe' is not valid JSON"),
        ([1], "cpe: Input should be a valid dictionary"),
        ({"colour": "blue"}, "cpe.colour: Extra inputs are not permitted"),
        (
            {"queues": {"input": {"arn": ARN}}},
            "cpe.queues: give both queues.input and queues.output, or neither",
        ),
        ({"queues": {"input": {"arn": ARN}, "output": {"arn": ARN}}}, "must be different queues"),
        (
            {"queues": {"input": {"arn": ARN, "url": URL}, "output": {"url": URL}}},
            "cpe.queues.input: give the queue's arn or its url",
        ),
        ({"queues": {"input": {"arn": f"{ARN}.fifo"}, "output": {"url": URL}}}, "not FIFO queues"),
        (
            {"queues": {"input": {"url": "http://sqs/x"}, "output": {"url": URL}}},
            "cpe.queues.input.url: 'http://sqs/x' is not a valid url",
        ),
        ({"auth": {"mode": "saml"}}, "cpe.auth: Input tag 'saml'"),
        ({"auth": {"mode": "jwt", "issuer": "http://id.example.com", "audience": ["a"]}}, "cpe.auth.issuer"),
        ({"auth": {"mode": "jwt", "issuer": "https://id.example.com", "audience": []}}, "cpe.auth.audience"),
        ({"auth": {"mode": "cognito"}}, "cpe.auth.userPoolArn: Field required"),
        ({"retention": {"logsDays": 8}}, "cpe.retention: retention.logsDays must be one of [1, 3, 5, 7, 14"),
        ({"removalPolicy": "snapshot"}, "cpe.removalPolicy"),
        ({"alarmEmail": "ops"}, "cpe.alarmEmail: 'ops' is not a valid alarmEmail"),
        ({"clientName": "a b"}, "cpe.clientName"),
        ({"throttling": {"ratePerSecond": 0}}, "cpe.throttling.ratePerSecond"),
        ({"completion": {"mode": "whenever"}}, "cpe.completion.mode"),
        ({"webAclArn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/y"}, "cpe.webAclArn"),
        ({"engine": {"mode": "docker"}}, "cpe.engine.mode"),
        ({"engine": {"maxInputBytes": 11 * 1024**3}}, "cpe.engine.maxInputBytes"),
        ({"engine": {"ephemeralStorageMb": 1024}}, "maxInputBytes must fit in engine.ephemeralStorageMb"),
        (
            {"engine": {"downloadSeconds": 900}},
            "downloadSeconds must be shorter than engine.taskTimeoutSeconds",
        ),
        ({"engine": {"buckets": [{"name": "Not_A_Bucket"}]}}, "cpe.engine.buckets.0.name"),
        ({"stalledAfterMinutes": 5}, "cpe.stalledAfterMinutes"),
    ],
)
def test_invalid_configuration_is_refused_naming_the_key(value, message):
    with pytest.raises(ConfigError) as error:
        load_config(value)
    assert message in str(error.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        load_config({"removalPolicy": "x", "tracing": "maybe"})
    assert "cpe.removalPolicy" in str(error.value) and "cpe.tracing" in str(error.value)


def test_the_engine_is_built_in_unless_the_queues_are_a_cpe_stacks():
    assert load_config(None).engine_mode == "builtin"
    queues = {"input": {"arn": ARN}, "output": {"url": URL}}
    assert load_config({"queues": queues}).engine_mode == "none"  # its own stack reads them
    assert load_config({"queues": queues, "engine": {"mode": "builtin"}}).engine_mode == "builtin"
    assert load_config({"engine": {"mode": "none"}}).engine_mode == "none"
