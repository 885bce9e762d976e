/**
 * Limits the runtime enforces and the constructs and stacks check at synth,
 * so a configuration that synthesizes is one the functions accept at load.
 */

/** How far back a read looks when the client names no `since`, in hours (`READ_WINDOW_HOURS`). */
export const DEFAULT_READ_WINDOW_HOURS = 24;
/** A year: a default window longer than that is surely a typo, and a read meant to reach further names its `since`. */
export const MAX_READ_WINDOW_HOURS = 24 * 365;
