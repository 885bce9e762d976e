/** Lengths of time, and the one way Google Cloud APIs spell a duration. */

export const MINUTE_SECONDS = 60;
export const HOUR_SECONDS = 60 * MINUTE_SECONDS;
export const DAY_SECONDS = 24 * HOUR_SECONDS;
export const HOUR_MS = HOUR_SECONDS * 1000;
export const DAY_MS = DAY_SECONDS * 1000;

/** `600` -> `"600s"`: a duration as Pub/Sub, Cloud Monitoring, Artifact Registry and the time provider take it. */
export function seconds(value: number): string {
  return `${value}s`;
}
