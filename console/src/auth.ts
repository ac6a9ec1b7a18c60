/** Sign-in: OpenID Connect's authorization code flow with PKCE (oidc-client-ts), against a Cognito
 * user pool's managed login in AWS, or the local stack's sign-in page. Tokens stay in this tab's
 * session storage. */

import { User, UserManager, WebStorageStateStore } from "oidc-client-ts";
import type { AuthConfig } from "./config";

export class Auth {
  private readonly manager: UserManager;
  private user: User | null = null;

  constructor(private readonly config: AuthConfig) {
    const home = `${location.origin}${location.pathname}`;
    this.manager = new UserManager({
      authority: config.authority,
      client_id: config.clientId,
      redirect_uri: home,
      post_logout_redirect_uri: home,
      response_type: "code",
      scope: config.scope,
      metadata: config.metadata,
      userStore: new WebStorageStateStore({ store: window.sessionStorage }),
      automaticSilentRenew: false,
    });
  }

  /** Completes a sign-in this page was redirected back from; the signed-in user, if any. */
  async start(): Promise<User | null> {
    const query = new URLSearchParams(location.search);
    if (query.has("code") && query.has("state")) {
      const user = await this.manager.signinRedirectCallback();
      const back = typeof user.state === "string" ? user.state : "#/jobs";
      history.replaceState(null, "", `${location.pathname}${back}`);
    } else if (query.has("error")) {
      const reason = query.get("error_description") ?? query.get("error") ?? "unknown";
      history.replaceState(null, "", location.pathname);
      throw new Error(`The sign-in was refused: ${reason}`);
    }
    const user = await this.manager.getUser();
    this.user = user && !user.expired ? user : null;
    return this.user;
  }

  get name(): string {
    const profile = this.user?.profile;
    return String(profile?.email ?? profile?.["cognito:username"] ?? profile?.preferred_username ?? profile?.sub ?? "");
  }

  /** The bearer token the API takes, or null when there is none or it expired. */
  token(): string | null {
    if (!this.user || this.user.expired) return null;
    return (this.config.tokenUse === "id" ? this.user.id_token : this.user.access_token) ?? null;
  }

  signIn(): Promise<void> {
    return this.manager.signinRedirect({ state: location.hash || "#/jobs" });
  }

  async signOut(): Promise<void> {
    // The refresh token must not outlive the session here (Cognito revokes it; best effort).
    await this.manager.revokeTokens(["refresh_token"]).catch(() => undefined);
    await this.manager.removeUser();
    this.user = null;
    if (this.config.logoutUrl) location.assign(this.config.logoutUrl);
    else location.assign(`${location.pathname}#/jobs`);
  }
}
