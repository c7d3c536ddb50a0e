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
  // The runtimes run inside users' apps. The generator may read their contract (runtime/*.ts: the
  // standard's tables, the settings a generated preload passes, the debug token) and nothing else
  // of them; a runtime imports nothing of the generator, and the Node runtime nothing outside
  // runtime/. Options of one rule do not merge across blocks, so each file matches one block.
  {
    files: ['generator/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)runtime/(?!(standard|contract|debug-token)\\.ts$)',
              message: 'the generator reads only the runtime contract (runtime/*.ts), not a runtime',
            },
          ],
        },
      ],
    },
  },
  {
    // The lowest layer: the Model and the facts every layer reads import nothing above them, so a
    // fact has one home and no layer circle can form through it.
    files: ['generator/model/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./(?!\\.\\./runtime/(standard|contract|debug-token)\\.ts$)',
              message:
                'generator/model/ is the lowest layer: it imports nothing above it (the runtime contract aside)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['runtime/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^\\.\\./', message: 'the runtime contract imports nothing outside runtime/' },
            { regex: '^otelkit(/|$)', message: 'the runtime contract imports nothing of the package' },
          ],
        },
      ],
    },
  },
  {
    files: ['runtime/node/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(\\.\\./){2}', message: 'the Node runtime imports only runtime/ modules' },
            {
              regex: '^otelkit(/|$)',
              message: 'the Node runtime imports nothing of the package (its generator)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['runtime/node/*/*.ts'],
    // folders by concern are one level deep: three levels up leaves runtime/
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(\\.\\./){3}', message: 'the Node runtime imports only runtime/ modules' },
            {
              regex: '^otelkit(/|$)',
              message: 'the Node runtime imports nothing of the package (its generator)',
            },
          ],
        },
      ],
    },
  },
);
