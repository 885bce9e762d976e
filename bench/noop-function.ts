/**
 * The baseline of the throughput and cold-start benchmarks: a Functions
 * Framework HTTP function that answers every request with the ingest
 * function's 200 body and headers, without validating or storing anything.
 * Served by the same framework and server factory as the real functions, it
 * measures what the framework alone costs on this machine.
 */
import { randomUUID } from 'node:crypto';
import * as functions from '@google-cloud/functions-framework';
import { inserted, sendAnswer } from '../lambda-src/http/answer';

export const NOOP_TARGET = 'noop';

functions.http(NOOP_TARGET, (_req, res) => sendAnswer(res, inserted(1), randomUUID()));
