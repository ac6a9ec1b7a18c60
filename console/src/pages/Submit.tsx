/** A new job: upload a file through the direct upload (POST /uploads, then the presigned form) and
 * choose outputs, or paste a whole CT job. */

import { useState } from "preact/hooks";
import { Api, ApiProblem, sendUpload, type Upload } from "../api/client";
import { Problem } from "../components/common";
import { jobLink } from "../router";

interface Choice {
  id: string;
  label: string;
  output: (at: string) => Record<string, unknown>;
  checked: boolean;
}

/** Outputs offered, each written under the upload's folder of the caller's outputs prefix. */
const CHOICES: Choice[] = [
  { id: "mp4", label: "MP4 video, 720p at most", checked: true, output: (at) => ({ type: "VIDEO", preset: "720p", file: `${at}video/video.mp4` }) },
  { id: "hls", label: "HLS stream (1 Mb/s)", checked: true, output: (at) => ({ type: "VIDEO", preset: "hls1M", file: `${at}hls/stream.m3u8` }) },
  { id: "adaptive", label: "Adaptive streaming: an HLS and DASH ladder", checked: false, output: (at) => ({ type: "ADAPTIVE", file: `${at}abr/master.m3u8` }) },
  { id: "thumbs", label: "Thumbnails every 5 seconds", checked: true, output: (at) => ({ type: "THUMB", mode: "intervals", intervals: 5, file: `${at}thumbs/thumb.jpg` }) },
  { id: "storyboard", label: "Storyboard for scrubbing (sprites and WebVTT)", checked: false, output: (at) => ({ type: "STORYBOARD", file: `${at}storyboard/storyboard.vtt` }) },
  { id: "audio", label: "Audio track (AAC)", checked: false, output: (at) => ({ type: "AUDIO", file: `${at}audio/audio.m4a` }) },
];

type Stage = "idle" | "uploading" | "submitting";

export function Submit({ api, onSignIn }: { api: Api; onSignIn: () => void }) {
  const [mode, setMode] = useState<"choose" | "paste">("choose");
  const [stage, setStage] = useState<Stage>("idle");
  const [error, setError] = useState<unknown>(null);
  // One key per attempt: a retried submit of the same form is the same job.
  const [attempt, setAttempt] = useState(() => crypto.randomUUID());
  const [uploaded, setUploaded] = useState<{ file: File; grant: Upload } | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const file = form.get("file");
    const chosen = file instanceof File && file.size > 0 ? file : null;
    try {
      let job: Record<string, unknown>;
      if (mode === "paste") {
        job = parseJob(String(form.get("job") ?? ""));
      } else {
        if (!chosen) throw new Error("Choose a file to transcode.");
        if (!CHOICES.some((c) => form.get(c.id) === "on")) throw new Error("Choose at least one output.");
        job = {};
      }
      let grant = uploaded && chosen && uploaded.file === chosen ? uploaded.grant : null;
      if (chosen && !grant) {
        setStage("uploading");
        grant = await api.startUpload(chosen);
        await sendUpload(grant, chosen);
        setUploaded({ file: chosen, grant });
      }
      if (grant) {
        job.input_asset ??= grant.input_asset;
        if (mode === "choose") {
          const at = `${grant.output_prefix}${grant.uploadId}/`;
          const bucket = (grant.input_asset as { bucket?: string }).bucket;
          job.output_assets = CHOICES.filter((c) => form.get(c.id) === "on").map((c) => ({ bucket, ...c.output(at) }));
        }
      }
      if (!job.input_asset) throw new Error("Choose a file, or name the job's input_asset.");
      setStage("submitting");
      const submitted = await api.submit(job, attempt);
      setAttempt(crypto.randomUUID());
      location.hash = jobLink(submitted.jobId);
    } catch (problem) {
      setError(problem);
      // The same key again only for a retry of the same request: after a refusal the user changes
      // the job, and a changed body under a used key would be refused as a reuse.
      if (problem instanceof ApiProblem && !retryable(problem)) setAttempt(crypto.randomUUID());
    } finally {
      setStage("idle");
    }
  };

  return (
    <main id="main" tabIndex={-1}>
      <h1>Submit a job</h1>
      <form class="submit" onSubmit={submit} aria-describedby={error ? "submit-problem" : undefined}>
        <label class="field">
          Video, audio or image file
          <input type="file" name="file" accept="video/*,audio/*,image/*" />
        </label>
        <fieldset class="modes">
          <legend>Outputs</legend>
          <label>
            <input type="radio" name="mode" checked={mode === "choose"} onChange={() => setMode("choose")} /> Choose
            from presets
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === "paste"} onChange={() => setMode("paste")} /> Paste a
            job (JSON)
          </label>
        </fieldset>
        {mode === "choose" ? (
          <fieldset>
            <legend>Make these outputs</legend>
            {CHOICES.map((c) => (
              <label class="check">
                <input type="checkbox" name={c.id} defaultChecked={c.checked} /> {c.label}
              </label>
            ))}
          </fieldset>
        ) : (
          <label class="field">
            The CT job (its input_asset may be left out: the uploaded file's is used)
            <textarea name="job" rows={14} spellcheck={false} class="mono" placeholder={EXAMPLE} />
          </label>
        )}
        <div id="submit-problem">{error ? <Problem error={error} onSignIn={onSignIn} /> : null}</div>
        <button type="submit" disabled={stage !== "idle"}>
          {stage === "uploading" ? "Uploading…" : stage === "submitting" ? "Submitting…" : "Submit job"}
        </button>
        <p aria-live="polite" class="visually-hidden">
          {stage === "uploading" ? "Uploading the file" : stage === "submitting" ? "Submitting the job" : ""}
        </p>
      </form>
    </main>
  );
}

const EXAMPLE = `{
  "output_assets": [
    {"type": "VIDEO", "preset": "480p-16.9", "bucket": "...", "file": "/outputs/.../video.mp4"}
  ]
}`;

function retryable(problem: ApiProblem): boolean {
  return (
    problem.status === 0 ||
    problem.status === 429 ||
    problem.status >= 500 ||
    problem.code === "REQUEST_IN_PROGRESS" ||
    problem.code === "CONCURRENT_UPDATE"
  );
}

function parseJob(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`The job is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error("The job must be a JSON object, such as {\"input_asset\": ..., \"output_assets\": [...]}.");
  }
  return value as Record<string, unknown>;
}
