/** The console's runtime configuration: `config.json` beside `index.html`, written where the console
 * is served (the stack writes it to the console's bucket; `make up` serves its own). */

export interface AuthConfig {
  /** The OIDC issuer (a Cognito user pool's `https://cognito-idp.<region>.amazonaws.com/<pool id>`). */
  authority: string;
  /** A public app client of the issuer: authorization code with PKCE, no secret. */
  clientId: string;
  scope: string;
  /** Which token the API's authorizer takes: Cognito's checks ID tokens, an OIDC issuer's as configured. */
  tokenUse: "access" | "id";
  /** The issuer's endpoints, when the browser cannot read its discovery document (the local issuer). */
  metadata?: Record<string, string>;
  /** Where signing out ends (Cognito's `/logout?client_id=...&logout_uri=...`); none: sign out here only. */
  logoutUrl?: string;
}

export interface ConsoleConfig {
  apiUrl: string;
  auth: AuthConfig;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const answer = await fetch(new URL("config.json", document.baseURI), { cache: "no-store" });
  if (!answer.ok) throw new Error(`config.json could not be read (HTTP ${answer.status})`);
  const config = (await answer.json()) as Partial<ConsoleConfig>;
  if (typeof config.apiUrl !== "string" || !config.auth?.authority || !config.auth.clientId) {
    throw new Error("config.json lacks apiUrl, auth.authority or auth.clientId");
  }
  return config as ConsoleConfig;
}
