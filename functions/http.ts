import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { AppDependencies, appDependencies, contextLogger } from './dependencies';
import { ConfigError } from '../shared/config/errors';
import { describeError } from '../shared/telemetry/describeError';

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'Cache-Control': 'no-store', ...headers } };
}

export function badRequest(message: string): HttpResponseInit {
  return json(400, { error: message });
}

/**
 * Resolves the dependencies (the host's, or a test's). Invalid settings (say, a Key Vault reference that did not
 * resolve) are a 503 naming the settings and what to check: ConfigError messages never hold values. Anything
 * else unexpected is a 500 that reveals nothing but the invocation id; the details go to the log.
 */
export async function withDependencies(
  context: InvocationContext,
  given: AppDependencies | undefined,
  handle: (deps: AppDependencies) => Promise<HttpResponseInit>,
): Promise<HttpResponseInit> {
  try {
    return await handle(given ?? (await appDependencies()));
  } catch (error) {
    contextLogger(context).log('error', 'request failed', describeError(error));
    if (error instanceof ConfigError) return json(503, { error: `the app cannot run: ${error.message}` });
    return json(500, { error: `internal error; see the function logs for invocation ${context.invocationId}` });
  }
}
