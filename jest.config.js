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
  // Jest's default on 2 cores is one worker; most suites wait on child processes and sockets, not CPU.
  maxWorkers: 2,
};
