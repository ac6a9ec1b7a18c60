"""Function settings: read once, validated, and refused when wrong."""

import pytest

from functions.api.settings import ApiSettings
from functions.jobs.owners import Caller
from functions.jobs.rules import CompletionMode
from functions.shared.settings import SettingsError
from functions.tracker.settings import TrackerSettings


def test_tracker_settings_from_the_environment():
    settings = TrackerSettings.from_environ(
        {
            "JOBS_TABLE_NAME": "jobs",
            "AWS_REGION": "eu-west-1",
            "COMPLETION_MODE": "workflow-message-only",
            "FINAL_ACTIVITY_TYPES": "TranscodeAsset, Publish",
            "FINAL_ACTIVITY_COUNT": "3",
        }
    )
    assert (settings.table_name, settings.region, settings.dynamodb_endpoint) == ("jobs", "eu-west-1", None)
    assert settings.rule.mode is CompletionMode.WORKFLOW_MESSAGE_ONLY
    assert settings.rule.final_activity_types == {"TranscodeAsset", "Publish"}
    assert settings.rule.final_activity_count == 3
    assert settings.table.table_name == "jobs"


def test_defaults_complete_on_one_transcode_per_output():
    settings = TrackerSettings.from_environ({"JOBS_TABLE_NAME": "jobs"})
    assert settings.rule.mode is CompletionMode.WORKFLOW_OR_FINAL_ACTIVITIES
    assert settings.rule.final_activity_types == {"TranscodeAsset"}
    assert settings.rule.expected_finals(3) == 3


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({}, "table_name"),
        ({"JOBS_TABLE_NAME": "jobs", "COMPLETION_MODE": "whenever"}, "mode"),
        ({"JOBS_TABLE_NAME": "jobs", "FINAL_ACTIVITY_COUNT": "0"}, "final_activity_count"),
        ({"JOBS_TABLE_NAME": "jobs", "FINAL_ACTIVITY_COUNT": "many"}, "final_activity_count"),
        ({"JOBS_TABLE_NAME": "jobs", "FINAL_ACTIVITY_TYPES": " , "}, "final_activity_types"),
    ],
)
def test_misconfiguration_is_refused_with_the_setting_named(environ, problem):
    with pytest.raises(SettingsError, match=problem):
        TrackerSettings.from_environ(environ)


def test_api_settings_make_owners_from_the_stacks_configuration():
    base = {
        "JOBS_TABLE_NAME": "jobs",
        "INPUT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/in",
        "OUTPUT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/out",
        "CLIENT_NAME": "SiteA",
    }
    policy = ApiSettings.from_environ(base).config.owner_policy  # the default: IAM principals
    assert policy.caller({"identity": {"userArn": "arn:aws:iam::123456789012:user/u"}}) == Caller(
        "arn:aws:iam::123456789012:user/u", "SiteA"
    )
    jwt = {
        **base,
        "AUTH_MODE": "jwt",
        "OWNER_CLAIM": "client_id",
        "OWNER_CLIENT_NAMES": '{"app-7": "SiteB"}',
        "OPERATORS": '["ops-console"]',
    }
    policy = ApiSettings.from_environ(jwt).config.owner_policy
    assert policy.caller({"authorizer": {"sub": "u", "client_id": "app-7"}}) == Caller("app-7", "SiteB")
    assert policy.caller({"authorizer": {"client_id": "ops-console"}}).operator
    with pytest.raises(SettingsError):
        ApiSettings.from_environ({**jwt, "OWNER_CLAIM": "email"})
