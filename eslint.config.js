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
    // Garbage: V8's parser marks a function literal assigned straight to a property
    // (`o.f = () => ...`, `o[k] = function ...`, `o.f ??= ...`) for allocation in the old
    // generation, taking it for a method being installed on a prototype (interpreted and baseline
    // code honour the mark; optimized code only sometimes, so it comes and goes with tiering and
    // inlining). Done once per run, such a closure sits in old space pointing at the run's young
    // objects, so every scavenge keeps the whole finished world alive and then promotes it, and
    // only a mark-compact frees it (on gpusvm-mirror: 40 KB per run surviving each scavenge; see
    // test/sim/scavenge-survival.test.ts). Name the function first, or build it in an object literal.
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "AssignmentExpression[left.type='MemberExpression'][left.object.property.name!='prototype']" +
            ':matches([right.type=/^(Arrow)?FunctionExpression$/], [right.expression.type=/^(Arrow)?FunctionExpression$/])',
          message:
            'a function literal assigned to a property is allocated in V8 old space and keeps its run alive ' +
            'through scavenges: name it first (const f = ...; o.f = f) or create it in an object literal',
        },
      ],
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
