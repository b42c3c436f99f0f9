import { hashId } from '../telemetry/logger';

/**
 * The `caller` of a run (RunRequest.caller): who or what started it, as precisely as its entry point
 * authenticates it. HTTP callers are known by the key level the Functions host checked; the host does not pass
 * the key's name to the Node worker, so `http:function-key` means "a holder of a function or host key".
 */
export const HTTP_FUNCTION_KEY_CALLER = 'http:function-key';
export const HTTP_MASTER_KEY_CALLER = 'http:master-key';

export function timerCaller(functionName: string): string {
  return `timer:${functionName}`;
}

export function cliCaller(osUserName: string): string {
  return `cli:${osUserName || 'unknown'}`;
}

/** The caller as it may appear in a log line: a person's name (the CLI's OS user) is hashed. */
export function callerForLogs(caller: string | undefined): string {
  if (!caller) return 'unknown';
  return caller.startsWith('cli:') ? `cli:#${hashId(caller.slice(4))}` : caller;
}
