import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Parser } from 'web-tree-sitter';
import { DEFAULTS, SETTINGS } from '../../shared/config/settings';
import {
  type BicepFile,
  type ResourceDeclaration,
  createBicepParser,
  loadInfra,
  modules,
  outputs,
  parameters,
  parseBicep,
  property,
  propertyKeys,
  referencedNames,
  repoRoot,
  resources,
  stringLiteral,
  variables,
} from './bicep';
import {
  ALLOWED_ROLES,
  checkAppSettings,
  checkRoleAssignments,
  checkSecureParameters,
  findAppSettings,
} from './checks';

const settingNames = Object.keys(SETTINGS);
const requiredInAzure = Object.entries(SETTINGS)
  .filter(([, setting]) => setting.requiredInAzure)
  .map(([name]) => name);

let parser: Parser;
let files: BicepFile[];

beforeAll(async () => {
  parser = await createBicepParser();
  files = loadInfra(parser);
});

afterAll(() => parser.delete());

function file(path: string): BicepFile {
  const found = files.find((f) => f.path.replace(/\\/g, '/') === path);
  if (!found) throw new Error(`${path} not found`);
  return found;
}

/** Resources of a type declared (not merely referenced as `existing`) anywhere under infra/. */
function declared(type: string): ResourceDeclaration[] {
  return files.flatMap(resources).filter((r) => r.type === type && !r.existing);
}

function only(type: string): ResourceDeclaration {
  const found = declared(type);
  expect(found).toHaveLength(1);
  return found[0];
}

function literal(resource: ResourceDeclaration, path: string): string | null {
  return stringLiteral(property(resource.body, path));
}

function text(resource: ResourceDeclaration, path: string): string | undefined {
  return property(resource.body, path)?.text;
}

function moduleParams(path: string, moduleSource: string) {
  const declaration = modules(file(path)).find((m) => m.source === moduleSource);
  if (!declaration) throw new Error(`${path} does not deploy ${moduleSource}`);
  return { declaration, param: (name: string) => property(declaration.body, `params.${name}`) };
}

describe('infra: resources', () => {
  it('main.bicep deploys to a resource group (az deployment group create, azd)', () => {
    const scope = file('infra/main.bicep').tree.rootNode.descendantsOfType('target_scope_assignment')[0];
    expect(stringLiteral(scope?.namedChildren[0] ?? null)).toBe('resourceGroup');
  });

  it('hosts the app on a Flex Consumption (FC1) plan', () => {
    const plan = only('Microsoft.Web/serverfarms');
    expect(literal(plan, 'sku.name')).toBe('FC1');
    expect(literal(plan, 'sku.tier')).toBe('FlexConsumption');
    expect(text(plan, 'properties.reserved')).toBe('true');
  });

  it('runs the function app on Node 22 with identity-based deployment storage and scale settings', () => {
    const site = only('Microsoft.Web/sites');
    expect(literal(site, 'kind')).toBe('functionapp,linux');
    expect(text(site, 'properties.httpsOnly')).toBe('true');
    expect(literal(site, 'properties.functionAppConfig.runtime.name')).toBe('node');
    expect(literal(site, 'properties.functionAppConfig.runtime.version')).toBe('22');
    expect(literal(site, 'properties.functionAppConfig.deployment.storage.type')).toBe('blobContainer');
    expect(literal(site, 'properties.functionAppConfig.deployment.storage.authentication.type')).toBe(
      'UserAssignedIdentity',
    );
    expect(propertyKeys(property(site.body, 'properties.functionAppConfig.scaleAndConcurrency'))).toEqual(
      expect.arrayContaining(['maximumInstanceCount', 'instanceMemoryMB']),
    );
    expect(text(site, 'tags')).toContain("'azd-service-name': 'api'");
  });

  it('uses one user-assigned identity for every connection', () => {
    const identity = only('Microsoft.ManagedIdentity/userAssignedIdentities');
    const site = only('Microsoft.Web/sites');
    expect(literal(site, 'identity.type')).toBe('UserAssigned');
    expect(propertyKeys(property(site.body, 'identity.userAssignedIdentities'))).toEqual(["'${identityId}'"]);
    expect(text(site, 'properties.keyVaultReferenceIdentity')).toBe('identityId');
    expect(
      text(site, 'properties.functionAppConfig.deployment.storage.authentication.userAssignedIdentityResourceId'),
    ).toBe('identityId');

    const api = moduleParams('infra/main.bicep', 'app/api.bicep');
    expect(api.param('identityId')?.text).toBe(`${identity.symbol}.id`);
    expect(api.param('identityClientId')?.text).toBe(`${identity.symbol}.properties.clientId`);
    for (const rbacModule of ['rbac/app.bicep', 'rbac/ciExportReader.bicep']) {
      expect(moduleParams('infra/main.bicep', rbacModule).param('identityPrincipalId')?.text).toBe(
        `${identity.symbol}.properties.principalId`,
      );
    }

    const [settings] = findAppSettings(files);
    for (const name of ['AzureWebJobsStorage__clientId', 'CI_EXPORT_STORAGE__clientId', 'STATE_STORAGE__clientId']) {
      expect(settings.value(name)?.text).toBe('identityClientId');
    }
    expect(settings.value('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')?.text).toBe(
      "'ClientId=${identityClientId};Authorization=AAD'",
    );
  });

  it('creates host storage without shared keys, public blob access or old TLS', () => {
    const account = only('Microsoft.Storage/storageAccounts');
    expect(text(account, 'properties.allowSharedKeyAccess')).toBe('false');
    expect(text(account, 'properties.allowBlobPublicAccess')).toBe('false');
    expect(literal(account, 'properties.minimumTlsVersion')).toBe('TLS1_2');
    expect(text(account, 'properties.supportsHttpsTrafficOnly')).toBe('true');
  });

  it('creates the run queue, its poison queue and the state container with the names the app defaults to', () => {
    expect(declared('Microsoft.Storage/storageAccounts/queueServices/queues')).toHaveLength(1);
    expect(declared('Microsoft.Storage/storageAccounts/blobServices/containers')).toHaveLength(1);

    const mainVariables = variables(file('infra/main.bicep'));
    const valueOf = (node: ReturnType<typeof property>) =>
      node?.type === 'identifier' ? stringLiteral(mainVariables.get(node.text)?.value ?? null) : node?.text;
    const storage = moduleParams('infra/main.bicep', 'storage.bicep');
    const listed = (name: string) => (storage.param(name)?.namedChildren ?? []).map((n) => (n ? valueOf(n) : null));

    expect(listed('queueNames')).toEqual([DEFAULTS.runQueueName, `${DEFAULTS.runQueueName}-poison`]);
    expect(listed('containerNames')).toContain(DEFAULTS.stateContainer);

    const api = moduleParams('infra/main.bicep', 'app/api.bicep');
    expect(valueOf(api.param('runQueueName'))).toBe(DEFAULTS.runQueueName);
    expect(valueOf(api.param('stateContainerName'))).toBe(DEFAULTS.stateContainer);
    expect(storage.param('containerNames')?.text).toContain('deploymentContainerName');
  });

  it('keeps the Braze key in a Key Vault with RBAC, soft delete and purge protection', () => {
    const vault = only('Microsoft.KeyVault/vaults');
    expect(text(vault, 'properties.enableRbacAuthorization')).toBe('true');
    expect(text(vault, 'properties.enableSoftDelete')).toBe('true');
    expect(text(vault, 'properties.enablePurgeProtection')).toBe('true');
    expect(propertyKeys(property(vault.body, 'properties'))).not.toContain('accessPolicies');

    const secret = only('Microsoft.KeyVault/vaults/secrets');
    expect(secret.conditional).toBe(true); // created only when the key is given, so it can be set later
    const keyParameter = parameters(secret.file).find((p) => p.name === text(secret, 'properties.value'));
    expect(keyParameter).toMatchObject({ secure: true, hasDefault: true });
  });

  it('sends telemetry to workspace-based Application Insights with local auth disabled', () => {
    const insights = only('Microsoft.Insights/components');
    expect(text(insights, 'properties.DisableLocalAuth')).toBe('true');
    expect(text(insights, 'properties.WorkspaceResourceId')).toBe(
      `${only('Microsoft.OperationalInsights/workspaces').symbol}.id`,
    );
  });

  it('alerts on failed runs (worker and poison handler log "run failed"; a failed timer), emailing an optional address', () => {
    const alert = only('Microsoft.Insights/scheduledQueryRules');
    expect(text(alert, 'properties.scopes')).toContain(`${only('Microsoft.Insights/components').symbol}.id`);
    const condition = property(alert.body, 'properties.criteria.allOf')?.namedChildren[0] ?? null;
    expect(stringLiteral(property(condition, 'operator'))).toBe('GreaterThan');
    expect(property(condition, 'threshold')?.text).toBe('0');
    const query = variables(alert.file).get(property(condition, 'query')?.text ?? '')?.value.text ?? '';
    expect(query).toMatch(
      /traces \| where operation_Name in \(\{0\}\) and severityLevel >= 3 and message startswith "run failed"/,
    );
    expect(query).toMatch(/requests \| where operation_Name == "\{1\}" and success == false/);

    const monitoring = moduleParams('infra/main.bicep', 'monitoring.bicep');
    expect(monitoring.param('runFunctionNames')?.text).toMatch(/^\['runWorker', 'runPoison'\]$/);
    expect(stringLiteral(monitoring.param('timerFunctionName'))).toBe('scheduledExport');
    expect(only('Microsoft.Insights/actionGroups').conditional).toBe(true);
  });

  it('watches functions that exist in functions/', () => {
    const monitoring = moduleParams('infra/main.bicep', 'monitoring.bicep');
    const watched = [
      ...(monitoring.param('runFunctionNames')?.namedChildren ?? []).map((n) => stringLiteral(n)),
      stringLiteral(monitoring.param('timerFunctionName')),
    ];
    expect(watched).toHaveLength(3);
    for (const name of watched) {
      const registration = join(repoRoot, 'functions', String(name), 'index.ts');
      expect(existsSync(registration)).toBe(true);
      expect(readFileSync(registration, 'utf8')).toMatch(new RegExp(`app\\.\\w+\\('${name}'`));
    }
  });
});

describe('infra: settings and secrets', () => {
  it('sets every requiredInAzure setting of SETTINGS, with known names and identity-based storage', () => {
    expect(requiredInAzure.length).toBeGreaterThan(5);
    expect(checkAppSettings(files, settingNames, requiredInAzure)).toEqual([]);
    const [settings] = findAppSettings(files);
    for (const name of ['blobServiceUri', 'queueServiceUri', 'tableServiceUri', 'credential', 'clientId']) {
      expect(settings.names).toContain(`AzureWebJobsStorage__${name}`);
    }
    expect(settings.names).toContain('STATE_STORAGE__credential');
  });

  it('sets every %SETTING% and identity connection the function bindings use', () => {
    const [settings] = findAppSettings(files);
    const bindings = readdirSync(join(repoRoot, 'functions'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(repoRoot, 'functions', entry.name, 'index.ts'))
      .filter((path) => existsSync(path))
      .map((path) => readFileSync(path, 'utf8'))
      .join('\n');
    const expressions = [...bindings.matchAll(/%([A-Za-z0-9_]+)%/g)].map((match) => match[1]);
    const connections = [...bindings.matchAll(/connection:\s*'([^']+)'/g)].map((match) => match[1]);
    expect(expressions).toEqual(expect.arrayContaining(['RUN_QUEUE_NAME', 'EXPORT_SCHEDULE']));
    for (const name of expressions) expect(settings.names).toContain(name);
    for (const connection of connections) {
      for (const part of ['queueServiceUri', 'credential', 'clientId']) {
        expect(settings.names).toContain(`${connection}__${part}`);
      }
    }
  });

  it('sets BRAZE_API_KEY to a Key Vault reference of the secret the vault module creates', () => {
    const [settings] = findAppSettings(files);
    expect(settings.value('BRAZE_API_KEY')?.text).toBe("'@Microsoft.KeyVault(SecretUri=${brazeApiKeySecretUri})'");
    const api = moduleParams('infra/main.bicep', 'app/api.bicep');
    const vaultModule = modules(file('infra/main.bicep')).find((m) => m.source === 'keyvault.bicep');
    expect(api.param('brazeApiKeySecretUri')?.text).toBe(`${vaultModule?.symbol}.outputs.brazeApiKeySecretUri`);
  });

  it('passes the Braze key only into the Key Vault secret, never to outputs or app settings', () => {
    expect(parameters(file('infra/main.bicep')).find((p) => p.name === 'brazeApiKey')?.secure).toBe(true);
    expect(checkSecureParameters(files)).toEqual([]);
    for (const bicep of files) {
      const secureNames = parameters(bicep)
        .filter((p) => p.secure)
        .map((p) => p.name);
      for (const output of outputs(bicep)) {
        expect(referencedNames(output.value).filter((name) => secureNames.includes(name))).toEqual([]);
      }
    }
  });
});

describe('infra: role assignments', () => {
  it('assigns only allowed, commented roles with guid() names, each scoped to one resource', () => {
    const { problems, findings } = checkRoleAssignments(files);
    expect(problems).toEqual([]);
    const granted = new Set(findings.map((f) => f.roleName));
    for (const role of [
      'Storage Blob Data Owner',
      'Storage Queue Data Contributor',
      'Key Vault Secrets User',
      'Storage Blob Data Reader',
      'Monitoring Metrics Publisher',
    ]) {
      expect(granted).toContain(role);
    }
    expect([...granted].every((role) => Object.values(ALLOWED_ROLES).includes(role))).toBe(true);
  });

  it('gives read on the CI export container only, in the CI account resource group', () => {
    const reader = file('infra/rbac/ciExportReader.bicep');
    const assignments = resources(reader).filter((r) => r.type === 'Microsoft.Authorization/roleAssignments');
    expect(assignments).toHaveLength(1);
    const { findings } = checkRoleAssignments([reader]);
    expect(findings.map((f) => f.roleName)).toEqual(['Storage Blob Data Reader']);
    const scope = property(assignments[0].body, 'scope');
    const container = resources(reader).find((r) => r.type === 'containers' && r.existing);
    expect(scope?.type).toBe('resource_expression');
    expect(scope?.childForFieldName('resource')?.text).toBe(container?.symbol);

    const deployment = moduleParams('infra/main.bicep', 'rbac/ciExportReader.bicep').declaration;
    expect(property(deployment.body, 'scope')?.text).toMatch(/^resourceGroup\(/);
  });

  it('gives the operator role only to an optional principal', () => {
    const officer = checkRoleAssignments(files).findings.filter((f) => f.roleName === 'Key Vault Secrets Officer');
    for (const finding of officer) {
      const assignment = resources(file(finding.file)).find((r) => r.symbol === finding.symbol);
      expect(assignment?.conditional).toBe(true);
      expect(property(assignment?.body ?? null, 'properties.principalId')?.text).not.toMatch(/identity/i);
    }
  });
});

describe('infra: azd and parameters', () => {
  it('main.parameters.json names only parameters of main.bicep, and covers the required ones azd cannot prompt well', () => {
    const parametersFile = JSON.parse(readFileSync(join(repoRoot, 'infra', 'main.parameters.json'), 'utf8')) as {
      parameters: Record<string, unknown>;
    };
    const declaredParameters = parameters(file('infra/main.bicep'));
    const names = declaredParameters.map((p) => p.name);
    const given = Object.keys(parametersFile.parameters);
    expect(given.filter((name) => !names.includes(name))).toEqual([]);
    // exportConfig (an object) is prompted for by azd or passed with --parameters exportConfig=@file.json.
    const requiredWithoutDefault = declaredParameters.filter((p) => !p.hasDefault).map((p) => p.name);
    expect(requiredWithoutDefault.filter((name) => !given.includes(name))).toEqual(['exportConfig']);
    expect(given).not.toContain('brazeApiKey');
  });

  it('azure.yaml deploys service api as a function app from infra/', () => {
    const azureYaml = readFileSync(join(repoRoot, 'azure.yaml'), 'utf8');
    expect(azureYaml).toMatch(/^services:\n {2}api:\n(?: {4}.*\n)*? {4}host: function$/m);
    expect(azureYaml).toMatch(/^ {2}path: infra$/m);
  });

  it('azure.yaml deploys exactly the folder npm run package builds, with no remote build, and names its azd version', () => {
    const azureYaml = readFileSync(join(repoRoot, 'azure.yaml'), 'utf8');
    const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
    expect(azureYaml).toMatch(/^ {4}language: ts$/m);
    expect(azureYaml).toMatch(/^ {4}dist: \.package\/app$/m);
    expect(azureYaml).toMatch(/^ {4}remoteBuild: false$/m);
    // remoteBuild is read from azd 1.23.5 on (Azure/azure-dev #6748).
    expect(azureYaml).toMatch(/^requiredVersions:\n {2}azd: '>= 1\.23\.5'$/m);
    const hook = azureYaml.slice(azureYaml.indexOf('    hooks:\n      prepackage:'));
    expect(hook.match(/^ {10}run: npm run package$/gm)).toHaveLength(2); // posix and windows
    expect(packageJson.scripts.package).toMatch(/^npm run build && node dist\/tools\/package\/main\.js$/);
    // azd refuses remoteBuild: false when .funcignore drops node_modules.
    const funcignore = readFileSync(join(repoRoot, '.funcignore'), 'utf8').split('\n');
    expect(funcignore.filter((line) => /^\/?node_modules\/?$/.test(line.trim()))).toEqual([]);
  });
});

describe('infra: redeployments keep the settings and the key', () => {
  it('merges additionalAppSettings into the settings the template owns, which win', () => {
    const [settings] = findAppSettings(files);
    expect(settings.mergedFrom).toEqual(['additionalAppSettings', 'templateAppSettings']);
    const apiParameter = parameters(file('infra/app/api.bicep')).find((p) => p.name === 'additionalAppSettings');
    expect(apiParameter?.hasDefault).toBe(true);
    expect(moduleParams('infra/main.bicep', 'app/api.bicep').param('additionalAppSettings')?.text).toBe(
      'additionalAppSettings',
    );
    const mainParameter = parameters(file('infra/main.bicep')).find((p) => p.name === 'additionalAppSettings');
    expect(mainParameter?.node.text).toMatch(/^param additionalAppSettings object = \{\}$/);
    const parametersFile = JSON.parse(readFileSync(join(repoRoot, 'infra', 'main.parameters.json'), 'utf8'));
    // No `${...={}}` default: its braces would end the expression early. Unset, azd omits the parameter (default {}).
    expect(parametersFile.parameters.additionalAppSettings.value).toBe('${ADDITIONAL_APP_SETTINGS}');
  });

  it('every setting of SETTINGS is set by the template, or documented as tunable through additionalAppSettings', () => {
    const [settings] = findAppSettings(files);
    const deployment = readFileSync(join(repoRoot, 'docs', 'deployment.md'), 'utf8');
    const start = deployment.search(/^## .*`additionalAppSettings`/m);
    expect(start).toBeGreaterThanOrEqual(0);
    const section = deployment.slice(start, deployment.indexOf('\n## ', start + 1));
    const documented = [...section.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((match) => match[1]);
    const misplaced = Object.entries(SETTINGS).flatMap(([name, setting]) => {
      const inTemplate = settings.names.includes(name);
      const inDocs = documented.includes(name);
      if (setting.inAzure === 'template' && !inTemplate) return [`${name}: inAzure 'template' but not set`];
      if (setting.inAzure === 'tunable' && (inTemplate || !inDocs))
        return [`${name}: tunable must be left to additionalAppSettings and listed in docs/deployment.md`];
      if (setting.inAzure === 'localOnly' && (inTemplate || inDocs)) return [`${name}: localOnly but set for Azure`];
      return [];
    });
    expect(misplaced).toEqual([]);
    expect(documented.filter((name) => !(name in SETTINGS))).toEqual([]);
    expect(documented.length).toBeGreaterThanOrEqual(8);
  });

  it('makes whoever deploys the Key Vault Secrets Officer by default, with the principal type azd reports', () => {
    const main = file('infra/main.bicep');
    const officer = parameters(main).find((p) => p.name === 'secretsOfficerPrincipalId');
    expect(officer?.node.text).toMatch(/= deployer\(\)\.objectId$/);
    const parametersFile = JSON.parse(readFileSync(join(repoRoot, 'infra', 'main.parameters.json'), 'utf8'));
    expect(parametersFile.parameters.secretsOfficerPrincipalId.value).toBe('${AZURE_PRINCIPAL_ID}');
    expect(parametersFile.parameters.secretsOfficerPrincipalType.value).toBe('${AZURE_PRINCIPAL_TYPE}');
    const rbac = moduleParams('infra/main.bicep', 'rbac/app.bicep');
    expect(rbac.param('secretsOfficerPrincipalType')?.text).toBe('secretsOfficerPrincipalType');
    const assignment = resources(file('infra/rbac/app.bicep')).find((r) => r.symbol === 'keyVaultSecretsOfficer');
    expect(text(assignment as ResourceDeclaration, 'properties.principalType')).toBe('secretsOfficerPrincipalType');
    const typeParameter = parameters(file('infra/rbac/app.bicep')).find(
      (p) => p.name === 'secretsOfficerPrincipalType',
    );
    expect(typeParameter?.hasDefault).toBe(false); // no silent 'User' for a group or a pipeline
  });
});

describe('infra: hardening', () => {
  it('turns off basic-auth publishing (SCM and FTP)', () => {
    const policies = declared('Microsoft.Web/sites/basicPublishingCredentialsPolicies');
    expect(policies.map((p) => literal(p, 'name')).sort()).toEqual(['ftp', 'scm']);
    for (const policy of policies) expect(text(policy, 'properties.allow')).toBe('false');
  });

  it('keeps deleted blobs and containers of the state account restorable (soft delete)', () => {
    const blobService = only('Microsoft.Storage/storageAccounts/blobServices');
    expect(text(blobService, 'properties.deleteRetentionPolicy.enabled')).toBe('true');
    expect(text(blobService, 'properties.containerDeleteRetentionPolicy.enabled')).toBe('true');
    const days = parameters(blobService.file).find((p) => p.name === 'deleteRetentionInDays');
    expect(days?.node.text).toMatch(/= 7$/);
  });

  it("sends the Key Vault's audit log (secret reads) to Log Analytics", () => {
    const diagnostics = only('Microsoft.Insights/diagnosticSettings');
    expect(diagnostics.file.path.replace(/\\/g, '/')).toBe('infra/keyvault.bicep');
    expect(text(diagnostics, 'scope')).toBe(only('Microsoft.KeyVault/vaults').symbol);
    const log = property(diagnostics.body, 'properties.logs')?.namedChildren[0] ?? null;
    expect(stringLiteral(property(log, 'categoryGroup'))).toBe('audit');
    expect(property(log, 'enabled')?.text).toBe('true');
    const vault = moduleParams('infra/main.bicep', 'keyvault.bicep');
    const monitoring = modules(file('infra/main.bicep')).find((m) => m.source === 'monitoring.bicep');
    expect(vault.param('logAnalyticsWorkspaceId')?.text).toBe(`${monitoring?.symbol}.outputs.logAnalyticsId`);
  });

  it('vnetEnabled (off by default): VNet integration, private endpoints for storage and Key Vault, no public access', () => {
    const main = file('infra/main.bicep');
    expect(parameters(main).find((p) => p.name === 'vnetEnabled')?.node.text).toBe('param vnetEnabled bool = false');
    const network = modules(main).find((m) => m.source === 'network.bicep');
    expect(network?.node.text).toMatch(/^module \w+ 'network.bicep' = if \(vnetEnabled\)/);
    for (const source of ['storage.bicep', 'keyvault.bicep']) {
      expect(moduleParams('infra/main.bicep', source).param('privateNetworking')?.text).toBe('vnetEnabled');
    }
    expect(text(only('Microsoft.Storage/storageAccounts'), 'properties.publicNetworkAccess')).toBe(
      "privateNetworking ? 'Disabled' : 'Enabled'",
    );
    expect(text(only('Microsoft.KeyVault/vaults'), 'properties.publicNetworkAccess')).toBe(
      "privateNetworking ? 'Disabled' : 'Enabled'",
    );

    const vnet = only('Microsoft.Network/virtualNetworks');
    const delegations = vnet.body.descendantsOfType('object_property').filter((p) => p?.text.startsWith('serviceName'));
    expect(delegations.map((p) => p?.text)).toEqual(["serviceName: 'Microsoft.App/environments'"]);
    const endpoints = declared('Microsoft.Network/privateEndpoints');
    const groupIds = endpoints
      .flatMap((e) => e.body.descendantsOfType('object_property'))
      .filter((p) => p?.text.startsWith('groupIds'))
      .map((p) => p?.text);
    expect(groupIds.sort()).toEqual(["groupIds: ['vault']", 'groupIds: [service]']);
    expect(variables(file('infra/network.bicep')).get('storageServices')?.value.text).toBe(
      "['blob', 'queue', 'table']",
    );
    expect(declared('Microsoft.Network/privateEndpoints/privateDnsZoneGroups')).toHaveLength(2);

    const api = moduleParams('infra/main.bicep', 'app/api.bicep');
    expect(api.param('virtualNetworkSubnetId')?.text).toBe("vnetEnabled ? network.outputs.appSubnetId : ''");
    expect(text(only('Microsoft.Web/sites'), 'properties.virtualNetworkSubnetId')).toBe(
      'empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId',
    );
  });
});

describe('infra: the checks catch violations', () => {
  const snippet = (text: string) => [parseBicep(parser, 'infra/snippet.bicep', text)];

  it('rejects an Owner role, a fixed name and a missing scope', () => {
    const { problems } = checkRoleAssignments(
      snippet(
        [
          'param principalId string',
          '// Owner',
          "var ownerRoleId = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635'",
          "resource owner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {",
          "  name: 'fixed-name'",
          '  properties: {',
          "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ownerRoleId)",
          '    principalId: principalId',
          "    principalType: 'ServicePrincipal'",
          '  }',
          '}',
        ].join('\n'),
      ),
    );
    expect(problems.join('\n')).toMatch(/mentions the Owner role/);
    expect(problems.join('\n')).toMatch(/name must be guid/);
    expect(problems.join('\n')).toMatch(/scope must be the one resource/);
    expect(problems.join('\n')).toMatch(/\(Owner\) is not in the allowed list/);
  });

  it('rejects a role id without a comment naming it', () => {
    const { problems } = checkRoleAssignments(
      snippet(
        [
          'param principalId string',
          "resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = { name: 'x' }",
          "var readerRoleId = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'",
          "resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {",
          '  name: guid(account.id, principalId, readerRoleId)',
          '  scope: account',
          '  properties: {',
          "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)",
          '    principalId: principalId',
          "    principalType: 'ServicePrincipal'",
          '  }',
          '}',
        ].join('\n'),
      ),
    );
    expect(problems).toEqual([expect.stringMatching(/needs a comment naming it "Storage Blob Data Reader"/)]);
  });

  it('rejects a secure parameter in a variable, an output, app settings or a non-secure module parameter', () => {
    const problems = checkSecureParameters(
      snippet(
        [
          '@secure()',
          'param apiKey string',
          "var header = 'Bearer ${apiKey}'",
          'output leaked string = apiKey',
          "resource settings 'Microsoft.Web/sites/config@2024-04-01' = {",
          "  name: 'appsettings'",
          '  properties: {',
          '    BRAZE_API_KEY: apiKey',
          '  }',
          '}',
          "module app 'app.bicep' = {",
          "  name: 'app'",
          '  params: {',
          '    key: apiKey',
          '  }',
          '}',
        ].join('\n'),
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(
        /^infra\/snippet\.bicep:3:\d+: @secure\(\) parameter apiKey is used outside a Key Vault secret/,
      ),
      expect.stringMatching(
        /^infra\/snippet\.bicep:4:\d+: @secure\(\) parameter apiKey is used outside a Key Vault secret/,
      ),
      expect.stringMatching(
        /^infra\/snippet\.bicep:8:\d+: @secure\(\) parameter apiKey is used outside a Key Vault secret/,
      ),
      expect.stringMatching(
        /^infra\/snippet\.bicep:14:\d+: .* is passed to app\.bicep parameter key, which is not @secure\(\)/,
      ),
    ]);
  });

  it('reads the template-owned settings of a union(additionalAppSettings, own) merge, following a variable', () => {
    const [settings] = findAppSettings(
      snippet(
        [
          'param additionalAppSettings object = {}',
          'var own = {',
          "  BRAZE_REST_ENDPOINT: 'rest.iad-03.braze.com'",
          '}',
          "resource settings 'Microsoft.Web/sites/config@2024-04-01' = {",
          "  name: 'appsettings'",
          '  properties: union(additionalAppSettings, own)',
          '}',
        ].join('\n'),
      ),
    );
    expect(settings.mergedFrom).toEqual(['additionalAppSettings', 'own']);
    expect(settings.names).toEqual(['BRAZE_REST_ENDPOINT']);
    expect(stringLiteral(settings.value('BRAZE_REST_ENDPOINT'))).toBe('rest.iad-03.braze.com');
  });

  it('rejects a plain Braze key, a connection string, a misspelt and a missing setting', () => {
    const problems = checkAppSettings(
      snippet(
        [
          'param key string',
          "resource settings 'Microsoft.Web/sites/config@2024-04-01' = {",
          "  name: 'appsettings'",
          '  properties: {',
          '    BRAZE_API_KEY: key',
          "    AzureWebJobsStorage: 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc'",
          "    BRAZE_REST_ENDPIONT: 'rest.iad-03.braze.com'",
          '  }',
          '}',
        ].join('\n'),
      ),
      settingNames,
      ['BRAZE_API_KEY', 'BRAZE_REST_ENDPOINT'],
    );
    const report = problems.join('\n');
    expect(report).toMatch(/BRAZE_REST_ENDPOINT \(requiredInAzure\) is not set/);
    expect(report).toMatch(/BRAZE_REST_ENDPIONT is not a known setting name/);
    expect(report).toMatch(/AzureWebJobsStorage is a connection string/);
    expect(report).toMatch(/AzureWebJobsStorage holds a key or SAS/);
    expect(report).toMatch(/BRAZE_API_KEY must be '@Microsoft.KeyVault/);
  });
});
