export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' } }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // real-tool tests build and start things; the default 5 s is far too short for them
  testTimeout: 120000,
};
