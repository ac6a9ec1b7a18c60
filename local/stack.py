"""The whole stack on one machine: moto in server mode as AWS, the synthesized CDK template
deployed into its CloudFormation (so the table, queues and their redrive policies are the
template's, not a second list), the real Lambda handlers invoked in-process with AWS's event
shapes (the template's event source mappings run by local.event_source, the REST API by
local.gateway), and the engine's worker on the input queue.

What is emulated here is only what AWS itself does; the limits are in the README ("The local
stack")."""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import boto3
from aws_lambda_powertools.utilities import parameters

from functions import env
from infra.feature_flags import feature_flags
from local.apigateway import LOCAL_CALLER
from local.cloudformation import deploy, placeholder
from local.embedded import FAKE_CREDENTIALS, EmbeddedAws, embedded_aws, environment
from local.event_source import (
    DynamoStreamEventSource,
    ScheduleEventSource,
    SqsEventSource,
    dropping_disabled_metrics,
    rate_seconds,
)
from local.gateway import Gateway, Principal, gateway_headers, routes_from_template
from local.metering import Meter

ROOT = Path(__file__).resolve().parent.parent
STACK = "CpeServerless"
CACHE = ROOT / ".local" / "cdk.out"
STAGE = "prod"
AUTHORIZER_HANDLER = "functions.authorizer.handler.handler"
_log = logging.getLogger(__name__)


def _source_digest(context: str) -> str:
    digest = hashlib.sha256(context.encode())
    for path in sorted(
        [ROOT / "app.py", ROOT / "cdk.json", *ROOT.glob("infra/**/*.py"), *ROOT.glob("functions/**/*.py")]
    ):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def synthesize(config: Mapping[str, Any] | None = None) -> Path:
    """The stack's cloud assembly (Lambda bundling skipped: the handlers run from this checkout),
    cached by the digest of the CDK app, the functions and ``config`` (the ``cpe`` context, which
    replaces cdk.json's if given)."""
    context: dict[str, Any] = {**feature_flags(), "aws:cdk:bundling-stacks": []}
    if config is not None:
        context["cpe"] = dict(config)
    out = CACHE / _source_digest(json.dumps(context, sort_keys=True))
    if (out / f"{STACK}.template.json").is_file():
        return out
    environment_variables = {
        **os.environ,
        "CDK_OUTDIR": str(out),
        "CDK_CONTEXT_JSON": json.dumps(context),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=environment_variables,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cdk synth failed:\n{result.stderr[-3000:]}")
    return out


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("api: " + format, *args)

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        # The path and headers as sent, before WSGI decodes and renames them: SigV4 signs those.
        environ["RAW_URI"] = self.path
        environ["RAW_HEADERS"] = list(self.headers.items())
        return environ


# The API's caller on the local stack: the process's (moto's) credentials, as an IAM user.
LOCAL_PRINCIPAL = Principal(
    FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
    FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    LOCAL_CALLER,
)
# A second client app, for trying owners: a role's session, as an app on AWS would call.
PEER_PRINCIPAL = Principal(
    "AKIALOCALPEERAPP0001", "peer-app-secret", "arn:aws:sts::123456789012:assumed-role/PeerApp/local"
)


@dataclass
class LocalStack:
    aws: EmbeddedAws
    api_url: str
    outputs: dict[str, str]
    template: dict[str, Any]
    webhook_secret_arn: str | None
    event_sources: list[Any] = field(default_factory=list)  # event source mappings and schedules
    primed: list[str] = field(default_factory=list)  # the SnapStart hooks run before "snapshots"

    def set_enabled(self, handler: str, enabled: bool) -> int:
        """Enable or disable the event sources of the functions whose handler is ``handler``, as
        ``aws lambda update-event-source-mapping --no-enabled`` (or disabling a rule) would: a
        disabled source leaves its messages where they are. Returns how many sources changed."""
        changed = [source for source in self.event_sources if source.function_name == handler]
        for source in changed:
            source.enabled = enabled
        return len(changed)


def host_and_port(url: str) -> str:
    """``host:port`` of a URL, as functions.shared.urls names trusted endpoints."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _functions(
    template: dict[str, Any], physical: dict[str, str], lambda_client: Any
) -> dict[str, dict[str, Any]]:
    """Each function of the template: its handler and the environment its deployed copy got
    (references resolved by CloudFormation to the created table and queues)."""
    functions = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        configuration = lambda_client.get_function_configuration(FunctionName=physical[logical_id])
        functions[logical_id] = {
            "handler": resource["Properties"]["Handler"],
            "environment": configuration.get("Environment", {}).get("Variables", {}),
            "timeout": resource["Properties"].get("Timeout", 3),
            "snap_start": "SnapStart" in resource["Properties"],
        }
    return functions


def _stand_ins(deployment: Any, variables: dict[str, str], aws: EmbeddedAws) -> dict[str, str]:
    """Resources moto's CloudFormation does not create but a handler calls at run time, created
    directly (today: the webhook signing secret), with the variables that named them repointed."""
    changed = {}
    for logical_id, kind in deployment.not_modelled.items():
        if kind != "AWS::SecretsManager::Secret":
            continue
        secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        arn = aws.client("secretsmanager").create_secret(Name=f"local-{logical_id}", SecretString=secret)[
            "ARN"
        ]
        changed.update({name: arn for name, value in variables.items() if value == placeholder(logical_id)})
    return changed


def _queue_url(deployment: Any, logical_id: str) -> str:
    return str(deployment.physical_ids[logical_id])  # CloudFormation's physical id of a queue is its URL


def _handler(dotted: str, meter: Meter | None = None) -> Callable[[dict[str, Any], Any], Any]:
    module, name = dotted.rsplit(".", 1)
    handler = dropping_disabled_metrics(getattr(importlib.import_module(module), name))
    return meter.wrap(dotted, handler) if meter else handler


def _snapshot(functions: dict[str, dict[str, Any]]) -> list[str]:
    """What Lambda does when it publishes a version of a SnapStart function: run the before-snapshot
    hooks its handler's module registered (snapshot_restore_py, latest first). Returns their
    names. (No restore follows: the local process goes on from the primed state, as one restored
    environment would.)"""
    import snapshot_restore_py  # noqa: PLC0415 - the dev requirements have it, as Lambda's runtime

    modules = {f["handler"].rsplit(".", 1)[0] for f in functions.values() if f["snap_start"]}
    ran = []
    for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
        if hook.__module__ in modules:
            hook(*args, **kwargs)
            ran.append(f"{hook.__module__}.{hook.__qualname__}")
    return ran


def _poll_forever(source: SqsEventSource | DynamoStreamEventSource, stop: threading.Event) -> None:
    while not stop.is_set():
        if not source.enabled:
            stop.wait(0.25)
            continue
        try:
            if source.poll_once(wait_seconds=1) == 0:
                # Lambda polls a stream's shards about four times a second.
                stop.wait(0.25 if isinstance(source, DynamoStreamEventSource) else 0.05)
        except Exception:  # noqa: BLE001 - the emulator keeps going, as Lambda's poller does
            _log.exception("event source poll failed")
            stop.wait(1)


def _event_sources(
    template: dict[str, Any],
    deployment: Any,
    functions: dict[str, dict[str, Any]],
    aws: EmbeddedAws,
    concurrency: int,
) -> list[Any]:
    """The template's event source mappings, taken over from moto and run here."""
    lambda_client, sqs = aws.client("lambda"), aws.client("sqs")
    sources: list[Any] = []
    streams = aws.client("dynamodbstreams")
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        props = resource["Properties"]
        # moto would take the messages and try to run the function in Docker: this runtime takes
        # the mapping over (disabled first: moto's queue keeps a reference to a deleted one).
        mapping_id = deployment.physical_ids[logical_id]
        lambda_client.update_event_source_mapping(UUID=mapping_id, Enabled=False)
        lambda_client.delete_event_source_mapping(UUID=mapping_id)
        function = functions[props["FunctionName"]["Ref"]]
        source_id, attribute = props["EventSourceArn"]["Fn::GetAtt"]
        if attribute == "StreamArn":
            table = deployment.physical_ids[source_id]
            failure = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            failure_queue = _queue_url(deployment, failure["Fn::GetAtt"][0]) if failure else None
            sources.append(
                DynamoStreamEventSource(
                    streams,
                    sqs,
                    aws.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"],
                    function["invoke"],
                    batch_size=props.get("BatchSize", 100),
                    filters=[
                        json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])
                    ],
                    retry_attempts=props.get("MaximumRetryAttempts", 10),
                    on_failure_queue_url=failure_queue,
                    function_name=function["handler"],
                )
            )
            continue
        # Lambda scales a queue's pollers up to the mapping's maximum concurrency; here, up to the
        # cores this machine lends it (``concurrency``).
        pollers = min(props.get("ScalingConfig", {}).get("MaximumConcurrency", 1), concurrency)
        sources += [
            SqsEventSource(
                sqs,
                _queue_url(deployment, source_id),
                function["invoke"],
                batch_size=props.get("BatchSize", 10),
                batching_window=props.get("MaximumBatchingWindowInSeconds", 0),
                function_name=function["handler"],
                timeout_ms=function["timeout"] * 1000,
            )
            for _ in range(pollers)
        ]

    _detach_moto_mappings()
    return sources


def _rule_arn(physical_id: str, region: str, account: str) -> str:
    return (
        physical_id
        if physical_id.startswith("arn:")
        else f"arn:aws:events:{region}:{account}:rule/{physical_id}"
    )


def _schedules(
    template: dict[str, Any],
    deployment: Any,
    functions: dict[str, dict[str, Any]],
    aws: EmbeddedAws,
    every_seconds: float | None,
) -> list[ScheduleEventSource]:
    """The template's schedule rules that target a function (moto's EventBridge does not fire
    them), each firing at its rate, or every ``every_seconds`` if given (tests)."""
    schedules = []
    region, account = aws.region, aws.client("sts").get_caller_identity()["Account"]
    for logical_id, resource in template["Resources"].items():
        props = resource["Properties"] if resource["Type"] == "AWS::Events::Rule" else {}
        if "ScheduleExpression" not in props:
            continue
        for target in props["Targets"]:
            function = functions[target["Arn"]["Fn::GetAtt"][0]]
            schedules.append(
                ScheduleEventSource(
                    function["invoke"],
                    rule_arn=_rule_arn(deployment.physical_ids[logical_id], region, account),
                    every_seconds=every_seconds or rate_seconds(props["ScheduleExpression"]),
                    function_name=function["handler"],
                    timeout_ms=function["timeout"] * 1000,
                )
            )
    return schedules


def _fire_forever(schedule: ScheduleEventSource, stop: threading.Event) -> None:
    while not stop.wait(schedule.every_seconds):
        if schedule.enabled:
            schedule.fire()


def _detach_moto_mappings() -> None:
    """moto runs a queue's or a table's mappings itself (in Docker, which is not here), even once
    disabled or deleted: forget them in its backends, which share this process (in-process server)."""
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415 - moto's internals, here only
    from moto.sqs.models import sqs_backends  # noqa: PLC0415

    for backends, collection in ((sqs_backends, "queues"), (dynamodb_backends, "tables")):
        for account in backends.values():
            for backend in account.values():
                for resource in getattr(backend, collection).values():
                    resource.lambda_event_source_mappings.clear()


def _forget_first_use_state() -> None:
    """The handlers build their settings, clients and store at first use and keep them, as in a
    Lambda sandbox; a new stack in the same process is a new sandbox."""
    for name, module in list(sys.modules.items()):
        if name.startswith(("functions.", "engine.")) and module is not None:
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", "") == name:
                    value.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]  # Powertools' cached secrets, clients


@contextmanager
def local_stack(
    *,
    port: int = 0,
    engine_jobs: int | None = None,
    progress_interval: float = 2.0,
    retry_after_seconds: int | None = None,
    webhook_urls: list[str] | None = None,
    trusted_urls: Sequence[str] = (),
    engine_settings: dict[str, str] | None = None,
    stalled_after_seconds: int | None = None,
    schedule_seconds: float | None = None,
    principals: Sequence[Principal] = (LOCAL_PRINCIPAL,),
    config: Mapping[str, Any] | None = None,
    meter: Meter | None = None,
) -> Iterator[LocalStack]:
    """Start everything; stop it on exit. ``retry_after_seconds`` shortens the output queue's
    visibility timeout (the template's is 181 s), so that redelivery and dead-lettering happen
    within seconds: for tests and demonstrations only. ``webhook_urls`` replaces the stack's webhook
    endpoints, and may name localhost (over http) as only the local stack allows: their hosts, and
    those of ``trusted_urls`` (local servers of inputs), are the only local endpoints trusted.
    ``engine_settings`` overrides the engine's (e.g. ``SPAN_SECONDS``); ``engine_jobs`` is how many
    engine tasks run at once (Lambda's concurrency, on this machine's cores). ``stalled_after_seconds``
    replaces the watchdog's limit and ``schedule_seconds`` the schedules' rates (tests). ``principals``
    are the IAM principals the API knows (the first signs with the process's credentials; the
    others are further client apps, each an owner of its jobs). ``config`` is the stack's
    configuration (the ``cpe`` context, infra.config), replacing cdk.json's. ``meter`` records each
    function's invocations and CPU time (local.metering)."""
    cdk_out = synthesize(config)
    template = json.loads((cdk_out / f"{STACK}.template.json").read_text())
    with ExitStack() as stack:
        _forget_first_use_state()  # another stack may have run in this process
        stack.callback(_forget_first_use_state)
        aws = stack.enter_context(embedded_aws())
        session = boto3.Session(region_name=aws.region)
        deployment = deploy(cdk_out, STACK, session)
        if deployment.status != "CREATE_COMPLETE":
            raise RuntimeError(f"local deploy ended {deployment.status}: {deployment.status_reason}")
        lambda_client = aws.client("lambda")
        functions = _functions(template, deployment.physical_ids, lambda_client)

        # The handlers share this process's environment: the union of their variables.
        variables: dict[str, str] = {}
        for function in functions.values():
            variables.update(function["environment"])
        variables.update(_stand_ins(deployment, variables, aws))
        # Local endpoints are trusted by name (host:port), never "anything private".
        trusted = {host_and_port(url) for url in [*(webhook_urls or []), *trusted_urls]}
        if webhook_urls is not None:
            variables[env.WEBHOOK_URLS] = ",".join(webhook_urls)
        variables[env.TRUSTED_URL_HOSTS] = ",".join(sorted(trusted))
        variables.update(
            {
                env.DYNAMODB_ENDPOINT: aws.endpoint,
                env.SQS_ENDPOINT: aws.endpoint,
                "POWERTOOLS_METRICS_DISABLED": "true",
                env.POWERTOOLS_LOG_LEVEL: "WARNING",
                # This machine's cores, not Lambda's: the fastest x264 preset that keeps quality.
                env.ENCODER_PRESET: "veryfast",
                env.PROGRESS_SECONDS: str(progress_interval),
                **(engine_settings or {}),
                **({env.STALLED_AFTER_SECONDS: str(stalled_after_seconds)} if stalled_after_seconds else {}),
            }
        )
        stack.enter_context(environment(**variables))
        for function in functions.values():  # imported in their environment, as Lambda does
            function["invoke"] = _handler(function["handler"], meter)
        primed = _snapshot(functions)

        stop = threading.Event()
        sqs = aws.client("sqs")
        if retry_after_seconds is not None:
            sqs.set_queue_attributes(
                QueueUrl=deployment.outputs["OutputQueueUrl"],
                Attributes={"VisibilityTimeout": str(retry_after_seconds)},
            )
        sources = _event_sources(template, deployment, functions, aws, engine_jobs or os.cpu_count() or 1)
        schedules = _schedules(template, deployment, functions, aws, schedule_seconds)

        api_function = next(f for f in functions.values() if f["handler"] == "functions.api.handler.handler")
        gateway = Gateway(
            api_function["invoke"],
            routes_from_template(template),
            stage=STAGE,
            region=aws.region,
            principals=principals,
            error_headers=gateway_headers(template),
            authorizer=next(
                (f["invoke"] for f in functions.values() if f["handler"] == AUTHORIZER_HANDLER),
                None,
            ),
        )
        server = make_server(
            "127.0.0.1", port, gateway, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        api_url = f"http://127.0.0.1:{server.server_port}/{STAGE}/"

        threads = [threading.Thread(target=server.serve_forever, name="api", daemon=True)]
        threads += [
            threading.Thread(target=_poll_forever, args=(s, stop), name="esm", daemon=True) for s in sources
        ]
        threads += [
            threading.Thread(target=_fire_forever, args=(s, stop), name="schedule", daemon=True)
            for s in schedules
        ]
        for thread in threads:
            thread.start()
        try:
            yield LocalStack(
                aws,
                api_url,
                deployment.outputs,
                template,
                variables.get(env.WEBHOOK_SECRET_ARN),
                [*sources, *schedules],
                primed,
            )
        finally:
            stop.set()
            server.shutdown()
            for thread in threads:
                thread.join(timeout=30)
