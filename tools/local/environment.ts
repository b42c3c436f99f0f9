/**
 * App settings for a local run against Azurite and the Braze sandbox: what the demo, the bench and the tests give
 * `createApp` (or a child process) instead of an Azure deployment's settings.
 */
export interface LocalEnvironmentOptions {
  storageConnectionString: string;
  brazeUrl: string;
  brazeApiKey: string;
  exportContainer: string;
  exportPath: string;
  exportConfig: unknown;
  /** More settings (tuning), or overrides. */
  extra?: Record<string, string>;
}

export function localEnvironment(options: LocalEnvironmentOptions): Record<string, string> {
  return {
    CI_EXPORT_STORAGE: options.storageConnectionString,
    CI_EXPORT_CONTAINER: options.exportContainer,
    CI_EXPORT_PATH: options.exportPath,
    STATE_STORAGE: options.storageConnectionString,
    BRAZE_REST_ENDPOINT: options.brazeUrl,
    BRAZE_API_KEY: options.brazeApiKey,
    BRAZE_ALLOW_INSECURE_LOOPBACK: 'true',
    EXPORT_CONFIG: JSON.stringify(options.exportConfig),
    ...options.extra,
  };
}
