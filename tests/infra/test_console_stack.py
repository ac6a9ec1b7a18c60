"""The jobs console in AWS (console.enabled): its files in a private bucket that only CloudFront
reads (origin access control), served over HTTPS with security headers; its config.json written by
the deployment (the API's URL, the sign-in); a public Cognito app client with the code flow for it;
its origin allowed by the API (preflight, grant, handler) and the media bucket. Each variant also
passes the AWS Solutions checks (conftest.synthesize)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, load_config
from tests.infra.conftest import resources_of, synthesize
from tests.infra.test_stack import of_type, ref

pytestmark = pytest.mark.infra
POOL_ARN = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf"
ISSUER = "https://login.example.com/"
COGNITO = {
    "auth": {"mode": "cognito", "userPoolArn": POOL_ARN},
    "console": {"enabled": True, "domainPrefix": "cpe-jobs"},
    "cors": {"allowedOrigins": ["https://app.example"]},
}
JWT = {
    "auth": {"mode": "jwt", "issuer": ISSUER, "audience": ["cpe-api"], "scopes": ["jobs/read"]},
    "console": {"enabled": True, "clientId": "console-spa", "signInOrigins": ["https://tokens.example.com"]},
}


@pytest.fixture(scope="module")
def cognito_stack() -> Any:
    return synthesize("ConsoleCognito", COGNITO)


@pytest.fixture(scope="module")
def cognito(cognito_stack: Any) -> dict[str, Any]:
    return resources_of(cognito_stack)


def only(resources: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    ((name, resource),) = of_type(resources, kind).items()
    return name, resource["Properties"]


def distribution_domain(resources: dict[str, Any]) -> dict[str, Any]:
    name, _ = only(resources, "AWS::CloudFront::Distribution")
    return {"Fn::GetAtt": [name, "DomainName"]}


def config_json(stack: Any) -> dict[str, Any]:
    """The config.json the deployment writes (deploy-time values are markers in the asset)."""
    outdir = Path(stack.node.root.outdir)
    (found,) = list(outdir.glob("asset.*/config.json"))
    # A marker stands for a whole JSON string (its quotes included): read it as a string here.
    return dict(json.loads(re.sub(r"(<<marker:0xbaba:\d+>>)", r'"\1"', found.read_text())))


def test_the_files_are_private_and_read_only_by_the_distribution(cognito):
    distribution_name, distribution = only(cognito, "AWS::CloudFront::Distribution")
    config = distribution["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https" and behavior["Compress"] is True
    (origin,) = config["Origins"]
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # origin access control instead
    assert "OriginAccessControlId" in origin

    (bucket_name,) = [n for n in of_type(cognito, "AWS::S3::Bucket") if n.startswith("ConsoleFiles")]
    bucket = cognito[bucket_name]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in of_type(cognito, "AWS::S3::BucketPolicy").values()
        if ref(p["Properties"]["Bucket"]) == bucket_name
    ]
    reads = [s for s in policy if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in reads] == [{"Service": "cloudfront.amazonaws.com"}]
    assert reads[0]["Action"] == "s3:GetObject"
    assert json.dumps(reads[0]["Condition"]).count(distribution_name) == 1  # this distribution only
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in policy)


def test_every_answer_carries_the_security_headers(cognito):
    _, policy = only(cognito, "AWS::CloudFront::ResponseHeadersPolicy")
    headers = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    # The policy joins deploy-time values: read its directives from the literal parts.
    joined = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "HOST" for part in joined)
    csp = dict(directive.split(" ", 1) for directive in text.split("; "))
    assert (
        csp["script-src"] == "'self'" and csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    )
    assert csp["script-src"] == "'self'" and csp["default-src"] == "'self'"
    # No other host: the API, the media links' regional S3 endpoint, the pool's sign-in domain.
    connect = json.dumps(policy)
    api_name, _ = only(cognito, "AWS::ApiGateway::RestApi")
    domain_name, _ = only(cognito, "AWS::Cognito::UserPoolDomain")
    assert f'"{api_name}"' in connect and f'"{domain_name}"' in connect
    assert "*.amazonaws.com" not in connect and "https://*.s3.us-east-1." in csp["connect-src"]
    assert "blob:" in csp["worker-src"] and "blob:" in csp["media-src"]  # hls.js
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 365 * 24 * 3600
    assert headers["ContentTypeOptions"]["Override"] is True


def test_a_public_cognito_client_with_the_code_flow_returns_to_the_console(cognito):
    _, client = only(cognito, "AWS::Cognito::UserPoolClient")
    assert client["UserPoolId"] == "us-east-1_AbCdEf"
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlows"] == ["code"] and client["AllowedOAuthFlowsUserPoolClient"] is True
    assert set(client["AllowedOAuthScopes"]) == {"openid", "email", "profile"}
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]  # the managed login only
    domain = distribution_domain(cognito)
    for urls in (client["CallbackURLs"], client["LogoutURLs"]):
        assert urls == [{"Fn::Join": ["", ["https://", domain, "/"]]}]
    _, sign_in = only(cognito, "AWS::Cognito::UserPoolDomain")
    assert (sign_in["Domain"], sign_in["UserPoolId"]) == ("cpe-jobs", "us-east-1_AbCdEf")


def test_the_files_are_cached_for_good_and_the_entry_never_then_the_cache_is_cleared(cognito, cognito_stack):
    deployments = {
        name.removeprefix("Console").split("CustomResource")[0]: (resource, resource["Properties"])
        for name, resource in of_type(cognito, "Custom::CDKBucketDeployment").items()
    }
    files, entry = deployments["Assets"][1], deployments["Entry"][1]
    assert files["SystemMetadata"] == {"cache-control": "public, max-age=31536000, immutable"}
    assert entry["SystemMetadata"] == {"cache-control": "no-cache"}
    assert files["Prune"] is False and entry["Prune"] is False  # an open tab still finds its chunks
    assert set(entry["DistributionPaths"]) == {"/", "/index.html", "/config.json"}
    (assets_name,) = [n for n in of_type(cognito, "Custom::CDKBucketDeployment") if "Assets" in n]
    assert assets_name in deployments["Entry"][0]["DependsOn"]  # the entry only once its files are there


def test_the_config_names_the_api_and_the_sign_in(cognito, cognito_stack):
    (entry,) = [
        r["Properties"] for n, r in of_type(cognito, "Custom::CDKBucketDeployment").items() if "Entry" in n
    ]
    config = config_json(cognito_stack)
    markers = {k: json.dumps(v) for markers in entry["SourceMarkers"] for k, v in markers.items()}

    def resolved(value: str) -> str:
        return markers.get(value, value)

    assert "execute-api" in resolved(config["apiUrl"])
    auth = config["auth"]
    assert auth["tokenUse"] == "id" and auth["scope"] == "openid email profile"
    assert "/us-east-1_AbCdEf" in resolved(auth["authority"])
    client_name, _ = only(cognito, "AWS::Cognito::UserPoolClient")
    assert client_name in resolved(auth["clientId"])
    assert ".amazoncognito.com/oauth2/token" in resolved(auth["metadata"]["token_endpoint"])
    assert ".amazoncognito.com/oauth2/revoke" in resolved(auth["metadata"]["revocation_endpoint"])
    logout = resolved(auth["logoutUrl"])
    assert "logout_uri=https%3A%2F%2F" in logout and "Token[" not in logout


def test_the_console_is_an_allowed_origin_of_the_api_and_the_media_bucket(cognito):
    origin = {"Fn::Join": ["", ["https://", distribution_domain(cognito)]]}
    (api,) = [
        f["Properties"]
        for f in of_type(cognito, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "functions.api.handler.handler"
    ]
    allowed = api["Environment"]["Variables"]["CORS_ORIGINS"]
    assert allowed == {
        "Fn::Join": ["", ['["https://app.example","https://', distribution_domain(cognito), '"]']]
    }
    media = [b for n, b in of_type(cognito, "AWS::S3::Bucket").items() if n.startswith("EngineMedia")]
    (rules,) = [
        b["Properties"]["CorsConfiguration"]["CorsRules"]
        for b in media
        if "CorsConfiguration" in b["Properties"]
    ]
    assert rules[0]["AllowedOrigins"] == ["https://app.example", origin]
    preflights = [
        m["Properties"]
        for m in of_type(cognito, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "OPTIONS"
    ]
    assert preflights and all("https://app.example" in json.dumps(p) for p in preflights)
    assert all(json.dumps(distribution_domain(cognito)) in json.dumps(p) for p in preflights)


def test_the_stack_says_where_the_console_is(cognito_stack):
    from aws_cdk.assertions import Template  # noqa: PLC0415

    outputs = Template.from_stack(cognito_stack).to_json()["Outputs"]
    assert outputs["ConsoleUrl"]["Value"] == {
        "Fn::Join": ["", ["https://", distribution_domain(resources_of(cognito_stack)), "/"]]
    }
    assert "ConsoleClientId" in outputs


def test_with_an_oidc_issuer_the_console_uses_your_client_and_makes_no_cognito_resource():
    stack = synthesize("ConsoleJwt", JWT)
    resources = resources_of(stack)
    assert not [r for r in resources.values() if r["Type"].startswith("AWS::Cognito::")]
    auth = config_json(stack)["auth"]
    assert auth == {
        "authority": ISSUER,
        "clientId": "console-spa",
        "scope": "openid jobs/read",
        "tokenUse": "access",
    }
    _, policy = only(resources, "AWS::CloudFront::ResponseHeadersPolicy")
    csp = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    joined = json.dumps(csp["ContentSecurityPolicy"])
    assert "https://login.example.com https://tokens.example.com" in joined  # discovery, tokens


def test_no_console_no_distribution():
    assert not of_type(resources_of(synthesize("NoConsole", {})), "AWS::CloudFront::Distribution")


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"console": {"enabled": True}}, "needs auth.mode cognito or jwt"),
        ({**COGNITO, "console": {"enabled": True}}, "exactly one of domainPrefix"),
        (
            {
                **COGNITO,
                "console": {"enabled": True, "domainPrefix": "a", "signInUrl": "https://auth.example"},
            },
            "exactly one of domainPrefix",
        ),
        ({**JWT, "console": {"enabled": True}}, "console.clientId is required"),
        ({**COGNITO, "console": {"enabled": True, "domainPrefix": "Not_A_Prefix"}}, "console.domainPrefix"),
        ({**COGNITO, "owners": {"claim": "client_id"}}, "owners.claim must be sub"),
    ],
)
def test_a_console_that_cannot_sign_in_is_refused_at_synth(config, says):
    with pytest.raises(ConfigError, match=says):
        load_config(config)


def test_every_function_logs_to_a_group_of_the_stacks_with_its_retention(cognito):
    """CDK's BucketDeployment functions too: a group their first run made would collide with the
    one CDK's managed log groups (a recommended feature flag) would create."""
    groups = of_type(cognito, "AWS::Logs::LogGroup")
    functions = of_type(cognito, "AWS::Lambda::Function").values()
    used = {ref(f["Properties"]["LoggingConfig"]["LogGroup"]) for f in functions}
    assert used <= set(groups) and len(functions) > 0
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups.values())
    assert all("LogGroupName" not in g["Properties"] for g in groups.values())
