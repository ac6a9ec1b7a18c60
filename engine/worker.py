"""The engine's worker: consumes START_JOB / CANCEL_JOB from the input queue and runs jobs, several
at once, reporting each run to the client's output queue (``data.client.queues.output``).

SQS semantics it keeps: long polls; a job's message stays invisible while the job runs (its
visibility is extended in the background) and is deleted only once the run's outcome has been
reported, so a crashed worker's job is delivered again; a command it cannot read is left alone, so
the queue's redrive policy dead-letters it. A CANCEL_JOB stops the job if it runs here, and a
START_JOB whose cancel came first is reported as canceled without running."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from engine.activities import EngineOptions
from engine.errors import Canceled
from engine.reporting import RunReporter
from engine.storage import Storage
from engine.workflow import Outcome, new_run_id, new_workflow_id, run_job
from functions.jobs.commands import CancelJob, StartJob

logger = logging.getLogger(__name__)

VISIBILITY_SECONDS = 120
WAIT_SECONDS = 20
REMEMBERED_CANCELS = 10_000
SEND_ATTEMPTS = 5
PREFETCH_FACTOR = 2
IDLE_SECONDS = 0.2


@dataclass
class _Running:
    job_id: str
    receipt: str
    reporter: RunReporter
    future: Future[Outcome] | None = None


@dataclass
class WorkerStats:
    started: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    unreadable: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


class Worker:
    def __init__(
        self,
        sqs: Any,
        storage: Storage,
        input_queue_url: str,
        *,
        options: EngineOptions | None = None,
        max_jobs: int | None = None,
        wait_seconds: int = WAIT_SECONDS,
        visibility_seconds: int = VISIBILITY_SECONDS,
        progress_interval: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sqs = sqs
        self.storage = storage
        self.queue_url = input_queue_url
        self.options = options or EngineOptions()
        self.max_jobs = max_jobs or os.cpu_count() or 1
        self.wait_seconds = wait_seconds
        self.visibility_seconds = visibility_seconds
        self.progress_interval = progress_interval
        self.clock = clock
        self.stats = WorkerStats()
        self._running: dict[str, _Running] = {}
        self._canceled: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.max_jobs, thread_name_prefix="cpe-job")

    # ------------------------------------------------------------------ the loop

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, then let the running jobs finish."""
        drained = threading.Event()
        keeper = threading.Thread(target=self._keep_invisible, args=(drained,), daemon=True)
        keeper.start()
        try:
            while not stop.is_set():
                if self.poll_once() == 0 and self.wait_seconds == 0:
                    stop.wait(IDLE_SECONDS)  # short polling (tests, local use): do not spin
            self.drain()
        finally:
            drained.set()

    def drain(self) -> None:
        for running in list(self._running.values()):
            if running.future is not None:
                running.future.result()
        self._pool.shutdown(wait=True)

    def poll_once(self) -> int:
        """One receive; returns how many messages came.

        It keeps receiving while up to ``max_jobs`` jobs wait for a slot (their messages kept
        invisible), so that a CANCEL_JOB is seen while every slot is busy; beyond that it stops
        taking work other workers could do."""
        free = PREFETCH_FACTOR * self.max_jobs - len(self._running)
        if free <= 0:
            time.sleep(0.2)
            return 0
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, free),
            WaitTimeSeconds=self.wait_seconds,
            VisibilityTimeout=self.visibility_seconds,
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages = response.get("Messages", [])
        for message in messages:
            self._dispatch(message)
        return len(messages)

    def _dispatch(self, message: dict[str, Any]) -> None:
        body = message.get("Body", "")
        try:
            document = json.loads(body.lstrip("\ufeff"))
            kind = document.get("type") if isinstance(document, dict) else None
            if kind == "START_JOB":
                StartJob.model_validate(document)
                self._start(document, message["ReceiptHandle"])
            elif kind == "CANCEL_JOB":
                self._cancel(CancelJob.model_validate(document), message["ReceiptHandle"])
            else:
                raise ValueError(f"not a CPE command: type {kind!r}")
        except (ValueError, ValidationError) as exc:
            # Left on the queue: after its max receives the redrive policy dead-letters it.
            self.stats.unreadable += 1
            logger.warning("unreadable command left for the DLQ: %s (%s)", message.get("MessageId"), exc)

    # ------------------------------------------------------------------ commands

    def _start(self, command: dict[str, Any], receipt: str) -> None:
        """Run a (validated) START_JOB; ``data`` is kept as sent: WORKFLOW_SCHEDULED echoes it."""
        job_id = str(command["jobId"])
        data: dict[str, Any] = command["data"]
        with self._lock:
            if job_id in self._running:
                # A duplicate delivery of a job running here: the running one will report.
                self._delete(receipt)
                return
            output_queue = str(data["client"]["queues"]["output"])
            reporter = RunReporter(
                job_id,
                new_run_id(),
                new_workflow_id(),
                send=lambda body: self._send(output_queue, body),
                clock=self.clock,
                progress_interval=self.progress_interval,
                transfer_interval=self.progress_interval,
            )
            if job_id in self._canceled:
                reporter.cancel.set()
            running = _Running(job_id, receipt, reporter)
            self._running[job_id] = running
            self.stats.started += 1
            running.future = self._pool.submit(self._run, running, data)

    def _run(self, running: _Running, data: dict[str, Any]) -> Outcome:
        try:
            outcome = run_job(data, running.reporter, self.storage, self.options)
        except Exception:
            # The outcome could not be reported (the output queue refused): keep the message, so
            # the job runs again once it is visible.
            logger.exception(
                "job %s could not report its outcome; it will be delivered again", running.job_id
            )
            with self._lock:
                self._running.pop(running.job_id, None)
            raise
        with self._lock:
            self._running.pop(running.job_id, None)
            self.stats.outcomes.append(outcome)
            if outcome.completed:
                self.stats.completed += 1
            elif isinstance(outcome.error, Canceled):
                self.stats.canceled += 1
            else:
                self.stats.failed += 1
        self._delete(running.receipt)
        return outcome

    def _cancel(self, command: CancelJob, receipt: str) -> None:
        with self._lock:
            self._canceled[command.jobId] = None
            while len(self._canceled) > REMEMBERED_CANCELS:
                self._canceled.popitem(last=False)
            running = self._running.get(command.jobId)
            if running is not None and command.data.runId in (None, running.reporter.run_id):
                running.reporter.cancel.set()
        self._delete(receipt)

    # ------------------------------------------------------------------ SQS plumbing

    def _send(self, queue_url: str, body: dict[str, Any]) -> None:
        text = json.dumps(body, separators=(",", ":"))
        for attempt in range(SEND_ATTEMPTS):
            try:
                self.sqs.send_message(QueueUrl=queue_url, MessageBody=text)
                return
            except (ClientError, BotoCoreError):
                if attempt == SEND_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * 2**attempt)

    def _delete(self, receipt: str) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)
        except (ClientError, BotoCoreError):
            logger.warning("could not delete a handled command; it will be delivered again", exc_info=True)

    def _keep_invisible(self, drained: threading.Event) -> None:
        """Extend the visibility of every running job's message before it lapses."""
        while not drained.wait(self.visibility_seconds / 3):
            with self._lock:
                receipts = [running.receipt for running in self._running.values()]
            for receipt in receipts:
                try:
                    self.sqs.change_message_visibility(
                        QueueUrl=self.queue_url,
                        ReceiptHandle=receipt,
                        VisibilityTimeout=self.visibility_seconds,
                    )
                except (ClientError, BotoCoreError):
                    logger.warning("could not extend a running job's visibility", exc_info=True)
