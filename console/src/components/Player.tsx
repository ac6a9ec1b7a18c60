/** HLS playback (hls.js, loaded when a player opens; Safari plays HLS itself). Output links are
 * presigned one object at a time, and a playlist names its segments relative to itself: every
 * request hls.js makes is sent to the link of the object it names. */

import { useEffect, useRef, useState } from "preact/hooks";

/** An object's address without its signature: how a playlist's relative names resolve. */
export const unsigned = (url: string) => url.split("?", 1)[0] ?? url;

export function HlsPlayer({ src, links, label }: { src: string; links: ReadonlyMap<string, string>; label: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const element = video.current;
    if (!element) return;
    let destroy = () => {};
    let stopped = false;
    import("hls.js").then(({ default: Hls }) => {
      if (stopped) return;
      if (!Hls.isSupported()) {
        if (element.canPlayType("application/vnd.apple.mpegurl")) element.src = src;
        else setProblem("This browser cannot play HLS.");
        return;
      }
      const hls = new Hls({
        xhrSetup(xhr, url) {
          const signed = links.get(unsigned(url));
          if (signed) xhr.open("GET", signed, true);
        },
      });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) {
          const status = data.response?.code;
          setProblem(
            status === 403
              ? "The output's links have expired or a part of it has no link: reload the page."
              : `The stream could not be played (${data.details}).`,
          );
          hls.destroy();
        }
      });
      hls.loadSource(src);
      hls.attachMedia(element);
      destroy = () => hls.destroy();
    }, () => setProblem("The player could not be loaded. Reload the page."));
    return () => {
      stopped = true;
      destroy();
    };
  }, [src, links]);

  return (
    <figure class="player">
      <video ref={video} controls playsInline muted aria-label={label} data-src={src} />
      <figcaption>{label}</figcaption>
      {problem ? <p role="alert" class="problem">{problem}</p> : null}
    </figure>
  );
}
