import { dirname, join, normalize } from 'node:path';
import type { Node } from 'web-tree-sitter';
import {
  type BicepFile,
  call,
  isPropertyKey,
  modules,
  parameters,
  property,
  propertyKeys,
  resources,
  stringLiteral,
  variables,
  where,
} from './bicep';

/**
 * Policy checks over parsed Bicep files. Each returns a list of problems (empty when the files comply), so a
 * test can assert compliance of `infra/` and, with a bad snippet, that the check really catches a violation.
 */

/** Built-in roles the app's identity (or the optional operator) may be given, by role definition id. */
export const ALLOWED_ROLES: Readonly<Record<string, string>> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
  '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1': 'Storage Blob Data Reader',
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
  '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
  'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': 'Key Vault Secrets Officer',
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
};

/** Broad management roles that must never appear, whatever the scope. */
export const FORBIDDEN_ROLES: Readonly<Record<string, string>> = {
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
  'b24988ac-6180-42a0-ab88-20f7382dd24c': 'Contributor',
  '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9': 'User Access Administrator',
  'f58310d9-a9f6-439a-9e8d-f62e7b41a168': 'Role Based Access Control Administrator',
  '17d1049b-9a84-46fb-8f53-869881c3d3ab': 'Storage Account Contributor',
  'f25e0fa2-a7c8-4377-a976-54943a77a395': 'Key Vault Contributor',
};

const ROLE_ASSIGNMENT_TYPE = 'Microsoft.Authorization/roleAssignments';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface RoleAssignmentFinding {
  file: string;
  symbol: string;
  roleId: string;
  roleName: string;
}

function targetScope(file: BicepFile): string {
  const assignment = file.tree.rootNode.descendantsOfType('target_scope_assignment')[0];
  const value = assignment?.namedChildren.find((child) => child?.type === 'string') ?? null;
  return stringLiteral(value) ?? 'resourceGroup';
}

/** The role definition id a `roleDefinitionId` expression resolves to, following one variable if needed. */
function resolveRoleId(file: BicepFile, expression: Node): { roleId: string; comment: string } | null {
  const resolveLiteral = (node: Node | undefined): { roleId: string; comment: string } | null => {
    if (!node) return null;
    const literal = stringLiteral(node);
    if (literal !== null) return { roleId: literal.toLowerCase(), comment: '' };
    if (node.type !== 'identifier') return null;
    const variable = variables(file).get(node.text);
    const value = variable ? stringLiteral(variable.value) : null;
    return value !== null && variable ? { roleId: value.toLowerCase(), comment: variable.comment } : null;
  };
  const resourceIdCall = call(expression);
  if (!resourceIdCall) return null;
  const [provider, roleId] = resourceIdCall.args;
  const knownFunction = ['subscriptionResourceId', 'resourceId', 'tenantResourceId'].includes(resourceIdCall.name);
  if (!knownFunction || stringLiteral(provider) !== 'Microsoft.Authorization/roleDefinitions') return null;
  return resolveLiteral(roleId);
}

export function checkRoleAssignments(files: BicepFile[]): { problems: string[]; findings: RoleAssignmentFinding[] } {
  const problems: string[] = [];
  const findings: RoleAssignmentFinding[] = [];
  for (const file of files) {
    const text = file.tree.rootNode.text.toLowerCase();
    for (const [roleId, roleName] of Object.entries(FORBIDDEN_ROLES)) {
      if (text.includes(roleId)) problems.push(`${file.path}: mentions the ${roleName} role (${roleId})`);
    }
    const assignments = resources(file).filter((r) => r.type === ROLE_ASSIGNMENT_TYPE && !r.existing);
    if (assignments.length > 0 && targetScope(file) !== 'resourceGroup') {
      problems.push(`${file.path}: role assignments in a file deployed at ${targetScope(file)} scope`);
    }
    for (const assignment of assignments) {
      const at = `${where(file, assignment.node)} (${assignment.symbol})`;
      const name = call(property(assignment.body, 'name'));
      if (!name || name.name !== 'guid' || name.args.length < 2) {
        problems.push(
          `${at}: name must be guid(scope, principal, role), got "${property(assignment.body, 'name')?.text}"`,
        );
      }
      const scope = property(assignment.body, 'scope');
      if (!scope || !['identifier', 'resource_expression'].includes(scope.type)) {
        problems.push(`${at}: scope must be the one resource the role is for, got "${scope?.text ?? 'none'}"`);
      }
      for (const required of ['properties.principalId', 'properties.principalType']) {
        if (!property(assignment.body, required)) problems.push(`${at}: ${required} is not set`);
      }
      const definition = property(assignment.body, 'properties.roleDefinitionId');
      const resolved = definition ? resolveRoleId(file, definition) : null;
      if (!resolved || !GUID.test(resolved.roleId)) {
        problems.push(
          `${at}: roleDefinitionId must be a role definition id written in the file, got "${definition?.text}"`,
        );
        continue;
      }
      const roleName = ALLOWED_ROLES[resolved.roleId];
      if (!roleName) {
        const known = FORBIDDEN_ROLES[resolved.roleId];
        problems.push(`${at}: role ${resolved.roleId}${known ? ` (${known})` : ''} is not in the allowed list`);
        continue;
      }
      if (resolved.comment && !resolved.comment.includes(roleName)) {
        problems.push(`${at}: the comment of role ${resolved.roleId} does not name it "${roleName}"`);
      }
      if (!resolved.comment) problems.push(`${at}: role ${resolved.roleId} needs a comment naming it "${roleName}"`);
      findings.push({ file: file.path, symbol: assignment.symbol, roleId: resolved.roleId, roleName });
    }
  }
  return { problems, findings };
}

function contains(outer: Node | null | undefined, inner: Node): boolean {
  return !!outer && outer.startIndex <= inner.startIndex && inner.endIndex <= outer.endIndex;
}

function ancestor(node: Node, types: string[]): Node | null {
  for (let current = node.parent; current; current = current.parent) {
    if (types.includes(current.type)) return current;
  }
  return null;
}

/**
 * A `@secure()` parameter may only flow into a Key Vault secret's value (or that secret's `if` condition), or
 * into a module parameter that is itself `@secure()`. Never into outputs, variables, app settings or tags.
 */
export function checkSecureParameters(files: BicepFile[]): string[] {
  const problems: string[] = [];
  const byPath = new Map(files.map((file) => [normalize(file.path), file]));
  for (const file of files) {
    const secureNames = new Set(
      parameters(file)
        .filter((p) => p.secure)
        .map((p) => p.name),
    );
    if (secureNames.size === 0) continue;
    const secretResources = resources(file).filter((r) => r.type.endsWith('secrets') && !r.existing);
    const fileModules = modules(file);
    for (const identifier of file.tree.rootNode.descendantsOfType('identifier')) {
      if (!identifier || !secureNames.has(identifier.text)) continue;
      if (identifier.parent?.type === 'parameter_declaration' || isPropertyKey(identifier)) continue;
      const at = `${where(file, identifier)}: @secure() parameter ${identifier.text}`;
      const secret = secretResources.find((r) => contains(r.node, identifier));
      if (secret) {
        const condition = secret.node.namedChildren.find((c) => c?.type === 'if_statement')?.namedChildren[0];
        if (!contains(property(secret.body, 'properties.value'), identifier) && !contains(condition, identifier)) {
          problems.push(`${at} is used in secret ${secret.symbol} outside its value`);
        }
        continue;
      }
      const module = fileModules.find((m) => contains(m.node, identifier));
      const moduleParams = module ? property(module.body, 'params') : null;
      if (module && contains(moduleParams, identifier)) {
        const entry = ancestor(identifier, ['object_property']);
        const name = entry?.namedChildren[0]?.text ?? '';
        const value = entry?.namedChildren[entry.namedChildren.length - 1];
        const target = byPath.get(normalize(join(dirname(file.path), module.source)));
        const targetParam = target ? parameters(target).find((p) => p.name === name) : undefined;
        if (value?.type !== 'identifier') problems.push(`${at} is transformed before it is passed to ${module.source}`);
        else if (!targetParam?.secure)
          problems.push(`${at} is passed to ${module.source} parameter ${name}, which is not @secure()`);
        continue;
      }
      problems.push(`${at} is used outside a Key Vault secret`);
    }
  }
  for (const file of files) {
    for (const output of file.tree.rootNode.descendantsOfType('output_declaration')) {
      if (!output) continue;
      const listCall = output
        .descendantsOfType('call_expression')
        .find((c) => /^list/i.test(c?.childForFieldName('function')?.text ?? ''));
      if (listCall)
        problems.push(`${where(file, output)}: output uses ${listCall.text.slice(0, 40)}, which returns secrets`);
    }
  }
  return problems;
}

export interface AppSettings {
  file: BicepFile;
  /** The settings the template writes itself. */
  names: string[];
  value(name: string): Node | null;
  /** `union(a, b, ...)` arguments as written when the collection is a merge (later ones win), else []. */
  mergedFrom: string[];
}

/**
 * The `Microsoft.Web/sites/config` resource named `appsettings` (exactly one expected). Its `properties` is an
 * object literal, or `union(additionalAppSettings, templateAppSettings)`: then the template's own settings are
 * the last argument, an object literal or a variable of the file holding one.
 */
export function findAppSettings(files: BicepFile[]): AppSettings[] {
  return files.flatMap((file) =>
    resources(file)
      .filter(
        (r) => r.type === 'Microsoft.Web/sites/config' && stringLiteral(property(r.body, 'name')) === 'appsettings',
      )
      .map((r) => {
        const written = property(r.body, 'properties');
        const merge = call(written);
        const mergedFrom = merge?.name === 'union' ? merge.args.map((arg) => arg.text) : [];
        const own = merge?.name === 'union' ? merge.args[merge.args.length - 1] : written;
        const settings = own?.type === 'identifier' ? (variables(file).get(own.text)?.value ?? null) : own;
        return {
          file,
          names: propertyKeys(settings),
          value: (name: string) => property(settings, name),
          mergedFrom,
        };
      }),
  );
}

/** Host settings the Functions platform reads, beyond the app's own SETTINGS. */
const PLATFORM_SETTINGS = [
  'AzureWebJobsStorage__blobServiceUri',
  'AzureWebJobsStorage__queueServiceUri',
  'AzureWebJobsStorage__tableServiceUri',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
];

/**
 * App settings: every setting the app requires in Azure is set; every name is known (a misspelt name would
 * be silently ignored by the app); storage is reached by identity, never by connection string or key; the
 * Braze key is a Key Vault reference.
 */
export function checkAppSettings(files: BicepFile[], settingNames: string[], requiredInAzure: string[]): string[] {
  const found = findAppSettings(files);
  if (found.length !== 1)
    return [`expected one Microsoft.Web/sites/config 'appsettings' resource, found ${found.length}`];
  const [{ file, names, value }] = found;
  const problems: string[] = [];
  for (const name of requiredInAzure) {
    if (!names.includes(name)) problems.push(`${file.path}: app setting ${name} (requiredInAzure) is not set`);
  }
  const identityCredentialNames = settingNames
    .filter((name) => name.endsWith('__blobServiceUri'))
    .map((name) => name.replace('__blobServiceUri', '__credential'));
  const known = new Set([...settingNames, ...PLATFORM_SETTINGS, ...identityCredentialNames]);
  for (const name of names) {
    if (!known.has(name)) problems.push(`${file.path}: app setting ${name} is not a known setting name`);
  }
  for (const connectionString of ['AzureWebJobsStorage', 'CI_EXPORT_STORAGE', 'STATE_STORAGE']) {
    if (names.includes(connectionString)) {
      problems.push(`${file.path}: ${connectionString} is a connection string; use the identity-based settings`);
    }
  }
  for (const name of names.filter((n) => n.endsWith('__credential'))) {
    if (stringLiteral(value(name)) !== 'managedidentity')
      problems.push(`${file.path}: ${name} must be 'managedidentity'`);
  }
  for (const name of names) {
    const text = value(name)?.text ?? '';
    if (/listKeys|listAccountSas|AccountKey=|SharedAccessSignature=/i.test(text)) {
      problems.push(`${file.path}: app setting ${name} holds a key or SAS`);
    }
  }
  const brazeKey = value('BRAZE_API_KEY');
  const brazeKeyReference = brazeKey?.type === 'string' ? brazeKey.text : '';
  if (!/^'@Microsoft\.KeyVault\(SecretUri=\$\{[^}]+\}\)'$/.test(brazeKeyReference)) {
    problems.push(
      `${file.path}: BRAZE_API_KEY must be '@Microsoft.KeyVault(SecretUri=\${...})', got ${brazeKey?.text}`,
    );
  }
  return problems;
}
