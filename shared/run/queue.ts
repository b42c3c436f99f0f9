import { createHash } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import type { QueueClient } from '@azure/storage-queue';
import { AppError } from '../errors';
import { isValidRunId } from './records';

export interface RunMessage {
  runId: string;
  /** The deployment that queued the run (`deploymentIdOf`); absent in messages of older versions. */
  deployment?: string;
  /** How often other deployments sharing the queue passed the message on. */
  hops?: number;
}

/**
 * A deployment's identity: a hash of its state container's URL (account and container, no SAS). Run ids, records,
 * locks and snapshots are unique within one state container, so two apps with their own state containers are two
 * deployments, even when a copied setting makes them share a queue name.
 */
export function deploymentIdOf(stateContainer: ContainerClient): string {
  const url = new URL(stateContainer.url);
  url.search = '';
  return createHash('sha256').update(url.toString().toLowerCase()).digest('hex').slice(0, 16);
}

/**
 * Queue messages are base64-encoded JSON: the Functions host's default `messageEncoding` for storage queues,
 * so the `runWorker` trigger receives the message as an object.
 */
export function encodeRunMessage(message: RunMessage): string {
  const { runId, deployment, hops } = message;
  return Buffer.from(JSON.stringify({ runId, deployment, hops }), 'utf8').toString('base64');
}

/**
 * Accepts what a trigger or a queue client delivers: the parsed object, its JSON text, or the base64 text.
 * Returns null when the message names no valid run, which no retry can fix.
 */
export function parseRunMessage(message: unknown): RunMessage | null {
  let value = message;
  if (typeof value === 'string') value = parseText(value);
  if (value === null || typeof value !== 'object') return null;
  const { runId, deployment, hops } = value as { runId?: unknown; deployment?: unknown; hops?: unknown };
  if (!isValidRunId(runId)) return null;
  return {
    runId,
    ...(typeof deployment === 'string' ? { deployment } : {}),
    ...(typeof hops === 'number' && Number.isInteger(hops) && hops > 0 ? { hops } : {}),
  };
}

function parseText(text: string): unknown {
  const trimmed = text.trim();
  const json = trimmed.startsWith('{') ? trimmed : Buffer.from(trimmed, 'base64').toString('utf8');
  try {
    return JSON.parse(json);
  } catch {
    return null;
  }
}

/** The queue's longest visibility delay (7 days). */
const MAX_DELAY_IN_SECONDS = 7 * 24 * 3600;

/** Sends the message; a visibility delay postpones delivery (a run another worker holds, a wait Braze asked for). */
export async function enqueueRun(
  queue: QueueClient,
  message: RunMessage,
  options: { delayInSeconds?: number } = {},
): Promise<void> {
  const delay =
    options.delayInSeconds === undefined ? undefined : Math.min(MAX_DELAY_IN_SECONDS, options.delayInSeconds);
  await queue.sendMessage(encodeRunMessage(message), { visibilityTimeout: delay });
}

/** True when the message was queued by another deployment (older messages name none: they are taken as ours). */
export function isForeignMessage(message: RunMessage, stateContainer: ContainerClient): boolean {
  return message.deployment !== undefined && message.deployment !== deploymentIdOf(stateContainer);
}

export const FOREIGN_REQUEUE_DELAY_IN_SECONDS = 2;
/** With two apps on one queue, the owner misses a message this often in a row with a chance of 2^-30. */
export const MAX_FOREIGN_HOPS = 30;

/** A message of another deployment that hopped too often: left for the host to retry and then poison. */
export class ForeignRunMessageError extends AppError {
  readonly code = 'FOREIGN_RUN_MESSAGE';
  readonly retryable = true;
}

/**
 * Hands a message of another deployment back to the shared queue for its owner, as a copy (the original then
 * completes): failing it instead would count towards `maxDequeueCount` and poison the other app's run. After
 * `MAX_FOREIGN_HOPS` copies (its owner seems gone) it throws, so the host moves the message to the poison queue.
 */
export async function passOnForeignMessage(queue: QueueClient, message: RunMessage): Promise<void> {
  const hops = (message.hops ?? 0) + 1;
  if (hops > MAX_FOREIGN_HOPS) {
    throw new ForeignRunMessageError(
      `run message of another deployment (${message.deployment}) passed on ${MAX_FOREIGN_HOPS} times: ` +
        'its owner does not take it; give each deployment its own RUN_QUEUE_NAME',
    );
  }
  await enqueueRun(queue, { ...message, hops }, { delayInSeconds: FOREIGN_REQUEUE_DELAY_IN_SECONDS });
}
