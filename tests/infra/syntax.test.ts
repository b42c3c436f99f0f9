import type { Parser } from 'web-tree-sitter';
import { createBicepParser, listBicepFiles, loadInfra, parseBicep, syntaxProblems } from './bicep';

let parser: Parser;

beforeAll(async () => {
  parser = await createBicepParser();
});

afterAll(() => parser.delete());

describe('Bicep syntax', () => {
  it('finds the templates: main, app, rbac, keyvault, monitoring, storage, network', () => {
    const files = listBicepFiles().map((file) => file.replace(/\\/g, '/').replace(/^.*\/infra\//, ''));
    expect(files).toEqual(
      expect.arrayContaining([
        'main.bicep',
        'app/api.bicep',
        'rbac/app.bicep',
        'rbac/ciExportReader.bicep',
        'keyvault.bicep',
        'monitoring.bicep',
        'storage.bicep',
        'network.bicep',
      ]),
    );
  });

  it('parses every .bicep file under infra/ without ERROR or MISSING nodes', () => {
    const files = loadInfra(parser);
    expect(files.length).toBeGreaterThanOrEqual(7);
    expect(files.flatMap(syntaxProblems)).toEqual([]);
  });

  it('reports file, line and column of a broken snippet', () => {
    const broken = [
      "resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {",
      '  name: kvName',
      '  properties: {',
      '    enableRbacAuthorization: = true',
      '  }',
      '',
    ].join('\n');
    const problems = syntaxProblems(parseBicep(parser, 'infra/broken.bicep', broken));
    expect(problems).toContainEqual(expect.stringMatching(/^infra\/broken\.bicep:4:30: syntax error near "="/));
  });

  it('reports a missing closing brace as a MISSING node', () => {
    const unclosed = 'param name string\nvar settings = {\n  a: name\n';
    const problems = syntaxProblems(parseBicep(parser, 'infra/unclosed.bicep', unclosed));
    expect(problems.some((problem) => /^infra\/unclosed\.bicep:\d+:\d+: missing /.test(problem))).toBe(true);
  });
});
