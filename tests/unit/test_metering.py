"""The cost benchmark's meter (local.metering): requests attributed to the function whose invocation
made them, and DynamoDB request units counted as DynamoDB bills them."""

from __future__ import annotations

import threading

from local.metering import OUTSIDE, Meter


def _item(size: int) -> dict:
    return {"pk": {"S": "JOB#j"}, "record": {"S": "x" * size}}


def test_requests_made_in_an_invocation_are_that_functions_and_others_are_outside():
    meter = Meter()

    def handler(event, context):
        meter.record("dynamodb", "PutItem", {"Item": _item(2500)}, {})  # 3 KB: 3 write units
        meter.record("sqs", "ReceiveMessage", {}, {})  # empty: idle polling, not billed per job
        beside = threading.Thread(target=meter.record, args=("sqs", "SendMessage", {}, {}))
        beside.start()
        beside.join()  # another thread, in no invocation
        return "done"

    assert meter.wrap("tracker", handler)({}, None) == "done"
    tracker, outside = meter.usage["tracker"], meter.usage[OUTSIDE]
    assert tracker.invocations == 1 and tracker.requests == {"dynamodb:PutItem": 1}
    assert tracker.write_units == 3 and tracker.idle_receives == 1
    assert outside.requests == {"sqs:SendMessage": 1} and outside.invocations == 0


def test_a_transaction_counts_twice_and_reads_count_four_kilobyte_units():
    meter = Meter()
    transaction = {"TransactItems": [{"Put": {"Item": _item(100)}}, {"Update": {"Key": {"pk": {"S": "a"}}}}]}
    meter.record("dynamodb", "TransactWriteItems", transaction, {})
    batch = {"Responses": {"t": [_item(5000), _item(100)]}}
    meter.record("dynamodb", "BatchGetItem", {}, batch)
    meter.record("events", "PutEvents", {"Entries": [{}, {}]}, {})
    meter.record(
        "dynamodb",
        "BatchWriteItem",
        {"RequestItems": {"t": [{"PutRequest": {"Item": {"d": {"B": b"x" * 3000}}}}]}},
        {},
    )
    usage = meter.usage[OUTSIDE]
    assert usage.write_units == 2 * (1 + 1) + 3  # a held value's 3 KB of bytes: 3 units
    assert usage.read_units == 2 + 1
    assert usage.events == 2 and usage.requests["events:PutEvents"] == 1
