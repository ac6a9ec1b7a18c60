/** HLS playback with hls.js, loaded when a player opens. A playlist is read through the API
 * (GET /jobs/{jobId}/playlist), which answers it with every segment presigned and every playlist it
 * names routed back through itself: hls.js sends the caller's token to the API, nothing to S3. */

import { useEffect, useRef, useState } from "preact/hooks";
import type { Api } from "../api/client";

export function HlsPlayer({ api, src, label }: { api: Api; src: string; label: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const element = video.current;
    if (!element) return;
    let destroy = () => {};
    let stopped = false;
    import("hls.js").then(
      ({ default: Hls }) => {
        if (stopped) return;
        if (!Hls.isSupported()) {
          // Native HLS (older iOS) cannot send the token a playlist is read with.
          setProblem("This browser cannot play HLS here (it lacks Media Source Extensions).");
          return;
        }
        const hls = new Hls({
          xhrSetup(xhr, url) {
            if (!api.owns(url)) return; // a presigned link: it carries its own signature
            xhr.open("GET", url, true);
            const authorization = api.authorization();
            if (authorization) xhr.setRequestHeader("Authorization", authorization);
          },
        });
        hls.on(Hls.Events.ERROR, (_event, data) => {
          if (data.fatal) {
            const status = data.response?.code;
            setProblem(
              status === 401 || status === 403
                ? "The stream's links have expired or your sign-in has: reload the page."
                : `The stream could not be played (${data.details}).`,
            );
            hls.destroy();
          }
        });
        hls.loadSource(src);
        hls.attachMedia(element);
        destroy = () => hls.destroy();
      },
      () => setProblem("The player could not be loaded. Reload the page."),
    );
    return () => {
      stopped = true;
      destroy();
    };
  }, [api, src]);

  return (
    <figure class="player">
      <video ref={video} controls playsInline muted aria-label={label} data-src={src} />
      <figcaption>{label}</figcaption>
      {problem ? (
        <p role="alert" class="problem">
          {problem}
        </p>
      ) : null}
    </figure>
  );
}
