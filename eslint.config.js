// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'docs/api/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // Typed lint: every call that can switch threads returns a promise. A missing await (or a
    // promise used as a condition: `if (rw.downReadTrylock())`) compiles and is wrong at run time.
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    // The model must never read real time or randomness: replays would diverge.
    files: [
      'src/sim/**/*.ts',
      'src/lib/**/*.ts',
      'src/mm/**/*.ts',
      'src/notifier/**/*.ts',
      'src/hmm/**/*.ts',
      'src/drivers/**/*.ts',
      'src/check/**/*.ts',
      'src/explore/**/*.ts',
    ],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'use the simulation PRNG (sim.random)' },
        { object: 'Date', property: 'now', message: 'use virtual time (sim.now())' },
        { object: 'performance', property: 'now', message: 'use virtual time (sim.now())' },
      ],
    },
  },
);
