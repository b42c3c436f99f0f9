import type { QueueClient } from '@azure/storage-queue';
import { isValidRunId } from './records';

export interface RunMessage {
  runId: string;
}

/**
 * Queue messages are base64-encoded JSON: the Functions host's default `messageEncoding` for storage queues,
 * so the `runWorker` trigger receives `{ runId }` as an object.
 */
export function encodeRunMessage(message: RunMessage): string {
  return Buffer.from(JSON.stringify({ runId: message.runId }), 'utf8').toString('base64');
}

/**
 * Accepts what a trigger or a queue client delivers: the parsed object, its JSON text, or the base64 text.
 * Returns null when the message names no valid run, which no retry can fix.
 */
export function parseRunMessage(message: unknown): RunMessage | null {
  let value = message;
  if (typeof value === 'string') value = parseText(value);
  if (value === null || typeof value !== 'object') return null;
  const runId = (value as { runId?: unknown }).runId;
  return isValidRunId(runId) ? { runId } : null;
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

/** Sends `{ runId }`; a visibility delay postpones delivery (used to retry a run another worker holds). */
export async function enqueueRun(
  queue: QueueClient,
  runId: string,
  options: { delayInSeconds?: number } = {},
): Promise<void> {
  await queue.sendMessage(encodeRunMessage({ runId }), { visibilityTimeout: options.delayInSeconds });
}
