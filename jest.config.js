/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  testTimeout: 30000,
  setupFiles: ['<rootDir>/test/support/no-token-stack-traces.ts'],
  globalSetup: '<rootDir>/test/temp-root-setup.ts',
  globalTeardown: '<rootDir>/test/temp-root-teardown.cjs',
  // More workers than this machine's two cores: many suites wait on child processes, sockets and real deadlines
  // rather than compute, and a third worker keeps a core busy meanwhile (docs/testing.md).
  maxWorkers: 3,
};
