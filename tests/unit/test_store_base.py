"""What both stores share: keeping big values beside the job item."""

from functions.jobs.model import Reported
from functions.jobs.protocol import MessageType as M
from functions.store.base import LoadedJob, externalize, held_values
from functions.store.memory import MemoryJobStore
from local.ct_simulator import ffprobe_result
from tests.builders import JOB_ID, RUN_ID, act, record, scheduled

V, T = "ValidateAssetStep", "TranscodeAssetStep"


def test_big_values_are_split_off_and_small_ones_stay_inline():
    big = ffprobe_result(padding=20_000)
    job = record(
        [
            scheduled(1),
            act(M.ACTIVITY_COMPLETED, V, 2, result=big),
            act(M.ACTIVITY_FAILED, T, 3, result={"reason": "R", "details": "short"}),
        ]
    )
    stored, blobs = externalize(job, limit=4096)
    validate = stored.runs[RUN_ID].activities[V].result
    assert validate is not None and validate.value is None and validate.held in blobs
    assert blobs[validate.held].value == big
    error = stored.runs[RUN_ID].activities[T].error
    assert error is not None and error.held is None and error.value == {"reason": "R", "details": "short"}
    original = job.runs[RUN_ID].activities[V].result
    assert original is not None and original.value == big  # the job given is untouched
    again, more = externalize(stored, limit=4096)
    assert again == stored and not more


def test_every_reported_value_has_a_distinct_name():
    results = [act(M.ACTIVITY_COMPLETED, f"T{i}", 2, result={"i": i}) for i in range(2)]
    names = [name for name, _ in held_values(record([scheduled(1, outputs=2), *results]))]
    assert len(names) == len(set(names)) == 3


def test_memory_store_gives_held_values_back():
    store = MemoryJobStore(inline_limit=10)
    job = record([scheduled(1)])
    saved = store.save_job(LoadedJob(job, None), job, [], {}, 5.0)
    assert saved.job.payload is not None and saved.job.payload.held is not None
    assert job.payload is not None
    assert store.load_value(JOB_ID, saved.job.payload).value == job.payload.value
    assert store.load_value(JOB_ID, Reported.of(1, 0.0)).value == 1
