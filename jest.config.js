/**
 * Three projects, chosen by what a test file starts (docs: README.md, "Tests"):
 * - unit: nothing (no Azurite, no sandbox server, no child process); `npm run test:unit`, under a minute.
 * - system: the product as a whole or its edges (chaos, crash and kill, security, the CLI as a child process,
 *   reports in Chromium, the package).
 * - integration: everything else (Azurite and/or the Braze sandbox). A new test file lands here unless listed
 *   below, so a file that starts something never slips into the fast project.
 * `npm test` runs all three.
 */
const UNIT = [
  'bench/args',
  'braze/endpoint',
  'braze/rateLimit',
  'check/ncrontab',
  'cli/args',
  'cli/progressFinished',
  'cli/runsTable',
  'config/columnTypesAndCase',
  'config/configurationDocs',
  'config/exportConfig',
  'config/exportConfigSchema',
  'config/settings',
  'errors/errors',
  'errors/redaction',
  'identity/email',
  'identity/snapshot',
  'infra/structure',
  'infra/syntax',
  'mapping/profileMapper',
  'report/metrics',
  'run-service/settingsErrors',
  'run/durableProgress',
  'run/userMerge',
  'source/bareColumns',
  'source/dataTypes',
  'source/fastCsv',
  'state/diff',
  'state/fingerprint',
  'state/mappingChange',
  'state/rawPlanning',
  'state/snapshot',
];

const SYSTEM = [
  'chaos/badInput',
  'chaos/faults',
  'cli/cli',
  'cli/entryPoints',
  'cli/operatorMessages',
  'config/checkCli',
  'identity/crash',
  'local/localCommand',
  'package/package',
  'report/reportStates',
  'run-service/cliExitCodes',
  'run-service/cliRecovery',
  'run-service/crash',
  'security/brazeErrorTexts',
  'security/endpoint',
  'security/httpApi',
  'security/secrets',
];

const files = (names) => names.map((name) => `**/tests/${name}.test.ts`);
// Path patterns are regular expressions matched against the absolute path.
const patterns = (names) => names.map((name) => `/tests/${name.replace(/[.-]/g, '\\$&')}\\.test\\.ts$`);

const common = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  // Type errors are caught by `npm run typecheck`; ts-jest only transpiles, which keeps the suite fast.
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true }, diagnostics: false }],
  },
  // p-retry and its dependency ship ESM only.
  transformIgnorePatterns: ['/node_modules/(?!(p-retry|is-network-error)/)'],
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: files(UNIT) },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', ...patterns(UNIT), ...patterns(SYSTEM)],
    },
    { ...common, displayName: 'system', testMatch: files(SYSTEM) },
  ],
  // Progress on stderr between the default reporter's lines, so that long runs have no silent stretches.
  reporters: ['default', '<rootDir>/tests/helpers/progressReporter.js'],
  testTimeout: 120000,
  maxWorkers: 2,
};
