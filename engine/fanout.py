"""The engine fanned out: one job becomes many small tasks on a work queue, each one invocation,
joined through the engine's state (engine.state) instead of a process that waits. No scheduler of
ours: SQS delivers the tasks (again, if an invocation dies), the state's conditions make every
task safe to run twice.

    START_JOB ---> validate ---> output k (a whole output: THUMB, IMAGE, AUDIO, a short VIDEO)
                            '--> span k.i (each span of a long VIDEO output)  --.
                            '--> audio k (its audio, encoded once)           --+--> join k
                                                    (the last part done sends the join)

Each task reports CT's messages itself (the tracker takes them in any order): ``ValidateAsset``
from the validation; for output k, ``TranscodeAsset`` started and progressing from its parts (the
progress is the share of its parts done), completed or failed from its join or its whole task.
The run ends, and ``WORKFLOW_COMPLETED``/``WORKFLOW_FAILED`` is sent, once every output has ended.

A cancel (``CANCEL_JOB``) is kept by job id; every task checks it when it starts and every few
seconds while it works: tasks not started yet do nothing, tasks at work stop and their work is
dropped, and each output reports ``ACTIVITY_CANCELED``. A task that fails for good (its input,
its settings) ends its output ``FAILED`` with its reason; one that fails otherwise is retried by
SQS, and ends its output after ``MAX_TASK_ATTEMPTS`` (or, if it never finishes, from the queue's
DLQ through :meth:`Engine.gave_up`)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import posixpath
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import ValidationError

from engine import adaptive, packaging, video
from engine.activities import EngineOptions, TranscodeAsset, output_frame_rate, stream_rate, validate_asset
from engine.errors import ActivityError, Canceled, Reason, error_of
from engine.reporting import ActivityReporter, RunReporter, new_workflow_id, transcode_steps
from engine.sources import InputRef
from engine.state import EngineState, PartsDone, RunRecord
from engine.storage import Storage, StoredObject
from functions.jobs.commands import CancelJob, StartJob
from functions.jobs.payload import OutputAsset
from functions.messaging.base import MessageQueue

logger = logging.getLogger(__name__)

MAX_TASK_ATTEMPTS = 3  # failures of a task (its receives): then its output fails with the last error
# Receives of a task before its queue dead-letters it (then engine.handlers.gave_up ends its
# output): more than the attempts, as a receive whose invocation was throttled counts too.
MAX_TASK_RECEIVES = 5
CANCEL_CHECK_SECONDS = 5.0  # how often a task at work reads whether its job was canceled
DEADLINE_MARGIN_SECONDS = 30.0  # a task stops this long before its invocation's time is up
AUDIO = "audio"
SEGMENTED_TYPES = frozenset({"VIDEO", "ADAPTIVE"})  # the outputs a long input cuts into spans
SPAN_READ_BLOCK = 4 * 1024 * 1024  # a span reads its part of the input in ranges this big

TaskKind = Literal["validate", "output", "span", "audio", "join", "rendition", "manifest"]
TASK_KINDS = frozenset(get_args(TaskKind))


@dataclass(frozen=True)
class Task:
    kind: TaskKind
    run_id: str
    output: int | None = None
    span: int | None = None
    rendition: int | None = None

    def body(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items() if v is not None}, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str) -> Task:
        document = json.loads(body)
        if not isinstance(document, dict) or document.get("kind") not in TASK_KINDS:
            raise ValueError(f"not an engine task: {body[:200]}")
        return cls(
            document["kind"],
            str(document["run_id"]),
            document.get("output"),
            document.get("span"),
            document.get("rendition"),
        )


class UnreadableCommand(ValueError):
    """An input-queue message that is not a CPE command this engine runs."""


@dataclass(frozen=True)
class FanoutOptions:
    """How a job is cut: spans of about ``span_seconds`` for VIDEO outputs longer than
    ``segment_after_seconds``; what an input may be (``max_pixels`` a frame, ``max_seconds`` long)."""

    span_seconds: float = 60.0
    segment_after_seconds: float = 90.0
    max_pixels: int = 8192 * 8192
    max_seconds: float = 6 * 3600.0
    work_bucket: str | None = None  # where spans and audio wait for their join (None: the output's)
    work_prefix: str = "cpe-engine-work/"


def run_id_for(message_id: str) -> str:
    """A run's id from its START_JOB message's id (a redelivery is the same run), shaped like
    SWF's run ids (44 characters of base64)."""
    return base64.b64encode(hashlib.sha256(message_id.encode()).digest()).decode()


@dataclass
class _Watch:
    """What a task at work checks between frames: its job canceled (read every few seconds), its
    invocation's time running out."""

    canceled: Callable[[], bool]
    time_left: Callable[[], float]
    clock: Callable[[], float] = time.monotonic
    _checked_at: float = field(default=-1e9)

    def __call__(self) -> None:
        now = self.clock()
        if now - self._checked_at >= CANCEL_CHECK_SECONDS:
            self._checked_at = now
            if self.canceled():
                raise Canceled()
        if self.time_left() < DEADLINE_MARGIN_SECONDS:
            raise ActivityError(
                Reason.DEADLINE_EXCEEDED,
                "the task did not finish within its invocation's time: shorter spans (engine.spanSeconds) "
                "or more memory (engine.memoryMb) would let it",
            )


class Engine:
    def __init__(
        self,
        *,
        state: EngineState,
        work: MessageQueue,
        reporters: Callable[[RunRecord, Callable[[], None]], RunReporter],
        storage: Storage,
        options: EngineOptions,
        fanout: FanoutOptions,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.work = work
        self._reporters = reporters
        self.storage = storage
        self.options = options
        self.fanout = fanout
        self._clock = clock

    # ------------------------------------------------------------------ commands

    def command(self, message_id: str, body: str) -> None:
        """START_JOB or CANCEL_JOB from the input queue; raises UnreadableCommand otherwise."""
        try:
            document = json.loads(body.lstrip("\ufeff"))
            kind = document.get("type") if isinstance(document, dict) else None
            if kind == "START_JOB":
                start = StartJob.model_validate(document)
            elif kind == "CANCEL_JOB":
                cancel = CancelJob.model_validate(document)
                self.state.request_cancel(cancel.jobId, self._clock())
                return
            else:
                raise UnreadableCommand(f"not a CPE command: type {kind!r}")
        except (ValueError, ValidationError) as exc:
            raise UnreadableCommand(str(exc)) from exc
        run_id = run_id_for(message_id)
        record = RunRecord(run_id, start.jobId, new_workflow_id(), document["data"], self._clock())
        if not self.state.start_run(record):  # a redelivered START_JOB: the same run
            record = self.state.get_run(run_id) or record
            if record.dispatched:
                return  # validated and under way: nothing to start again
        self.start(record)

    def start(self, run: RunRecord) -> None:
        """Report the run scheduled and send its validation."""
        workflow = run.data.get("workflow") or {}
        self._reporter(run).scheduled(
            run.data, (str(workflow.get("name", "Transcode")), str(workflow.get("version", "1.0")))
        )
        self.work.send(Task("validate", run.run_id).body())

    # ------------------------------------------------------------------ tasks

    def task(self, body: str, attempt: int, time_left: Callable[[], float] = lambda: float("inf")) -> None:
        """Run one task from the work queue (``attempt``: its delivery count). Raises only for a
        failure worth retrying (SQS delivers the task again)."""
        task = Task.parse(body)
        run = self.state.get_run(task.run_id)
        if run is None:
            raise RuntimeError(f"run {task.run_id} is not recorded (yet)")
        reporter = self._reporter(run, time_left)
        if task.kind == "validate":
            if run.dispatched:
                return  # a repeated validation: done, and its tasks are out
            self._guarded(run, reporter, None, attempt, lambda step: self._validate(run, step))
            return
        assert task.output is not None  # noqa: S101 - every other task names its output
        held = self.state.ended_outcome(run.run_id, task.output)
        if held is not None:
            # Ended already (failed or canceled meanwhile, or this is a redelivery after its end):
            # nothing to do but repeat the outcome and the run's end, which a crash may have lost.
            self._ended(run, reporter, task.output, held)
            return
        work = {
            "output": lambda step: self._whole(run, task.output, step),
            "span": lambda step: self._span(run, task, step),
            "audio": lambda step: self._audio(run, task, step),
            "join": lambda step: self._join(run, task.output, step),
            "rendition": lambda step: self._rendition(run, task, step),
            "manifest": lambda step: self._manifest(run, task.output, step),
        }[task.kind]
        self._guarded(run, reporter, task.output, attempt, work)

    def gave_up(self, body: str, detail: str) -> None:
        """A task that never finished (its invocations died or timed out until SQS dead-lettered
        it): its output, or for a validation the run, ends FAILED, unless it ended already."""
        task = Task.parse(body)
        run = self.state.get_run(task.run_id)
        if run is None or (task.kind == "validate" and run.dispatched):
            return
        error = ActivityError(Reason.ACTIVITY_FAILED, f"the {task.kind} task never finished: {detail}")
        self._failed(run, self._reporter(run), task.output, error)

    def _guarded(
        self,
        run: RunRecord,
        reporter: RunReporter,
        output: int | None,
        attempt: int,
        work: Callable[[ActivityReporter], None],
    ) -> None:
        step = self._step(reporter, run, output)
        try:
            step.check_cancel()
            work(step)
        except ActivityError as error:
            self._failed(run, reporter, output, error)
        except Exception as exc:
            if attempt < MAX_TASK_ATTEMPTS:
                raise  # SQS delivers it again
            logger.exception("task of run %s failed %d times", run.run_id, attempt)
            last = ActivityError(
                Reason.ACTIVITY_FAILED, f"failed {attempt} times, last: {type(exc).__name__}: {exc}"
            )
            self._failed(run, reporter, output, last)

    def _step(self, reporter: RunReporter, run: RunRecord, output: int | None) -> ActivityReporter:
        if output is None:
            return reporter.activity("ValidateAssetStep", "ValidateAsset")
        step_id, _ = transcode_steps(run.data)[output]
        return reporter.activity(step_id, "TranscodeAsset")

    def _failed(
        self, run: RunRecord, reporter: RunReporter, output: int | None, error: ActivityError
    ) -> None:
        """End ``output`` with ``error`` (every output, for a validation that failed) unless it
        ended already: an output that completed stays completed, whatever fails after."""
        failure = {"failure": error.as_failure()}
        if output is None:
            self._step(reporter, run, None).failed(error)
            for index in range(self._outputs(run)):
                self._ended(run, reporter, index, failure, report_output=False)
            return
        self._ended(run, reporter, output, failure)

    def _ended(
        self,
        run: RunRecord,
        reporter: RunReporter,
        output: int,
        outcome: dict[str, Any],
        *,
        report_output: bool = True,
    ) -> None:
        """End ``output`` with ``outcome`` (``{"result": ...}`` or ``{"failure": ...}``) unless it
        ended already, report the outcome that holds, then the run's end if every output has
        ended. Safe to repeat: a redelivered task reports the same again."""
        ended = self.state.end_output(run.run_id, output, outcome, self._outputs(run))
        if report_output:
            step = self._step(reporter, run, output)
            if "result" in ended.outcome:
                step.completed(ended.outcome["result"])
            else:
                step.failed(error_of(ended.outcome["failure"]))
        if ended.run_end is not None:
            failure = ended.run_end.failure
            reporter.ended(None if failure is None else error_of(failure))
            self.state.mark_reported(run.run_id)

    @staticmethod
    def _outputs(run: RunRecord) -> int:
        return len(transcode_steps(run.data)) or 1

    # ------------------------------------------------------------------ the steps

    def _validate(self, run: RunRecord, step: ActivityReporter) -> None:
        base = {"input_asset": run.data.get("input_asset"), "client": run.data.get("client")}
        metadata = validate_asset(base, step, self.storage, max_pixels=self.fanout.max_pixels)
        self._within_limits(metadata)
        steps = transcode_steps(run.data)
        if not steps:
            raise ActivityError(Reason.INVALID_OUTPUT_SPEC, "the job names no output")
        plan = self.state.set_plan(run.run_id, self._plan(run, metadata))
        step.completed(metadata)
        if (self.state.get_run(run.run_id) or run).dispatched:
            return  # a repeated validation (a redelivered START_JOB): the tasks are out already
        tasks: list[Task] = []
        for index, output in enumerate(plan["outputs"]):
            if not output["spans"]:
                tasks.append(Task("output", run.run_id, index))
                continue
            tasks += [Task("span", run.run_id, index, n) for n in range(len(output["spans"]))]
            if output["audio"]:
                tasks.append(Task("audio", run.run_id, index))
        self.work.send_batch([task.body() for task in tasks])
        self.state.mark_dispatched(run.run_id)

    def _within_limits(self, metadata: dict[str, Any]) -> None:
        """Refuse, before anything is decoded, an input longer than the stack takes (the probe
        refused pictures over the pixel limit)."""
        duration = _seconds(metadata)
        if duration > self.fanout.max_seconds:
            raise ActivityError(
                Reason.INPUT_TOO_LARGE,
                f"{duration:.0f} s is over this stack's {self.fanout.max_seconds:.0f} s",
            )

    def _plan(self, run: RunRecord, metadata: dict[str, Any]) -> dict[str, Any]:
        """For each output: its spans (empty: one whole task) and whether it has an audio part."""
        duration = _seconds(metadata)
        streams = metadata.get("streams") or []
        video_stream = next((s for s in streams if s.get("codec_type") == "video"), None)
        has_audio = any(s.get("codec_type") == "audio" for s in streams)
        outputs = []
        origin = None
        for _, output in transcode_steps(run.data):
            spans: list[list[str | None]] = []
            segmented = (
                str(output.get("type", "")).upper() in SEGMENTED_TYPES
                and not output.get("custom_cmd")
                and video_stream is not None
                and duration > self.fanout.segment_after_seconds
            )
            if segmented:
                assert video_stream is not None  # noqa: S101 - checked by segmented
                rate = output_frame_rate(OutputAsset.model_validate(output)) or stream_rate(video_stream)
                cuts = video.spans(duration, rate, self.fanout.span_seconds)
                if len(cuts) > 1:
                    spans = [[str(c.start), str(c.end) if c.end is not None else None] for c in cuts]
                    if origin is None:
                        origin = video.origin_of(self._reader(run))
            outputs.append({"spans": spans, "audio": bool(spans) and has_audio})
        return {"metadata": metadata, "origin": origin, "duration": duration, "outputs": outputs}

    def _asset(
        self, run: RunRecord, metadata: dict[str, Any], output: int, step: ActivityReporter
    ) -> TranscodeAsset:
        _, spec = transcode_steps(run.data)[output]
        task = {
            "input_asset": run.data.get("input_asset"),
            "client": run.data.get("client"),
            "output_asset": spec,
            "input_asset_metadata": metadata,
        }
        return TranscodeAsset(task, step, self.storage, self.options)

    def _reader(self, run: RunRecord) -> Callable[[], Any]:
        """Opens the input for reading in ranges (S3 or http): a span reads only what it decodes."""
        asset = run.data.get("input_asset") or {}
        ref = InputRef(
            bucket=asset.get("bucket"),
            key=str(asset.get("file") or "").lstrip("/") or None,
            url=asset.get("http"),
        )
        return lambda: self.storage.sources.open_ranged(ref, block_size=SPAN_READ_BLOCK)

    def _whole(self, run: RunRecord, output: int, step: ActivityReporter) -> None:
        plan = self._planned(run)
        result = self._asset(run, plan["metadata"], output, step).run()
        self._ended(run, step.run, output, {"result": result})

    def _span(self, run: RunRecord, task: Task, step: ActivityReporter) -> None:
        plan = self._planned(run)
        assert task.output is not None  # noqa: S101 - a span task names its output
        assert task.span is not None  # noqa: S101 - and its span
        start, end = plan["outputs"][task.output]["spans"][task.span]
        span = video.Span(task.span, Fraction(start), Fraction(end) if end is not None else None)
        asset = self._asset(run, plan["metadata"], task.output, step)
        asset.started()
        asset.check()
        with tempfile.TemporaryDirectory(prefix="cpe-span-", dir=self.options.work_dir) as work:
            renditions = self._renditions(asset, Path(work), f"span-{task.span:05d}")
            encoded = video.encode_videos(
                self._reader(run),
                renditions,
                rotation=asset.rotation,
                span=span,
                origin=plan["origin"],
                progress=lambda _: None,
                check_cancel=step.check_cancel,
            )
            for part in encoded:
                if part is not None:
                    self._keep(run, task.output, part.path.name, part.path)
        # One entry per rendition (a VIDEO output has one, an ADAPTIVE output one per rung).
        info = {
            "renditions": [
                {"file": part.path.name, "first": str(part.first_frame), "frames": part.frames}
                | {"parameters": part.parameters}
                if part
                else {"frames": 0}
                for part in encoded
            ]
        }
        self._part_done(run, plan, task.output, f"span-{task.span:05d}", info=info, step=step)

    @staticmethod
    def _renditions(asset: TranscodeAsset, work: Path, stem: str) -> list[tuple[Path, Any]]:
        """Where a span's renditions are encoded, with their plans."""
        if asset.output.type.upper() == "ADAPTIVE":
            return adaptive.span_files(work, stem, asset.adaptive_plan(work))
        return [(work / f"{stem}.mp4", asset.video_plan(work))]

    def _audio(self, run: RunRecord, task: Task, step: ActivityReporter) -> None:
        plan = self._planned(run)
        assert task.output is not None  # noqa: S101 - an audio task names its output
        asset = self._asset(run, plan["metadata"], task.output, step)
        with tempfile.TemporaryDirectory(prefix="cpe-audio-", dir=self.options.work_dir) as work:
            rendition = self._renditions(asset, Path(work), "audio")[0][1]
            encoded = video.encode_audio(
                self._reader(run),
                Path(work) / "audio",
                rendition,
                origin=plan["origin"],
                check_cancel=step.check_cancel,
            )
            if encoded is not None:
                self._keep(run, task.output, AUDIO, encoded)
        self._part_done(run, plan, task.output, AUDIO, info={"present": encoded is not None}, step=step)

    def _part_done(
        self,
        run: RunRecord,
        plan: dict[str, Any],
        output: int,
        name: str,
        *,
        info: dict[str, Any],
        step: ActivityReporter,
    ) -> None:
        planned = plan["outputs"][output]
        total = len(planned["spans"]) + (1 if planned["audio"] else 0)
        done = self.state.add_part(run.run_id, output, name, info, total)
        duration = float(plan["duration"])
        step.progress(duration * min(1.0, len(done.parts) / total), duration)  # the share of the parts done
        if not done.next_stage_due(self._spans_complete(plan, output, done)):
            return
        # Exactly one report completes the set: one join, or one task per rendition of an ADAPTIVE
        # output (its rungs, then its audio).
        _, spec = transcode_steps(run.data)[output]
        if str(spec.get("type", "")).upper() != "ADAPTIVE":
            self.work.send(Task("join", run.run_id, output).body())
            return
        infos = done.infos()
        rungs = max(len(i.get("renditions", [])) for i in infos)
        audio = any(i["name"] == AUDIO and i.get("present") for i in infos)
        count = rungs + (1 if audio else 0)
        self.work.send_batch(
            [Task("rendition", run.run_id, output, rendition=n).body() for n in range(count)]
        )

    @staticmethod
    def _span_parts(plan: dict[str, Any], output: int) -> set[str]:
        planned = plan["outputs"][output]
        return {f"span-{n:05d}" for n in range(len(planned["spans"]))} | (
            {AUDIO} if planned["audio"] else set()
        )

    def _spans_complete(self, plan: dict[str, Any], output: int, done: PartsDone) -> bool:
        return self._span_parts(plan, output) <= set(done.parts)

    def _spans_done(self, run: RunRecord, plan: dict[str, Any], output: int) -> PartsDone:
        """The output's span and audio parts, all of them (else the task is tried again)."""
        wanted = self._span_parts(plan, output)
        done = self.state.parts(run.run_id, output)
        if not wanted <= set(done.parts):
            raise RuntimeError(
                f"output {output} of run {run.run_id} is not complete: {len(done.parts)} parts"
            )
        return PartsDone({name: done.parts[name] for name in wanted}, len(wanted))

    def _gather(
        self, run: RunRecord, output: int, done: PartsDone, folder: Path, renditions: int
    ) -> tuple[list[list[video.EncodedVideo]], bool, video.Fetch]:
        """Each rendition's spans (in order, fetched when the join reads them), whether there is
        audio, and the fetch."""
        spans: list[list[video.EncodedVideo]] = [[] for _ in range(renditions)]
        for info in done.infos():
            if info["name"] == AUDIO:
                continue
            for index, part in enumerate(info["renditions"]):
                if part["frames"]:
                    first = Fraction(part["first"])
                    path = folder / part["file"]
                    spans[index].append(
                        video.EncodedVideo(path, first, part["frames"], part.get("parameters"))
                    )

        def fetch(span: video.EncodedVideo) -> Path:  # each span when its turn comes
            return span.path if span.path.exists() else self._fetch(run, output, span.path.name, span.path)

        return spans, _has_audio(done), fetch

    def _join(self, run: RunRecord, output: int, step: ActivityReporter) -> None:
        """A VIDEO output's spans and audio joined into its file(s) and delivered."""
        plan = self._planned(run)
        done = self._spans_done(run, plan, output)
        asset = self._asset(run, plan["metadata"], output, step)
        with tempfile.TemporaryDirectory(prefix="cpe-join-", dir=self.options.work_dir) as work:
            folder = Path(work)
            rendition = asset.video_plan(folder)
            spans, has_audio, fetch = self._gather(run, output, done, folder, 1)
            audio = self._fetch(run, output, AUDIO, folder / "audio") if has_audio else None
            out_dir = folder / "out"
            out_dir.mkdir()
            step.check_cancel()
            files = video.package(
                spans[0],
                audio,
                asset.main_file(out_dir, playlist=rendition.hls),
                rendition,
                fetch=fetch,
                discard_read=True,
                check_cancel=step.check_cancel,
            )
            step.finishing()
            result = asset.deliver(files)
        self._ended(run, step.run, output, {"result": result})
        self._forget(run, output)

    def _rendition(self, run: RunRecord, task: Task, step: ActivityReporter) -> None:
        """One rendition of an ADAPTIVE output (a rung, or the audio after the rungs) packaged
        from its spans and stored at the output's destination; what the manifests need of it (its
        segments' durations and sizes, its codec) and the objects it stored are kept beside the
        spans. The last one done sends the manifests' task."""
        assert task.output is not None  # noqa: S101 - a rendition task names its output
        assert task.rendition is not None  # noqa: S101 - and its rendition
        plan = self._planned(run)
        done = self._spans_done(run, plan, task.output)
        asset = self._asset(run, plan["metadata"], task.output, step)
        with tempfile.TemporaryDirectory(prefix="cpe-rendition-", dir=self.options.work_dir) as work:
            folder = Path(work)
            package = asset.adaptive_plan(folder)
            spans, has_audio, fetch = self._gather(run, task.output, done, folder, len(package.rungs))
            out_dir = folder / "out"
            out_dir.mkdir()
            main = asset.main_file(out_dir, playlist=True)
            step.check_cancel()
            if task.rendition < len(package.rungs):
                name = package.rungs[task.rendition][0].name
                playlist = adaptive.package_rung(
                    task.rendition,
                    spans[task.rendition],
                    main,
                    package,
                    fetch=fetch,
                    discard_read=True,
                    check_cancel=step.check_cancel,
                )[0]
                rendition = packaging.read_rendition(name, playlist, frame_rate=package.frame_rate)
            else:
                audio = self._fetch(run, task.output, AUDIO, folder / "audio")
                playlist = adaptive.package_audio(audio, main, package, check_cancel=step.check_cancel)[0]
                rendition = packaging.read_rendition(adaptive.AUDIO_NAME, playlist, frame_rate=None)
            stored = asset.upload(rendition.files())
            record = folder / "rendition.json"
            objects = [obj.as_result() for obj in stored]
            record.write_text(json.dumps({"rendition": rendition.record(), "objects": objects}))
            self._keep(run, task.output, f"rendition-{task.rendition:02d}.json", record)
        count = len(package.rungs) + (1 if has_audio else 0)
        packaged = self.state.add_part(
            run.run_id, task.output, f"rendition-{task.rendition:02d}", {}, len(done.parts) + count
        )
        complete = all(f"rendition-{n:02d}" in packaged.parts for n in range(count))
        if packaged.next_stage_due(complete):
            self.work.send(Task("manifest", run.run_id, task.output).body())

    def _manifest(self, run: RunRecord, output: int, step: ActivityReporter) -> None:
        """An ADAPTIVE output's manifests, written from what its rendition tasks kept (nothing is
        read back from the destination), then delivered with every object they stored."""
        plan = self._planned(run)
        done = self._spans_done(run, plan, output)
        asset = self._asset(run, plan["metadata"], output, step)
        with tempfile.TemporaryDirectory(prefix="cpe-manifest-", dir=self.options.work_dir) as work:
            folder = Path(work)
            package = asset.adaptive_plan(folder)
            has_audio = _has_audio(done)
            renditions, stored = [], []
            for n in range(len(package.rungs) + (1 if has_audio else 0)):
                kept_file = self._fetch(run, output, f"rendition-{n:02d}.json", folder / f"{n}.json")
                kept = json.loads(kept_file.read_text())
                renditions.append(packaging.Rendition.from_record(kept["rendition"], folder))
                stored += [
                    StoredObject(o["bucket"], o["key"], int(o["size"]), o["contentType"])
                    for o in kept["objects"]
                ]
            videos = renditions[: len(package.rungs)]
            sound = renditions[len(package.rungs)] if has_audio else None
            main = asset.main_file(folder, playlist=True)
            manifests = adaptive.write_manifests(main, package, videos, sound)
            size = sum(obj.size for obj in stored) + sum(path.stat().st_size for path in manifests)
            description = packaging.describe(main.name, videos, sound, size)
            step.finishing()
            result = asset.deliver(manifests, description=description, stored_before=stored)
        self._ended(run, step.run, output, {"result": result})
        self._forget(run, output)

    # ------------------------------------------------------------------ helpers

    def _planned(self, run: RunRecord) -> dict[str, Any]:
        held = self.state.get_run(run.run_id)
        if held is None or held.plan is None:
            raise RuntimeError(f"run {run.run_id} has no plan yet")
        return held.plan

    def _work_location(self, run: RunRecord, output: int, name: str) -> tuple[str, str]:
        _, spec = transcode_steps(run.data)[output]
        bucket = self.fanout.work_bucket or str(spec.get("bucket"))
        key = posixpath.join(
            self.fanout.work_prefix, hashlib.sha256(run.run_id.encode()).hexdigest()[:32], str(output), name
        )
        return bucket, key

    def _keep(self, run: RunRecord, output: int, name: str, path: Path) -> None:
        bucket, key = self._work_location(run, output, name)
        self.storage.put_work(path, bucket, key)

    def _fetch(self, run: RunRecord, output: int, name: str, target: Path) -> Path:
        bucket, key = self._work_location(run, output, name)
        return self.storage.get_work(bucket, key, target)

    def _forget(self, run: RunRecord, output: int) -> None:
        bucket, key = self._work_location(run, output, "")
        self.storage.delete_work(bucket, key)

    def _reporter(self, run: RunRecord, time_left: Callable[[], float] = lambda: float("inf")) -> RunReporter:
        watch = _Watch(lambda: self.state.cancel_requested(run.job_id), time_left)
        return self._reporters(run, watch)


def _seconds(metadata: dict[str, Any]) -> float:
    try:
        return float((metadata.get("format") or {}).get("duration") or 0)
    except (TypeError, ValueError):
        return 0.0


def _has_audio(done: PartsDone) -> bool:
    """Whether an output's audio part found audio in the input."""
    return bool(done.parts.get(AUDIO, {}).get("present"))
