import { loadSettings, misspeltSettings } from '../../shared/config/settings';
import { ConfigError } from '../../shared/config/errors';

const base = {
  CI_EXPORT_STORAGE: 'UseDevelopmentStorage=true',
  CI_EXPORT_CONTAINER: 'ci-exports',
  CI_EXPORT_PATH: '/CustomerInsights_x/BrazeFeed/',
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  BRAZE_REST_ENDPOINT: 'rest.iad-03.braze.com',
  BRAZE_API_KEY: 'super-secret-key',
  EXPORT_CONFIG: '{}',
};

describe('loadSettings', () => {
  it('applies documented defaults and trims the export path', () => {
    const settings = loadSettings(base);
    expect(settings.ciExportPath).toBe('CustomerInsights_x/BrazeFeed');
    expect(settings.brazeBatchSize).toBe(75);
    expect(settings.stateStorage).toEqual({ kind: 'connectionString', connectionString: 'UseDevelopmentStorage=true' });
    expect(settings.runTimeBudgetInMs).toBe(480_000);
    expect(settings.brazeAllowInsecureLoopback).toBe(false);
  });

  it('prefers STATE_STORAGE over AzureWebJobsStorage and accepts identity-based connections', () => {
    const settings = loadSettings({
      ...base,
      CI_EXPORT_STORAGE: undefined,
      CI_EXPORT_STORAGE__blobServiceUri: 'https://acct.blob.core.windows.net',
      CI_EXPORT_STORAGE__clientId: 'client-1',
      STATE_STORAGE: 'UseDevelopmentStorage=true;x=1',
    });
    expect(settings.ciExportStorage).toEqual({
      kind: 'identity',
      blobServiceUri: 'https://acct.blob.core.windows.net',
      queueServiceUri: undefined,
      clientId: 'client-1',
    });
    expect(settings.stateStorage).toMatchObject({ connectionString: 'UseDevelopmentStorage=true;x=1' });
  });

  it('reports every problem at once, naming each setting, without echoing the key', () => {
    let error: unknown;
    try {
      loadSettings({
        ...base,
        BRAZE_API_KEY: '',
        CI_EXPORT_CONTAINER: '',
        BRAZE_BATCH_SIZE: '76',
        BRAZE_ALLOW_INSECURE_LOOPBACK: 'yes',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('BRAZE_API_KEY is not set'),
        expect.stringContaining('CI_EXPORT_CONTAINER is not set'),
        'BRAZE_BATCH_SIZE must be a whole number from 1 to 75, got "76"',
        'BRAZE_ALLOW_INSECURE_LOOPBACK must be true or false, got "yes"',
      ]),
    );
    expect((error as Error).message).not.toContain('super-secret-key');
  });

  it('reads BRAZE_CONCURRENCY as an adaptive ceiling (default 256) or fixed:N, and names a bad value', () => {
    expect(loadSettings(base).brazeConcurrency).toEqual({ mode: 'adaptive', ceiling: 256 });
    expect(loadSettings({ ...base, BRAZE_CONCURRENCY: '64' }).brazeConcurrency).toEqual({
      mode: 'adaptive',
      ceiling: 64,
    });
    expect(loadSettings({ ...base, BRAZE_CONCURRENCY: 'fixed:16' }).brazeConcurrency).toEqual({
      mode: 'fixed',
      limit: 16,
    });
    expect(() => loadSettings({ ...base, BRAZE_CONCURRENCY: 'fixed:300' })).toThrow(
      'BRAZE_CONCURRENCY must be a whole number from 1 to 256 (the ceiling) or fixed:N, got "fixed:300"',
    );
  });

  it('requires a storage account for state', () => {
    expect(() => loadSettings({ ...base, AzureWebJobsStorage: undefined })).toThrow(/STATE_STORAGE is not set/);
  });

  it('refuses an unresolved Key Vault reference, saying it did not resolve and what to check', () => {
    const reference = '@Microsoft.KeyVault(SecretUri=https://kv-abc.vault.azure.net/secrets/braze-api-key)';
    let error: unknown;
    try {
      loadSettings({
        ...base,
        BRAZE_API_KEY: reference,
        EXPORT_CONFIG: '@Microsoft.KeyVault(VaultName=kv;SecretName=x)',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(2);
    const [brazeKey] = problems.filter((problem) => problem.startsWith('BRAZE_API_KEY '));
    expect(brazeKey).toMatch(/Key Vault reference that did not resolve/);
    expect(brazeKey).toMatch(/secret exists in the vault/);
    expect(brazeKey).toMatch(/Key Vault Secrets User/);
    expect(brazeKey).toMatch(/restart the function app/);
    expect(problems.some((problem) => problem.startsWith('EXPORT_CONFIG holds a Key Vault reference'))).toBe(true);
    expect((error as Error).message).not.toContain('kv-abc.vault.azure.net');
  });

  it('accepts the resolved value of a Key Vault reference', () => {
    expect(loadSettings({ ...base, BRAZE_API_KEY: 'resolved-key-value' }).brazeApiKey).toBe('resolved-key-value');
  });
});

describe('misspeltSettings', () => {
  it('names the setting a name is one or two edits, or only the case, away from', () => {
    expect(
      misspeltSettings(['BRAZE_CONCURENCY', 'braze_api_key', 'RUN_TIME_BUDGET_SECOND', 'STATE_STORAGE__clientID']),
    ).toEqual([
      'BRAZE_CONCURENCY is not a setting of this app; did you mean BRAZE_CONCURRENCY?',
      'braze_api_key is not a setting of this app; did you mean BRAZE_API_KEY?',
      'RUN_TIME_BUDGET_SECOND is not a setting of this app; did you mean RUN_TIME_BUDGET_SECONDS?',
      'STATE_STORAGE__clientID is not a setting of this app; did you mean STATE_STORAGE__clientId?',
    ]);
  });

  it("is silent about the app's own settings and names far from them, as Azure and the shell add", () => {
    expect(
      misspeltSettings([
        'BRAZE_CONCURRENCY',
        'AzureWebJobsStorage',
        'FUNCTIONS_WORKER_RUNTIME',
        'WEBSITE_RUN_FROM_PACKAGE',
        'APPLICATIONINSIGHTS_CONNECTION_STRING',
        'PATH',
        'HOME',
      ]),
    ).toEqual([]);
  });
});
