/**
 * The seed's service levels, in one place. The alert policies, the SLO, the
 * threshold lines of both dashboards and docs/operations.md are
 * all built from these numbers, so changing one here changes it everywhere.
 */
import { MAX_RECORDS_PER_INSERT } from '../lambda-src/rules/limits';

/**
 * "Latencia alta: si la latencia de la API supera los 200ms", measured on what
 * the seed's API does: ingest requests (HTTP `POST /` and Pub/Sub pushes) that
 * succeeded. Reads, health checks and refused or failed requests stay out, so
 * a slow page of `GET /records` never pages anyone about ingestion.
 */
export const LATENCY_ALERT = {
  /** Threshold on the latency of successful ingest requests, milliseconds. */
  thresholdMs: 200,
  /** The percentile the alert watches (p99: one request in a hundred slower than the threshold). */
  percentile: 99,
  /** Width of each percentile sample, seconds. */
  alignmentSeconds: 60,
  /** How long every sample must stay above the threshold before the alert opens, seconds. */
  durationSeconds: 300,
} as const;

/** "Errores de inserción: más de 5 errores de inserción en un período de 10 minutos". */
export const INSERT_ERROR_ALERT = {
  /** The alert opens when the count in the window is strictly greater than this. */
  maxErrorsPerWindow: 5,
  /** Sliding window the failed inserts are counted over, seconds. */
  windowSeconds: 600,
} as const;

/**
 * "Disponibilidad de la API: SLI del 99.9% ... alerta cuando baja del 99.5%".
 * A request answered with a 5xx failed; one answered with a 429 was refused
 * for lack of capacity, so the producer's record was not taken either: both
 * are bad.
 */
export const AVAILABILITY_SLO = {
  /** Fraction of API requests that must not be answered with a 5xx or a 429. */
  goal: 0.999,
  /** The SLO is evaluated over this rolling window, days. */
  rollingPeriodDays: 28,
  /** The seed's alert floor: availability below this over the last hour opens an alert. */
  alertFloor: 0.995,
} as const;

/** One error-budget burn-rate rule: every lookback must burn faster than `burnRate` at once. */
export interface BurnRateRule {
  /** Multiple of the sustainable burn (1 = budget gone exactly at the end of the SLO window). */
  readonly burnRate: number;
  /** Lookback windows, seconds, longest first; the policy ANDs one condition per window. */
  readonly lookbackSeconds: readonly number[];
}

/**
 * Burn-rate alerts on the availability SLO. Cloud Monitoring refuses burn-rate
 * lookbacks longer than 24 h, so the SRE workbook's third rule (1× over 3 days,
 * a ticket) cannot be expressed and is left out.
 */
export const BURN_RATE_RULES = {
  /** The seed's rule: availability below 99.5% over 1 h, i.e. (1 - 0.995) / (1 - 0.999) = 5× burn. */
  seedAvailability: { burnRate: 5, lookbackSeconds: [3600] },
  /** SRE workbook fast page: 2% of a 30-day budget in 1 h, confirmed by the last 5 min. */
  fastPage: { burnRate: 14.4, lookbackSeconds: [3600, 300] },
  /** SRE workbook slow page: 5% of a 30-day budget in 6 h, confirmed by the last 30 min. */
  slowPage: { burnRate: 6, lookbackSeconds: [21600, 1800] },
} as const satisfies Record<string, BurnRateRule>;

/** Cloud Monitoring's limit on a `select_slo_burn_rate` lookback, seconds. */
export const MAX_BURN_RATE_LOOKBACK_SECONDS = 24 * 3600;

/**
 * How long an alert on a new log-based metric waits after the metric is
 * created: the Monitoring API answers "cannot find metric" until it has
 * propagated, which "could take up to 10 minutes" (the API's own error text).
 */
export const LOG_METRIC_PROPAGATION_SECONDS = 600;

/** Any message in the dead-letter subscription is data nobody has looked at yet. */
export const DEAD_LETTER_ALERT = {
  /** The alert opens when undelivered messages are strictly greater than this. */
  maxUndeliveredMessages: 0,
  /** Width of each sample of the undelivered-message gauge, seconds. */
  alignmentSeconds: 60,
} as const;

/** Percentiles drawn on the latency panels of both dashboards. */
export const LATENCY_PANEL_PERCENTILES = [50, 95, 99] as const;

/**
 * Bucket bounds (ms) of the log-based ingest-latency distribution: fine around
 * the 200 ms threshold so its percentiles are meaningful where the alert is.
 */
export const INGEST_LATENCY_BUCKET_BOUNDS_MS = [
  5, 10, 25, 50, 75, 100, 125, 150, 175, 200, 250, 300, 400, 500, 750, 1000, 2500, 5000, 10000,
] as const;

/** Bucket bounds of the rows-per-request distribution, up to the most records a request carries. */
export const ROWS_PER_REQUEST_BUCKET_BOUNDS = [1, 2, 5, 10, 25, 50, 100, 250, MAX_RECORDS_PER_INSERT] as const;
