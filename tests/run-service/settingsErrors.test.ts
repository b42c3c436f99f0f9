import { HttpRequest, InvocationContext } from '@azure/functions';
import { startExport } from '../../functions/startExport/handler';

/**
 * A deployed app whose Key Vault reference did not resolve answers every request with what to check, instead of
 * admitting runs that fail later with a 401 from Braze. The handler builds its dependencies from process.env, as
 * in the Functions host; loadSettings refuses before any storage is touched.
 */
const reference = '@Microsoft.KeyVault(SecretUri=https://kv-abc.vault.azure.net/secrets/braze-api-key)';
const environment: Record<string, string> = {
  CI_EXPORT_STORAGE__blobServiceUri: 'https://stci.blob.core.windows.net',
  CI_EXPORT_STORAGE__clientId: '00000000-0000-0000-0000-000000000001',
  CI_EXPORT_CONTAINER: 'ci-exports',
  STATE_STORAGE__blobServiceUri: 'https://stapp.blob.core.windows.net',
  BRAZE_REST_ENDPOINT: 'rest.iad-03.braze.com',
  BRAZE_API_KEY: reference,
  EXPORT_CONFIG: '{}',
};

describe('HTTP with a Key Vault reference that did not resolve', () => {
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const [name, value] of Object.entries(environment)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
  });
  afterAll(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('answers 503 naming the setting and what to check, without the reference or any value', async () => {
    const context = new InvocationContext({
      invocationId: 'invocation-1',
      functionName: 'startExport',
      logHandler: () => {},
    });
    const response = await startExport(
      new HttpRequest({ method: 'POST', url: 'https://app.example.net/api/exports/runs', body: { string: '{}' } }),
      context,
    );
    expect(response.status).toBe(503);
    const error = (response.jsonBody as { error: string }).error;
    expect(error).toMatch(/BRAZE_API_KEY holds a Key Vault reference that did not resolve/);
    expect(error).toMatch(/Key Vault Secrets User/);
    expect(error).not.toContain('kv-abc');
  });
});
