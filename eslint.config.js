import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'grafana/', 'preload/', 'k8s/', 'test/golden/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // The runtimes run inside users' apps: they import nothing of the generator (the generator
    // may read their contract, generator/runtime/standard.ts, not the other way round).
    files: ['generator/runtime/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./\\.\\./',
              message: 'a runtime imports only runtime modules (shared facts: generator/runtime/standard.ts)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['generator/runtime/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ regex: '^\\.\\./', message: 'the runtime contract imports nothing of the generator' }],
        },
      ],
    },
  },
);
