import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../shared/config/errors';
import type { Environment } from '../../shared/config/settings';

export const LOCAL_SETTINGS_FILE = 'local.settings.json';

/**
 * The settings the CLI runs with: `local.settings.json`'s `Values` in the working folder when the file exists (as
 * `func start` reads them), under the environment, which wins. Lets `npm run local` hand its settings to the CLI.
 */
export function cliEnvironment(env: Environment, folder: string = process.cwd()): Environment {
  const file = path.join(folder, LOCAL_SETTINGS_FILE);
  if (!existsSync(file)) return env;
  const values = readLocalSettingsValues(file);
  const merged: Record<string, string | undefined> = { ...values };
  for (const [name, value] of Object.entries(env)) if (value !== undefined) merged[name] = value;
  return merged;
}

/** `Values` of a local.settings.json file, every value a string; a precise error otherwise. */
export function readLocalSettingsValues(file: string): Record<string, string> {
  const name = path.basename(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(name, [`${name} is not valid JSON: ${error instanceof Error ? error.message : error}`]);
  }
  const values = (parsed as { Values?: unknown } | null)?.Values;
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigError(name, [`${name} has no "Values" object`]);
  }
  const problems: string[] = [];
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
    if (typeof value === 'string') result[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') result[key] = String(value);
    else problems.push(`${name}: Values.${key} must be a string`);
  }
  if (problems.length > 0) throw new ConfigError(name, problems);
  return result;
}
