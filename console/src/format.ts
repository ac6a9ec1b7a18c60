/** How times, sizes and rates read in the console. */

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function bytes(value: unknown): string {
  const n = Number(value);
  if (!Number.isFinite(n)) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let size = n;
  let unit = 0;
  while (size >= 1000 && unit < units.length - 1) {
    size /= 1000;
    unit += 1;
  }
  return `${size.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function bitrate(value: unknown): string {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? `${Math.round(n / 1000)} kb/s` : "—";
}

export function seconds(value: unknown): string {
  const n = Number(value);
  if (!Number.isFinite(n)) return "—";
  const m = Math.floor(n / 60);
  const s = n - m * 60;
  return m ? `${m} min ${s.toFixed(0)} s` : `${s.toFixed(1)} s`;
}

export function frameRate(value: unknown): string {
  if (typeof value !== "string" || !value.includes("/")) return "—";
  const [num, den] = value.split("/").map(Number);
  return num && den ? `${(num / den).toFixed(2).replace(/\.00$/, "")} fps` : "—";
}

/** A label in words for an API constant: TIMED_OUT -> "timed out". */
export function words(constant: string | null | undefined): string {
  return (constant ?? "").toLowerCase().replace(/_/g, " ");
}
