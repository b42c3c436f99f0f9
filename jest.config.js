/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  // Type errors are caught by `npm run typecheck`; ts-jest only transpiles, which keeps the suite fast.
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true, isolatedModules: true }, diagnostics: false }],
  },
  // p-retry and its dependency ship ESM only.
  transformIgnorePatterns: ['/node_modules/(?!(p-retry|is-network-error)/)'],
  testTimeout: 120000,
  maxWorkers: 2,
};
