import type { InvocationContext } from '@azure/functions';
import type { Settings } from '../shared/config/settings';
import { App, createApp } from '../shared/run/app';
import type { RunServiceDeps } from '../shared/run/service';
import type { Logger } from '../shared/telemetry/logger';
import { scrubSecrets } from '../shared/telemetry/scrub';

/** What the handlers use of the app; tests pass their own, the Functions host gets `appDependencies()`. */
export type AppDependencies = Pick<App, 'stateContainer' | 'queue' | 'exportConfig' | 'executor'> & {
  settings: Pick<Settings, 'runTimeBudgetInMs'>;
  clock?: () => number;
};

let cached: Promise<App> | undefined;

/**
 * The app (settings, export config, storage clients, pipeline), built once per process. A failure is not cached,
 * so the next invocation tries again once the settings are fixed.
 */
export function appDependencies(): Promise<App> {
  cached ??= createApp(process.env).catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}

export function serviceDeps(app: AppDependencies, logger: Logger): RunServiceDeps {
  return { stateContainer: app.stateContainer, queue: app.queue, clock: app.clock, logger };
}

/** Routes the shared Logger through the invocation context, so lines reach Application Insights with the invocation. */
export function contextLogger(context: InvocationContext): Logger {
  return {
    log(level, message, properties) {
      const props = properties && Object.keys(properties).length > 0 ? ` ${JSON.stringify(properties)}` : '';
      // Secret patterns scrubbed as a last line of defence, as the CLI's stream logger does.
      context[level](scrubSecrets(`${message}${props}`));
    },
  };
}
