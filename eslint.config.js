// Lint rules are machines' work: typescript-eslint's recommended set (syntax only, so it stays
// fast), plus the house's few hard rules. Formatting is prettier's (see .prettierrc.json).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test-results/', 'bench/results/', 'data/', 'scratch/', 'src/web/t.min.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        URLSearchParams: 'readonly',
        fetch: 'readonly',
        AbortSignal: 'readonly',
        TextDecoder: 'readonly',
        TextEncoder: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
        performance: 'readonly',
        SharedArrayBuffer: 'readonly',
        Atomics: 'readonly',
        WebSocket: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // The service logs through pino only; tests, the bench and the CLI's own output may print.
      'no-console': 'error',
      // Control characters in patterns are the point where they appear: input is cleaned of them.
      'no-control-regex': 'off',
    },
  },
  { files: ['test/**', 'bench/**', 'bin/**', 'src/cli/**'], rules: { 'no-console': 'off' } },
  // The browser side: the snippet and the operator page run in a page, not in Node.
  {
    files: ['src/web/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        window: 'readonly',
        document: 'readonly',
        navigator: 'readonly',
        location: 'readonly',
        localStorage: 'readonly',
        sessionStorage: 'readonly',
        history: 'readonly',
        uPlot: 'readonly',
        requestAnimationFrame: 'readonly',
        getComputedStyle: 'readonly',
        Intl: 'readonly',
        ResizeObserver: 'readonly',
        MutationObserver: 'readonly',
        CustomEvent: 'readonly',
        Event: 'readonly',
        Blob: 'readonly',
        XMLHttpRequest: 'readonly',
        Image: 'readonly',
        Node: 'readonly',
      },
    },
  },
  // The snippet is written for its gzip size: short-circuit calls and empty catches are deliberate.
  { files: ['src/web/t.js'], rules: { 'no-empty': 'off', '@typescript-eslint/no-unused-expressions': 'off', 'no-prototype-builtins': 'off' } },
);
