/** Your jobs, newest first: filters by status and creation date, pages, live progress. */

import { useEffect, useState } from "preact/hooks";
import { Api, TERMINAL, type JobStatus, type JobSummary, type ListQuery } from "../api/client";
import { Problem, Progress, StatusBadge } from "../components/common";
import { when, words } from "../format";
import { jobLink, usePolling } from "../router";

const STATUSES: JobStatus[] = ["SUBMITTED", "SCHEDULED", "RUNNING", "COMPLETED", "FAILED", "CANCELED", "TIMED_OUT"];
const PAGE_SIZE = 20;
const REFRESH_MS = 3000;

/** A day picked in the form, as the start of that day in the user's time zone (RFC 3339). */
const dayStart = (day: string, plusDays = 0) => {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + plusDays).toISOString();
};

export function JobList({ api, query, onSignIn }: { api: Api; query: URLSearchParams; onSignIn: () => void }) {
  const status = query.get("status") ?? "";
  const from = query.get("from") ?? "";
  const to = query.get("to") ?? "";
  const pageSize = Math.min(Math.max(Number(query.get("limit")) || PAGE_SIZE, 1), 100);
  // The tokens of the pages before this one: "Newer" goes back without the API's help.
  const [tokens, setTokens] = useState<(string | undefined)[]>([undefined]);
  const token = tokens[tokens.length - 1];
  const [jobs, setJobs] = useState<JobSummary[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  // The form's fields as the user edits them, until applied (then they are the route's query).
  const [draft, setDraft] = useState({ status, from, to });
  useEffect(() => setDraft({ status, from, to }), [status, from, to]);
  const edit = (name: keyof typeof draft) => (event: Event) =>
    setDraft({ ...draft, [name]: (event.currentTarget as HTMLInputElement | HTMLSelectElement).value });

  const running = (jobs ?? []).some((job) => !TERMINAL.has(job.status));
  usePolling(
    () => {
      const request: ListQuery = { limit: pageSize, nextToken: token };
      if (status) request.status = status as JobStatus;
      if (from) request.createdAfter = dayStart(from);
      if (to) request.createdBefore = dayStart(to, 1);
      api.listJobs(request).then(
        (page) => {
          setJobs(page.items);
          setNext(page.nextToken ?? null);
          setError(null);
        },
        setError,
      );
    },
    REFRESH_MS,
    running || jobs === null,
    [status, from, to, token],
  );

  const filter = (event: Event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(draft)) {
      if (value) params.set(name, value);
    }
    if (query.has("limit")) params.set("limit", String(pageSize));
    setTokens([undefined]);
    setJobs(null);
    location.hash = `#/jobs${params.size ? `?${params}` : ""}`;
  };

  return (
    <main id="main" tabIndex={-1}>
      <h1>Jobs</h1>
      <form class="filters" onSubmit={filter} aria-label="Filter jobs">
        <label>
          Status
          <select name="status" value={draft.status} onChange={edit("status")}>
            <option value="">Any</option>
            {STATUSES.map((s) => (
              <option value={s}>{words(s)}</option>
            ))}
          </select>
        </label>
        <label>
          Created from
          <input type="date" name="from" value={draft.from} onInput={edit("from")} />
        </label>
        <label>
          Created to
          <input type="date" name="to" value={draft.to} onInput={edit("to")} />
        </label>
        <button type="submit">Apply filters</button>
      </form>
      {error ? <Problem error={error} onSignIn={onSignIn} /> : null}
      {jobs === null && !error ? <p aria-live="polite">Loading jobs…</p> : null}
      {jobs !== null && jobs.length === 0 ? (
        <p>
          No jobs {status || from || to ? "match these filters" : "yet"}. <a href="#/submit">Submit one.</a>
        </p>
      ) : null}
      {jobs && jobs.length ? (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Jobs table">
          <table class="jobs">
            <caption class="visually-hidden">Jobs, newest first{running ? " (updating live)" : ""}</caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Status</th>
                <th scope="col" class="wide">Phase</th>
                <th scope="col">Progress</th>
                <th scope="col" class="wide">Created</th>
                <th scope="col" class="wide">Updated</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((job) => (
                <tr key={job.jobId} data-job={job.jobId}>
                  <td>
                    <a href={jobLink(job.jobId)}>{job.jobId}</a>
                  </td>
                  <td>
                    <StatusBadge status={job.status} />
                  </td>
                  <td class="wide">{words(job.phase)}</td>
                  <td>
                    <Progress value={job.progress} label={`Progress of ${job.jobId}`} />
                  </td>
                  <td class="wide">{when(job.createdAt)}</td>
                  <td class="wide">{when(job.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <nav class="pager" aria-label="Pages of jobs">
        <button type="button" disabled={tokens.length < 2} onClick={() => setTokens(tokens.slice(0, -1))}>
          Newer jobs
        </button>
        <button type="button" disabled={!next} onClick={() => next && setTokens([...tokens, next])}>
          Older jobs
        </button>
      </nav>
    </main>
  );
}
