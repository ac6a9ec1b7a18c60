"""The stream contract (docs/job-stream.schema.json) pinned to what writes it (the store's job item)
and what reads it (cpe_client.stream), and the client's parser on records as Lambda gives them."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from cpe_client.stream import SCHEMA_VERSION, StreamJob, StreamRecordError, parse_event, parse_record
from functions.jobs.model import JobStatus, Phase
from functions.jobs.names import JOB_ID_PATTERN
from functions.store.layout import STREAM_SCHEMA_VERSION
from functions.store.records import JobItem
from infra.stream import JOB_REMOVAL_FILTER, job_item_filter
from local.event_source import matches

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "job-stream.schema.json").read_text())
INTERNAL = {"record", "listPk", "statusPk", "ownerPk", "createdKey"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def test_the_schema_is_valid_and_names_every_public_attribute_of_the_job_item():
    Draft202012Validator.check_schema(SCHEMA)
    written = {attribute.attr_name for attribute in JobItem.get_attributes().values()}
    assert set(SCHEMA["properties"]) == written - INTERNAL
    assert SCHEMA["properties"]["schemaVersion"]["const"] == STREAM_SCHEMA_VERSION == SCHEMA_VERSION
    assert SCHEMA["properties"]["status"]["enum"] == [s.value for s in JobStatus]
    assert SCHEMA["properties"]["phase"]["enum"] == [p.value for p in Phase]
    # Any non-empty id (a job another CPE client started keeps its own); the API's named beside it.
    assert SCHEMA["properties"]["jobId"]["minLength"] == 1
    assert JOB_ID_PATTERN in SCHEMA["properties"]["jobId"]["description"]
    assert SCHEMA["properties"]["pk"]["pattern"] == "^JOB#."


def test_the_clients_parser_reads_every_attribute_of_the_schema():
    fields = {f.name for f in dataclasses.fields(StreamJob)}
    assert fields == {_snake(name) for name in SCHEMA["properties"]} - {"pk", "sk"}


def _image(**changes: dict) -> dict:
    image = {
        "pk": {"S": "JOB#j1"},
        "sk": {"S": "JOB"},
        "schemaVersion": {"N": "1"},
        "jobId": {"S": "j1"},
        "status": {"S": "RUNNING"},
        "phase": {"S": "TRANSCODING"},
        "progress": {"N": "40"},
        "owner": {"S": "app-a"},
        "createdAt": {"S": "2026-12-01T04:00:00.000Z"},
        "updatedAt": {"S": "2026-12-01T04:01:30.250Z"},
        "version": {"N": "7"},
        "record": {"S": "{}"},
        "statusPk": {"S": "STATUS#RUNNING"},
    }
    return {**image, **changes}


def _record(new: dict | None, old: dict | None = None, sk: str = "JOB", name: str = "MODIFY") -> dict:
    stream = {"Keys": {"pk": {"S": "JOB#j1"}, "sk": {"S": sk}}, "SequenceNumber": "1"}
    stream |= {"NewImage": new} if new else {}
    stream |= {"OldImage": old} if old else {}
    return {"eventID": "e1", "eventName": name, "eventSource": "aws:dynamodb", "dynamodb": stream}


def test_a_job_write_parses_into_its_public_attributes_and_what_changed():
    done = _image(
        status={"S": "COMPLETED"}, phase={"S": "COMPLETED"}, progress={"N": "100"}, version={"N": "8"}
    )
    (change,) = parse_event({"Records": [_record(done, _image())]})
    assert change.job_id == "j1" and change.status_changed and change.job and change.job.terminal
    assert change.sequence_number == "1"  # a partial batch failure's itemIdentifier
    assert change.job == StreamJob(
        job_id="j1",
        status="COMPLETED",
        phase="COMPLETED",
        progress=100,
        created_at=datetime(2026, 12, 1, 4, 0, tzinfo=UTC),
        updated_at=datetime(2026, 12, 1, 4, 1, 30, 250000, tzinfo=UTC),
        version=8,
        schema_version=1,
        owner="app-a",
    )
    assert change.previous is not None and change.previous.status == "RUNNING"


def test_internal_items_are_skipped_and_a_removed_job_keeps_its_last_state():
    link = _record({"pk": {"S": "RUN#r1"}, "sk": {"S": "LINK"}, "jobId": {"S": "j1"}}, sk="LINK")
    removed = _record(None, _image(), name="REMOVE")
    (change,) = parse_event({"Records": [link, removed]})
    assert change.job is None and change.previous and change.job_id == "j1" and change.status_changed


def test_items_written_before_the_contract_are_read_and_a_newer_contract_is_refused():
    legacy = {k: v for k, v in _image().items() if k != "schemaVersion"}
    legacy |= {"createdAt": {"N": "1796097600"}, "updatedAt": {"N": "1796097690.25"}}
    change = parse_record(_record(legacy))
    assert change and change.job and change.job.schema_version == 0
    assert change.job.updated_at == datetime(2026, 12, 1, 4, 1, 30, 250000, tzinfo=UTC)
    with pytest.raises(StreamRecordError, match="schemaVersion 2"):
        parse_record(_record(_image(schemaVersion={"N": "2"})))


def _deep(levels: int) -> dict:
    value: dict = {"S": "x"}
    for _ in range(levels):
        value = {"M": {"a": value}}
    return value


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"progress": {"N": "4.5"}}, "progress is not an integer"),
        ({"progress": {"N": "250"}}, "progress is out of range"),
        ({"version": {"N": "-1"}}, "version is out of range"),
        ({"status": {"N": "3"}}, "status is not a string"),
        ({"createdAt": {"S": "yesterday"}}, "createdAt is not an RFC 3339 time"),
        ({"createdAt": {"S": "2026-12-01T04:00:00"}}, "createdAt is not an RFC 3339 time"),  # no zone
        ({"createdAt": {"N": "1e20"}}, "createdAt is not an RFC 3339 time"),
        ({"version": {"Q": "1"}}, "unknown DynamoDB type"),
        ({"version": {"S": "1", "N": "1"}}, "not a DynamoDB attribute value"),
        ({"version": {"N": "NaN"}}, "is not finite"),
        ({"version": {"N": "Infinity"}}, "is not finite"),
        ({"version": {"N": "abc"}}, "not a DynamoDB stream record"),
        ({"version": {"N": "1e100000"}}, "out of range"),
        ({"version": {"N": "1" * 200}}, "not a DynamoDB number"),
        ({"extra": {"BOOL": "false"}}, "is not a boolean"),
        ({"extra": {"NS": ["1", "x"]}}, "not a DynamoDB stream record"),
        ({"extra": {"M": "x"}}, "not a DynamoDB stream record"),
        ({"extra": _deep(5000)}, "not a DynamoDB stream record"),
    ],
)
def test_a_job_item_breaking_the_contract_is_a_clear_error(changes, reason):
    with pytest.raises(StreamRecordError, match=reason):
        parse_record(_record(_image(**changes)))


@pytest.mark.parametrize("record", [{}, {"dynamodb": "x"}, {"dynamodb": {"Keys": ["x"]}}, {"dynamodb": None}])
def test_what_is_not_a_stream_record_is_a_clear_error(record):
    with pytest.raises(StreamRecordError, match="not a DynamoDB stream record"):
        parse_record(record)


def test_a_job_record_without_images_says_which_stream_view_it_needs():
    with pytest.raises(StreamRecordError, match="NEW_AND_OLD_IMAGES"):
        parse_record(_record(None))


def test_the_parser_needs_only_the_standard_library():
    code = "import sys, cpe_client.stream; assert 'botocore' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])  # noqa: S603


def test_a_job_item_missing_an_attribute_is_a_clear_error():
    image = {k: v for k, v in _image().items() if k != "phase"}
    with pytest.raises(StreamRecordError, match="without 'phase'"):
        parse_record(_record(image))


def test_the_subscription_filter_passes_job_writes_of_the_named_statuses_only():
    done = _record(_image(status={"S": "COMPLETED"}))
    running = _record(_image())
    link = _record({"pk": {"S": "RUN#r1"}, "sk": {"S": "LINK"}}, sk="LINK")
    removed = _record(None, _image(status={"S": "COMPLETED"}), name="REMOVE")
    ended = job_item_filter(["FAILED", "COMPLETED"])
    assert [matches(ended, r) for r in (done, running, link, removed)] == [True, False, False, False]
    every_job = job_item_filter()
    assert [matches(every_job, r) for r in (done, running, link, removed)] == [True, True, False, False]
    assert [matches(JOB_REMOVAL_FILTER, r) for r in (done, running, link, removed)] == [False] * 3 + [True]
    with pytest.raises(ValueError, match="unknown job statuses \\['DONE'\\]"):
        job_item_filter(["DONE"])
    assert job_item_filter() is not job_item_filter()  # a copy: a caller's change stays its own
