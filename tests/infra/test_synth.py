"""`python app.py` works offline and bundles the Lambda asset without Docker; cfn-lint is clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint

from infra.bundling import RUNTIME_PROVIDED, bundled_requirements

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("cdk_out")]
ROOT = Path(__file__).resolve().parents[2]


def asset_dirs(cdk_out: Path) -> list[Path]:
    return [path for path in cdk_out.iterdir() if path.is_dir() and path.name.startswith("asset.")]


def assets(cdk_out: Path) -> tuple[Path, Path]:
    """(the functions' asset, the engine's asset): the engine's alone holds the engine and PyAV."""
    (functions,) = [a for a in asset_dirs(cdk_out) if not (a / "engine").is_dir()]
    (engine,) = [a for a in asset_dirs(cdk_out) if (a / "engine").is_dir()]
    return functions, engine


def _distributions(asset: Path) -> set[str]:
    return {p.name.split("-")[0].lower().replace("_", "-") for p in asset.glob("*.dist-info")}


def test_two_assets_hold_the_functions_and_their_pinned_dependencies_for_arm64(cdk_out: Path):
    functions, engine = assets(cdk_out)
    wanted = {pin.split("==")[0].lower().replace("_", "-") for pin in bundled_requirements()}
    assert _distributions(functions) == wanted
    assert _distributions(engine) == wanted | {"av"}
    for asset in (functions, engine):
        assert (asset / "functions" / "tracker" / "handler.py").is_file()
        assert not _distributions(asset) & RUNTIME_PROVIDED  # the runtime provides boto3 and friends
        (core,) = asset.glob("pydantic_core/_pydantic_core.*.so")
        assert "aarch64" in core.name and "cpython-313" in core.name
    assert (engine / "engine" / "handlers" / "tasks.py").is_file()
    (wheel,) = engine.glob("av-*.dist-info/WHEEL")
    assert "manylinux_2_28_aarch64" in wheel.read_text()  # FFmpeg's libraries built for arm64


def test_the_assets_carry_bytecode_for_the_runtime(cdk_out: Path):
    """Lambda's code directory is read-only: without .pyc files every cold start compiles."""
    for asset in assets(cdk_out):
        sources = [p for p in asset.rglob("*.py") if "dist-info" not in str(p)]
        compiled = {
            p.parent.parent / p.name.split(".")[0] for p in asset.rglob("__pycache__/*.cpython-313.pyc")
        }
        missing = [str(p) for p in sources if p.with_suffix("") not in compiled]
        assert sources and missing == [], asset
        assert not list(asset.rglob("*.cpython-311.pyc"))
        header = (asset / "functions" / "api" / "__pycache__" / "handler.cpython-313.pyc").read_bytes()[4:8]
        assert int.from_bytes(header, "little") == 0b01  # unchecked-hash: valid whatever the files' times


def test_the_engine_functions_run_from_the_engine_asset_and_the_others_from_the_small_one(cdk_out: Path):
    template = json.loads((cdk_out / "CpeServerless.template.json").read_text())
    functions, engine = (f"{a.name.removeprefix('asset.')}.zip" for a in assets(cdk_out))
    handlers = {
        r["Properties"]["Handler"]: r["Properties"]["Code"]["S3Key"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "Handler" in r["Properties"]
    }
    assert {h for h, key in handlers.items() if key == engine} == {
        f"engine.handlers.{name}.handler" for name in ("commands", "tasks", "gave_up")
    }
    assert all(key == functions for h, key in handlers.items() if not h.startswith("engine."))


def test_every_feature_flag_the_cdk_recommends_is_set(cdk_out: Path):
    """`cdk flags` on the synthesized app, as the CLI reports them (cdk.json holds them)."""
    cli = ROOT / "node_modules" / ".bin" / "cdk"
    assert cli.is_file(), f"no CDK CLI at {cli}: `make install` (make test and make infra do it)"
    result = subprocess.run(  # noqa: S603 - the project's pinned CDK CLI
        [str(cli), "flags", "-a", str(cdk_out), "--unstable=flags"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-2000:]
    assert "All feature flags are already set to their recommended values" in report, report[-4000:]


def test_cfn_lint_finds_nothing(cdk_out: Path):
    template = (cdk_out / "CpeServerless.template.json").read_text()
    findings = lint(template, config=ManualArgs(regions=["us-east-1"]))
    # W3005 (a redundant DependsOn) is how CDK writes its templates.
    assert [f"{m.rule.id}: {m.message}" for m in findings if m.rule.id != "W3005"] == []


def test_an_invalid_configuration_fails_synth_naming_the_key(tmp_path: Path):
    context = {"cpe": {"queues": {"input": {"arn": "arn:aws:sqs:us-east-1:123456789012:in"}}}}
    environment = {
        **os.environ,
        "CDK_OUTDIR": str(tmp_path),
        "CDK_CONTEXT_JSON": json.dumps(context),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=environment, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "error: invalid stack configuration: cpe.queues: give both queues.input and queues.output, or neither"
    )
    assert not (tmp_path / "CpeServerless.template.json").exists()
