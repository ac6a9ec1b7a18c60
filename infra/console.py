"""The jobs console in AWS: its built files (console/dist) in a private bucket served by CloudFront
through origin access control, with security headers; its config.json (the API's URL, the sign-in)
written by the deployment; a Cognito app client for it (auth mode cognito), or your issuer's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import Duration, IStableStringProducer, Lazy, RemovalPolicy, Stack, Token
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.config import CognitoAuth, ConfigError, JwtAuth, StackConfig
from infra.console_policy import content_security_policy
from infra.lambda_defaults import FunctionDefaults
from infra.security import acknowledge, nag_partition

DIST = Path(__file__).resolve().parent.parent / "console" / "dist"
TOKEN_VALIDITY = Duration.hours(1)
REFRESH_VALIDITY = Duration.hours(1)  # Cognito's shortest: the console renews nothing, it signs in again
ENTRY = ("index.html", "config.json")  # what the browser fetches first, never cached


@jsii.implements(IStableStringProducer)
class _Produced:
    """A value made at synthesis, after every construct it names exists."""

    def __init__(self, make: Callable[[], str]) -> None:
        self._make = make

    def produce(self) -> str:
        return self._make()


class Console(Construct):
    """``origin`` is the console's address (a browser origin the API and the media bucket allow);
    ``publish`` writes its files and config.json once the API exists."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        removal_policy: RemovalPolicy,
        defaults: FunctionDefaults,
    ) -> None:
        super().__init__(scope, construct_id)
        self._defaults = defaults
        if not (DIST / "index.html").is_file():
            raise ConfigError(
                f"console.enabled: the console is not built ({DIST} is empty): run `make console`"
            )
        self._config = config
        self.bucket = s3.Bucket(
            self,
            "Files",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=removal_policy,
            auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.bucket,
            "S1",
            "The console's build output, read only by CloudFront (origin access control); what users do "
            "is logged by the API's access log, not by reads of these public files.",
        )
        # The hosts the policy allows are known once the API and the media bucket exist (publish).
        self._api_origin = ""
        self._media_origins: list[str] = []
        policy = Lazy.string(_Produced(self._content_security_policy))
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="The jobs console: CSP, HSTS, no framing, no sniffing",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=policy, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
            ),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="The jobs console",
            default_root_object="index.html",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                compress=True,
            ),
        )
        for rule, reason in {
            "CFR1": "A jobs console for the stack's owners, wherever they are: no country is refused.",
            "CFR2": "No web ACL configured: the console is static files; the API it calls is authenticated "
            "and throttled (cpe.webAclArn protects the API).",
            "CFR3": "The console's files are public build output; every call it makes is logged by the API.",
            "CFR4": "The distribution's default *.cloudfront.net certificate, whose TLS policy CloudFront "
            "fixes: a minimum protocol version needs a custom domain and certificate, not configurable "
            "here yet.",
        }.items():
            acknowledge(self.distribution, rule, reason)
        self.origin = f"https://{self.distribution.distribution_domain_name}"
        self.url = f"{self.origin}/"
        self._client_id: str | None = None
        self._sign_in_origins: list[str] = []
        self._auth: dict[str, Any] = self._sign_in()

    def _content_security_policy(self) -> str:
        return content_security_policy(
            api=self._api_origin, media=self._media_origins, sign_in=self._sign_in_origins
        )

    def _sign_in(self) -> dict[str, Any]:
        """What config.json says of the sign-in: OIDC code flow with PKCE against the pool's domain
        (a public app client the stack makes for the console) or your issuer (your client)."""
        auth, console = self._config.auth, self._config.console
        if isinstance(auth, JwtAuth):
            assert console.clientId is not None  # noqa: S101 - the configuration requires it
            scopes = " ".join(dict.fromkeys(["openid", *auth.scopes]))
            issuer = "https://" + auth.issuer.removeprefix("https://").split("/", 1)[0]
            self._sign_in_origins = [issuer, *console.signInOrigins]
            return {
                "authority": auth.issuer,
                "clientId": console.clientId,
                "scope": scopes,
                "tokenUse": auth.tokenUse or "access",
            }
        assert isinstance(auth, CognitoAuth)  # noqa: S101 - the configuration refuses iam
        pool = cognito.UserPool.from_user_pool_arn(self, "UserPool", auth.userPoolArn)
        if console.domainPrefix:
            domain = cognito.UserPoolDomain(
                self,
                "SignInDomain",
                user_pool=pool,
                cognito_domain=cognito.CognitoDomainOptions(domain_prefix=console.domainPrefix),
            )
            sign_in = domain.base_url()
        else:
            assert console.signInUrl is not None  # noqa: S101 - the configuration requires one
            sign_in = console.signInUrl
        self._sign_in_origins = [sign_in]
        client = pool.add_client(
            "ConsoleClient",
            user_pool_client_name=f"{Stack.of(self).stack_name}-console",
            generate_secret=False,  # a browser app keeps no secret: PKCE instead
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                callback_urls=[self.url],
                logout_urls=[self.url],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=TOKEN_VALIDITY,
            id_token_validity=TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_VALIDITY,
        )
        # The managed login page only: CloudFormation's default, with no flows named, also lets the
        # client take passwords (SRP) and custom auth straight from a script.
        cast(cognito.CfnUserPoolClient, client.node.default_child).explicit_auth_flows = [
            "ALLOW_REFRESH_TOKEN_AUTH"
        ]
        self._client_id = client.user_pool_client_id
        region = auth.userPoolArn.split(":")[3]
        authority = f"https://cognito-idp.{region}.{Stack.of(self).url_suffix}/{pool.user_pool_id}"
        return {
            "authority": authority,
            "clientId": client.user_pool_client_id,
            "scope": "openid email profile",
            # API Gateway's Cognito authorizer (no scopes on the methods) takes ID tokens.
            "tokenUse": "id",
            "metadata": {
                "issuer": authority,
                "authorization_endpoint": f"{sign_in}/oauth2/authorize",
                "token_endpoint": f"{sign_in}/oauth2/token",
                "userinfo_endpoint": f"{sign_in}/oauth2/userInfo",
                "revocation_endpoint": f"{sign_in}/oauth2/revoke",
                "jwks_uri": f"{authority}/.well-known/jwks.json",
            },
            # The console's address, URL-encoded (a CloudFront domain name needs no escapes of its own).
            "logoutUrl": f"{sign_in}/logout?client_id={client.user_pool_client_id}"
            f"&logout_uri=https%3A%2F%2F{self.distribution.distribution_domain_name}%2F",
        }

    @property
    def client_id(self) -> str | None:
        """The Cognito app client the stack made for the console (auth mode cognito)."""
        return self._client_id

    def publish(self, api: apigateway.RestApi, api_url: str, media: s3.IBucket | None) -> None:
        """The console's files, then its entry (index.html and config.json, whose deploy-time values
        are the API's URL and the client). The hashed files are cached for good and kept across
        deployments (a tab opened before one still loads its chunks); the entry is never cached."""
        stack = Stack.of(self)
        self._api_origin = f"https://{api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}"
        # The deployments' function logs where the stack's do (retention, removal), not in a group
        # its first run would make (which CDK's managed log groups would then collide with).
        deployment_logs = logs.LogGroup(
            self,
            "DeploymentLogs",
            retention=self._defaults.log_retention,
            removal_policy=self._defaults.log_removal,
        )
        # The API presigns with S3's regional endpoint (functions.api.media_s3). Not the media
        # bucket's own name: its CORS rule names the distribution, which names this policy (a cycle).
        self._media_origins = [f"https://*.s3.{stack.region}.{stack.url_suffix}"] if media else []
        files = s3deploy.BucketDeployment(
            self,
            "Assets",
            sources=[s3deploy.Source.asset(str(DIST), exclude=list(ENTRY))],
            destination_bucket=self.bucket,
            cache_control=[s3deploy.CacheControl.from_string("public, max-age=31536000, immutable")],
            prune=False,
            memory_limit=256,
            log_group=deployment_logs,
        )
        entry = s3deploy.BucketDeployment(
            self,
            "Entry",
            sources=[
                s3deploy.Source.data("index.html", (DIST / "index.html").read_text(encoding="utf-8")),
                s3deploy.Source.json_data("config.json", {"apiUrl": api_url, "auth": self._auth}),
            ],
            destination_bucket=self.bucket,
            cache_control=[s3deploy.CacheControl.no_cache()],
            prune=False,
            distribution=self.distribution,
            distribution_paths=[f"/{name}" for name in ENTRY] + ["/"],
            memory_limit=256,
            log_group=deployment_logs,
        )
        entry.node.add_dependency(files)
        self._acknowledge_deployment_function()

    def _acknowledge_deployment_function(self) -> None:
        """CDK's BucketDeployment runs one function of its own per stack (a custom resource): its
        role and runtime are CDK's, not this stack's to choose."""
        function = next(
            child
            for child in Stack.of(self).node.children
            if child.node.id.startswith("Custom::CDKBucketDeployment")
        )
        stack = Stack.of(self)
        # How cdk-nag names the CDK asset bucket: the stack's account and region, or their references.
        account = "<AWS::AccountId>" if Token.is_unresolved(stack.account) else stack.account
        region = "<AWS::Region>" if Token.is_unresolved(stack.region) else stack.region
        partition = nag_partition(self)
        why = (
            "CDK's BucketDeployment custom resource (its own function and role, made by aws-cdk-lib): "
            "it copies the console's files from the CDK asset bucket into the console's bucket "
            "and invalidates the distribution; its grants are CDK's, scoped to those buckets"
        )
        for rule in (
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "IAM5[Action::s3:GetObject*]",
            "IAM5[Action::s3:GetBucket*]",
            "IAM5[Action::s3:List*]",
            "IAM5[Action::s3:DeleteObject*]",
            "IAM5[Action::s3:Abort*]",
            f"IAM5[Resource::arn:{partition}:s3:::cdk-hnb659fds-assets-{account}-{region}/*]",
            f"IAM5[Resource::<{Stack.of(self).get_logical_id(self.bucket.node.default_child)}.Arn>/*]",  # type: ignore[arg-type]
            "IAM5[Resource::*]",
            "L1",
        ):
            acknowledge(function, rule, why + ".")
