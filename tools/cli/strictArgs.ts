import { parseArgs, type ParseArgsConfig } from 'node:util';

type FlagSpecs = NonNullable<ParseArgsConfig['options']>;

/** How a tool words each refusal (the CLI says "needs a value", the bench "expects a value"). */
export interface RefusalWords {
  unknownFlag(flag: string): string;
  missingValue(flag: string): string;
  unexpectedValue(flag: string): string;
}

/**
 * `node:util` parseArgs, strict, positionals allowed (each tool counts its own). Node's refusals are re-worded from
 * the tokens of a lenient parse, so that the message names the flag in the tool's words.
 */
export function parseStrict<O extends FlagSpecs>(
  args: readonly string[],
  flags: O,
  words: RefusalWords,
  fail: (message: string) => Error,
) {
  try {
    return parseArgs({ args: [...args], options: flags, strict: true, allowPositionals: true });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) throw error;
    throw fail(refusal(args, flags, words) ?? (error as Error).message);
  }
}

function refusal(args: readonly string[], flags: FlagSpecs, words: RefusalWords): string | undefined {
  const { tokens } = parseArgs({
    args: [...args],
    options: flags,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = Object.hasOwn(flags, token.name) ? flags[token.name] : undefined;
    if (!spec) return words.unknownFlag(token.rawName);
    if (spec.type === 'boolean' && token.value !== undefined) return words.unexpectedValue(token.rawName);
    // Strict mode refuses `--flag --other` as ambiguous: the value is missing.
    const missing = token.value === undefined || (!token.inlineValue && token.value.startsWith('-'));
    if (spec.type === 'string' && missing) return words.missingValue(token.rawName);
  }
  return undefined;
}
