/** The job API, typed from docs/openapi.json (`npm run api-types` writes schema.d.ts). Every failure
 * becomes an ApiProblem whose message is plain words. */

import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Job = components["schemas"]["JobOut"];
export type JobSummary = components["schemas"]["JobSummaryOut"];
export type JobStatus = components["schemas"]["JobStatus"];
export type Activity = components["schemas"]["ActivityOut"];
export type JobEvent = components["schemas"]["EventOut"];
export type Upload = components["schemas"]["UploadOut"];
export type ErrorBody = components["schemas"]["ErrorBody"];
export type ListQuery = NonNullable<paths["/jobs"]["get"]["parameters"]["query"]>;

export const TERMINAL: ReadonlySet<JobStatus> = new Set(["COMPLETED", "FAILED", "CANCELED", "TIMED_OUT"]);

/** What the API's error codes mean to a person (docs: README "The job API"). */
const PLAIN_WORDS: Record<string, string> = {
  NOT_FOUND: "There is no such job, or it is not yours.",
  JOB_NOT_FOUND: "There is no such job, or it is not yours.",
  NOT_FOUND_OR_UNAUTHENTICATED: "You are not signed in, or your sign-in has expired.",
  UNAUTHORIZED: "You are not signed in, or your sign-in has expired.",
  ACCESS_DENIED: "Your sign-in is not allowed to do this.",
  NO_IDENTITY: "Your sign-in carries no identity the API recognizes.",
  FORBIDDEN: "Only an operator may see another owner's jobs.",
  JOB_FINISHED: "The job has already ended: there is nothing left to cancel.",
  THROTTLED: "The service is busy. Try again in a few seconds.",
  CONCURRENT_UPDATE: "The job changed while you acted on it. Try again.",
  REQUEST_IN_PROGRESS: "The same request is still being handled. Try again in a few seconds.",
  UPLOADS_DISABLED: "This stack takes no uploads (it has no engine of its own).",
  JOB_TOO_LARGE: "The job is too large to submit.",
  JOB_ID_TAKEN: "That job id is taken: choose another, or leave it out.",
  IDEMPOTENCY_KEY_REUSED: "This request was already made with another job. Submit again.",
  PLAYLIST_NOT_FOUND: "This stream is not (or not yet) among the job's outputs.",
};

export class ApiProblem extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly details: unknown = null,
  ) {
    super(message);
  }

  get signInNeeded(): boolean {
    return this.status === 401 || (this.status === 403 && this.code !== "FORBIDDEN");
  }
}

/** The problem an API answer describes, in plain words (the API's own message when it has no better). */
export function problemOf(status: number, body: unknown): ApiProblem {
  const error = (body ?? {}) as Partial<ErrorBody>;
  const code = typeof error.code === "string" ? error.code : `HTTP_${status}`;
  let message = PLAIN_WORDS[code] ?? (typeof error.message === "string" ? error.message : "");
  if (code === "INVALID_REQUEST" && Array.isArray(error.details)) {
    const fields = error.details
      .map((d: { loc?: unknown[]; msg?: string }) => `${(d.loc ?? []).slice(1).join(".") || "the request"}: ${d.msg ?? "invalid"}`)
      .slice(0, 5);
    message = `The request was refused. ${fields.join("; ")}`;
  }
  if (!message) message = status >= 500 ? "The service failed to answer. Try again later." : `The request failed (HTTP ${status}).`;
  return new ApiProblem(message, status, code, error.details ?? null);
}

export class Api {
  private readonly client: Client<paths>;

  constructor(
    readonly baseUrl: string,
    private readonly token: () => string | null,
  ) {
    this.client = createClient<paths>({ baseUrl: baseUrl.replace(/\/+$/, "") });
    this.client.use({
      onRequest({ request }) {
        const bearer = token();
        if (bearer) request.headers.set("Authorization", `Bearer ${bearer}`);
        return request;
      },
    });
  }

  /** The API's route serving an HLS playlist of the job's with every object it names signed. */
  playlistUrl(jobId: string, key: string): string {
    return `${this.baseUrl.replace(/\/+$/, "")}/jobs/${encodeURIComponent(jobId)}/playlist?key=${encodeURIComponent(key)}`;
  }

  /** Whether ``url`` is the API's (a player's request to it carries the caller's token). */
  owns(url: string): boolean {
    return url.startsWith(this.baseUrl.replace(/\/+$/, "") + "/");
  }

  authorization(): string | null {
    const bearer = this.token();
    return bearer ? `Bearer ${bearer}` : null;
  }

  listJobs(query: ListQuery) {
    return this.call(() => this.client.GET("/jobs", { params: { query } }));
  }

  getJob(jobId: string) {
    return this.call(() => this.client.GET("/jobs/{job_id}", { params: { path: { job_id: jobId } } }));
  }

  async events(jobId: string): Promise<JobEvent[]> {
    const all: JobEvent[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.call(() =>
        this.client.GET("/jobs/{job_id}/events", { params: { path: { job_id: jobId }, query: { nextToken } } }),
      );
      all.push(...page.items);
      nextToken = page.nextToken ?? undefined;
    } while (nextToken && all.length < 1000);
    return all;
  }

  cancel(jobId: string) {
    return this.call(() => this.client.POST("/jobs/{job_id}/cancel", { params: { path: { job_id: jobId } } }));
  }

  submit(job: Record<string, unknown>, idempotencyKey: string) {
    return this.call(() =>
      this.client.POST("/jobs", {
        // The body is the user's own job (pasted or built): the API is the judge of it.
        body: job as never,
        params: { header: { "idempotency-key": idempotencyKey } },
      }),
    );
  }

  startUpload(file: File) {
    return this.call(() =>
      this.client.POST("/uploads", {
        body: { contentType: file.type || "application/octet-stream", filename: safeFilename(file.name) },
      }),
    );
  }

  private async call<T>(request: () => Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
    let answer: { data?: T; error?: unknown; response: Response };
    try {
      answer = await request();
    } catch {
      throw new ApiProblem(`The API at ${this.baseUrl} cannot be reached. Check your connection and try again.`, 0, "UNREACHABLE");
    }
    if (answer.response.ok && answer.data !== undefined) return answer.data;
    throw problemOf(answer.response.status, answer.error);
  }
}

/** A file's name as the API takes it (`[A-Za-z0-9][A-Za-z0-9._-]{0,99}`): "my clip.mp4" -> "my_clip.mp4". */
export function safeFilename(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[^A-Za-z0-9]+/, "");
  const dot = safe.lastIndexOf(".");
  const extension = dot > 0 ? safe.slice(dot).slice(0, 12) : "";
  const stem = (dot > 0 ? safe.slice(0, dot) : safe).slice(0, 100 - extension.length);
  return stem ? `${stem}${extension}` : `upload${extension}`;
}

/** Sends a file to S3 through the presigned POST form of `POST /uploads`. */
export async function sendUpload(grant: Upload, file: File): Promise<void> {
  const form = new FormData();
  for (const [name, value] of Object.entries(grant.fields)) form.append(name, String(value));
  form.append("file", file);
  let answer: Response;
  try {
    answer = await fetch(grant.url, { method: "POST", body: form });
  } catch {
    throw new ApiProblem("The file could not be sent to storage. Check your connection and try again.", 0, "UPLOAD_FAILED");
  }
  if (!answer.ok) {
    const text = await answer.text();
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `HTTP_${answer.status}`;
    const why =
      code === "EntityTooLarge"
        ? `The file is larger than this stack accepts (${Math.round(grant.maxBytes / 1e6)} MB at most).`
        : code === "AccessDenied"
          ? "Storage refused the file: the upload form expired or the file does not match it. Choose the file again."
          : `Storage refused the file (${code}).`;
    throw new ApiProblem(why, answer.status, code);
  }
}
