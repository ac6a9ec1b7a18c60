import type { ComponentChildren } from "preact";
import { ApiProblem, type JobStatus } from "../api/client";
import { words } from "../format";

export function StatusBadge({ status }: { status: JobStatus | string }) {
  return <span class={`badge badge-${status.toLowerCase()}`}>{words(status)}</span>;
}

export function Progress({ value, label }: { value: number; label: string }) {
  return (
    <span class="progress">
      <progress max={100} value={value} aria-label={label} />
      <span aria-hidden="true">{value}%</span>
    </span>
  );
}

/** A failure in plain words; a sign-in button when signing in again would help. */
export function Problem({ error, onSignIn }: { error: unknown; onSignIn?: () => void }) {
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div class="problem" role="alert">
      <p>{message}</p>
      {error instanceof ApiProblem && error.signInNeeded && onSignIn ? (
        <button type="button" onClick={onSignIn}>
          Sign in again
        </button>
      ) : null}
    </div>
  );
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id?: string }) {
  const heading = id ?? title.toLowerCase().replace(/\W+/g, "-");
  return (
    <section aria-labelledby={heading}>
      <h2 id={heading}>{title}</h2>
      {children}
    </section>
  );
}
