/** One job: status and phase, activities, timeline, probe, outputs (played, shown, linked), the
 * failure's reason, cancel. Refreshed while the job runs. */

import { useMemo, useRef, useState } from "preact/hooks";
import { Api, TERMINAL, type Activity, type Job, type JobEvent } from "../api/client";
import { Problem, Progress, Section, StatusBadge } from "../components/common";
import { HlsPlayer } from "../components/Player";
import { bitrate, bytes, frameRate, seconds, when, words } from "../format";
import { usePolling } from "../router";

const REFRESH_MS = 2000;
const IMAGES_SHOWN = 24;
const RELINK_BEFORE_MS = 5 * 60 * 1000;

interface Output {
  bucket?: string;
  key?: string;
  size?: number;
  contentType?: string;
  url?: string;
  urlExpiresAt?: string;
}

interface Probe {
  mime?: string;
  type?: string;
  format?: Record<string, unknown>;
  streams?: Record<string, unknown>[];
}

export function JobPage({ api, jobId, onSignIn }: { api: Api; jobId: string; onSignIn: () => void }) {
  const [job, setJob] = useState<Job | null>(null);
  const [events, setEvents] = useState<JobEvent[]>([]);
  const [error, setError] = useState<unknown>(null);

  const ended = job !== null && TERMINAL.has(job.status);
  const refresh = () => {
    Promise.all([api.getJob(jobId), api.events(jobId)]).then(([latest, timeline]) => {
      setJob(latest);
      setEvents(timeline);
      setError(null);
    }, setError);
  };
  usePolling(refresh, REFRESH_MS, !ended, [jobId]);

  if (!job) {
    return (
      <main id="main" tabIndex={-1}>
        <h1>Job {jobId}</h1>
        {error ? <Problem error={error} onSignIn={onSignIn} /> : <p aria-live="polite">Loading the job…</p>}
      </main>
    );
  }
  return (
    <main id="main" tabIndex={-1}>
      <p class="back">
        <a href="#/jobs">← All jobs</a>
      </p>
      <h1>
        Job <span class="mono">{job.jobId}</span>
      </h1>
      {error ? <Problem error={error} onSignIn={onSignIn} /> : null}
      <Summary job={job} />
      {job.error ? <Failure error={job.error} activities={job.activities} /> : null}
      <Cancel api={api} job={job} onDone={refresh} />
      <Activities activities={job.activities} />
      <Outputs api={api} job={job} />
      {job.probe ? <ProbeSummary probe={job.probe as Probe} /> : null}
      <Timeline events={events} />
    </main>
  );
}

function Summary({ job }: { job: Job }) {
  return (
    <dl class="summary" aria-live="polite">
      <div>
        <dt>Status</dt>
        <dd data-testid="status">
          <StatusBadge status={job.status} />
          {job.cancelRequested && !TERMINAL.has(job.status) ? " (cancel requested)" : ""}
        </dd>
      </div>
      <div>
        <dt>Phase</dt>
        <dd>{words(job.phase)}</dd>
      </div>
      <div>
        <dt>Progress</dt>
        <dd>
          <Progress value={job.progress} label="Progress of the job" />
        </dd>
      </div>
      <div>
        <dt>Created</dt>
        <dd>{when(job.createdAt)}</dd>
      </div>
      <div>
        <dt>Last heard of</dt>
        <dd>{when(job.lastEventAt ?? job.updatedAt)}</dd>
      </div>
      {job.owner ? (
        <div>
          <dt>Owner</dt>
          <dd class="mono">{job.owner}</dd>
        </div>
      ) : null}
    </dl>
  );
}

function Failure({ error, activities }: { error: Record<string, unknown>; activities: Activity[] }) {
  const failed = activities.filter((a) => a.error);
  return (
    <section class="failure" aria-labelledby="why">
      <h2 id="why">Why it failed</h2>
      <p data-testid="reason">
        <strong>{String(error.reason ?? "Unknown reason")}</strong>
        {error.details ? `: ${String(error.details)}` : ""}
      </p>
      {failed.length ? (
        <ul>
          {failed.map((a) => (
            <li>
              {a.activityType ?? a.activityId}: {String(a.error?.reason ?? "")}
              {a.error?.details ? ` (${String(a.error.details)})` : ""}
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function Cancel({ api, job, onDone }: { api: Api; job: Job; onDone: () => void }) {
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [sending, setSending] = useState(false);
  if (TERMINAL.has(job.status) || job.cancelRequested) return error ? <Problem error={error} /> : null;
  const cancel = () => {
    setSending(true);
    api.cancel(job.jobId).then(
      () => {
        setAsking(false);
        setSending(false);
        onDone();
      },
      (problem) => {
        setError(problem);
        setSending(false);
      },
    );
  };
  return (
    <div class="cancel">
      {asking ? (
        <div role="group" aria-label="Confirm cancel">
          <span>Cancel this job? Work in progress stops.</span>
          <button type="button" class="danger" onClick={cancel} disabled={sending}>
            Yes, cancel the job
          </button>
          <button type="button" onClick={() => setAsking(false)}>
            Keep it running
          </button>
        </div>
      ) : (
        <button type="button" class="danger" onClick={() => setAsking(true)}>
          Cancel job
        </button>
      )}
      {error ? <Problem error={error} /> : null}
    </div>
  );
}

function Activities({ activities }: { activities: Activity[] }) {
  return (
    <Section title="Activities">
      {activities.length === 0 ? (
        <p>None yet: the engine has not started the job.</p>
      ) : (
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Activities table">
          <table>
            <thead>
              <tr>
                <th scope="col">Activity</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col" class="wide">Started</th>
                <th scope="col" class="wide">Finished</th>
              </tr>
            </thead>
            <tbody>
              {activities.map((a) => (
                <tr key={a.activityId}>
                  <td>
                    {a.activityType ?? "activity"} <span class="muted mono">{a.activityId}</span>
                    {a.error ? <div class="error-text">{String(a.error.reason ?? "")}</div> : null}
                  </td>
                  <td>
                    <StatusBadge status={a.status} />
                  </td>
                  <td>
                    <Progress value={a.progress} label={`Progress of ${a.activityType ?? a.activityId}`} />
                  </td>
                  <td class="wide">{when(a.startedAt)}</td>
                  <td class="wide">{when(a.finishedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

/** The files the job's outputs name (a VIDEO's MP4 or HLS playlist, an ADAPTIVE's master, an
 * AUDIO's file): what is worth playing, not a package's own parts (its renditions' playlists, its
 * CMAF init segments). Null when the job's payload is unknown (a job another client submitted). */
function namedFiles(job: Job): Set<string> | null {
  const payload = job.payload;
  if (!payload) return null;
  const assets = (payload.output_assets ?? (payload.output_asset ? [payload.output_asset] : [])) as { file?: string }[];
  return new Set(assets.map((a) => String(a.file ?? "").replace(/^\/+/, "")));
}

function playable(outputs: Output[], named: Set<string> | null, kind: (o: Output) => boolean): Output[] {
  return outputs.filter(
    (o) => o.url && kind(o) && (named ? named.has(o.key ?? "") : !/(_init\.mp4|_\d+p\.m3u8|_audio\.m3u8)$/.test(o.key ?? "")),
  );
}

/** Every refresh signs the links anew: an object keeps the link it has until that one nears its
 * end, so that a player or a picture on the page is not reloaded at each refresh. */
function useSteadyLinks(outputs: Output[]): Output[] {
  const kept = useRef(new Map<string, Output>());
  return useMemo(() => {
    const soon = Date.now() + RELINK_BEFORE_MS;
    return outputs.map((output) => {
      const id = `${output.bucket}/${output.key}`;
      const previous = kept.current.get(id);
      const keep = previous?.url && previous.urlExpiresAt && Date.parse(previous.urlExpiresAt) > soon;
      const chosen = keep ? { ...output, url: previous.url, urlExpiresAt: previous.urlExpiresAt } : output;
      kept.current.set(id, chosen);
      return chosen;
    });
  }, [JSON.stringify(outputs.map((o) => [o.bucket, o.key, o.urlExpiresAt]))]);
}

function Outputs({ api, job }: { api: Api; job: Job }) {
  const outputs = useSteadyLinks(job.outputs as Output[]);
  if (!outputs.length) {
    return (
      <Section title="Outputs">
        <p>{TERMINAL.has(job.status) ? "This job wrote no outputs." : "None yet."}</p>
      </Section>
    );
  }
  const named = namedFiles(job);
  const streams = playable(outputs, named, (o) => o.key?.endsWith(".m3u8") === true);
  const videos = playable(outputs, named, (o) => o.contentType === "video/mp4");
  const sounds = playable(outputs, named, (o) => o.contentType?.startsWith("audio/") === true);
  const images = outputs.filter((o) => o.url && o.contentType?.startsWith("image/"));
  return (
    <Section title="Outputs">
      {streams.length || videos.length || sounds.length ? (
        <div class="players">
          {streams.map((o) => (
            <HlsPlayer api={api} src={api.playlistUrl(job.jobId, o.key as string)} label={`HLS: ${o.key}`} />
          ))}
          {videos.map((o) => (
            <figure class="player">
              <video controls playsInline preload="metadata" src={o.url} aria-label={`Video: ${o.key}`} />
              <figcaption>Video: {o.key}</figcaption>
            </figure>
          ))}
          {sounds.map((o) => (
            <figure class="player">
              <audio controls preload="none" src={o.url} aria-label={`Audio: ${o.key}`} />
              <figcaption>Audio: {o.key}</figcaption>
            </figure>
          ))}
        </div>
      ) : null}
      {images.length ? (
        <>
          <h3>Thumbnails and storyboard</h3>
          <ul class="gallery">
            {images.slice(0, IMAGES_SHOWN).map((o) => (
              <li>
                <a href={o.url}>
                  <img src={o.url} alt={`Image ${o.key?.split("/").pop()}`} loading="lazy" />
                </a>
              </li>
            ))}
          </ul>
          {images.length > IMAGES_SHOWN ? <p>And {images.length - IMAGES_SHOWN} more images, listed below.</p> : null}
        </>
      ) : null}
      <h3>Every object</h3>
      <div class="table-wrap" tabIndex={0} role="region" aria-label="Objects table">
        <table class="objects">
          <thead>
            <tr>
              <th scope="col">Object</th>
              <th scope="col">Type</th>
              <th scope="col">Size</th>
            </tr>
          </thead>
          <tbody>
            {outputs.map((o) => (
              <tr>
                <td class="mono">
                  {o.url ? <a href={o.url}>{o.key}</a> : `s3://${o.bucket ?? "?"}/${o.key ?? ""}`}
                </td>
                <td>{o.contentType ?? "—"}</td>
                <td>{bytes(o.size)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {outputs.some((o) => o.urlExpiresAt) ? (
        <p class="muted">Links expire {when(outputs.find((o) => o.urlExpiresAt)?.urlExpiresAt)}: reload for new ones.</p>
      ) : null}
    </Section>
  );
}

function ProbeSummary({ probe }: { probe: Probe }) {
  const format = probe.format ?? {};
  return (
    <Section title="Input">
      <dl class="summary">
        <div>
          <dt>Container</dt>
          <dd>{String(format.format_long_name ?? format.format_name ?? probe.mime ?? "—")}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{seconds(format.duration)}</dd>
        </div>
        <div>
          <dt>Size</dt>
          <dd>{bytes(format.size)}</dd>
        </div>
        <div>
          <dt>Bit rate</dt>
          <dd>{bitrate(format.bit_rate)}</dd>
        </div>
      </dl>
      <ul class="streams">
        {(probe.streams ?? []).map((s) => (
          <li>
            {String(s.codec_type ?? "stream")}: {String(s.codec_name ?? "?")}
            {s.width ? `, ${String(s.width)}×${String(s.height)}` : ""}
            {s.codec_type === "video" ? `, ${frameRate(s.avg_frame_rate ?? s.r_frame_rate)}` : ""}
            {s.sample_rate ? `, ${String(s.sample_rate)} Hz` : ""}
            {s.channels ? `, ${String(s.channels)} channels` : ""}
            {s.bit_rate ? `, ${bitrate(s.bit_rate)}` : ""}
          </li>
        ))}
      </ul>
    </Section>
  );
}

function Timeline({ events }: { events: JobEvent[] }) {
  return (
    <Section title="Timeline">
      {events.length === 0 ? (
        <p>Nothing yet.</p>
      ) : (
        <ol class="timeline">
          {events.map((e) => (
            <li>
              <time dateTime={e.at}>{when(e.at)}</time> <span>{words(e.event)}</span>
              {e.activityType ? <span class="muted"> · {e.activityType}</span> : null}
            </li>
          ))}
        </ol>
      )}
    </Section>
  );
}
