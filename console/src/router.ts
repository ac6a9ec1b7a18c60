/** Hash routes (the console is static files: any path serves index.html without rewrite rules). */

import { useEffect, useState } from "preact/hooks";

export type Route =
  | { page: "jobs"; query: URLSearchParams }
  | { page: "job"; jobId: string }
  | { page: "submit" }
  | { page: "missing"; path: string };

export function parse(hash: string): Route {
  const [path = "", search = ""] = hash.replace(/^#/, "").split("?", 2);
  if (path === "" || path === "/" || path === "/jobs") return { page: "jobs", query: new URLSearchParams(search) };
  if (path === "/submit") return { page: "submit" };
  const job = /^\/jobs\/([^/]+)$/.exec(path);
  if (job?.[1]) return { page: "job", jobId: decodeURIComponent(job[1]) };
  return { page: "missing", path };
}

export const jobLink = (jobId: string) => `#/jobs/${encodeURIComponent(jobId)}`;

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parse(location.hash));
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  return route;
}

/** Calls `tick` now and every `ms` while `active`; stops when the page is hidden from the user. */
export function usePolling(tick: () => void, ms: number, active: boolean, deps: unknown[]): void {
  useEffect(() => {
    tick();
    if (!active) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") tick();
    }, ms);
    return () => window.clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [active, ...deps]);
}
