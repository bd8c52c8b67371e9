#!/usr/bin/env node
// `visitor` on PATH (npm link / npm install -g): the CLI as `npm run build` compiled it into dist/.
try {
  await import('../dist/bin/visitor.js');
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist/bin/visitor.js')) throw err;
  process.stderr.write('visitor: the CLI is not built yet; run `npm run build` in the package directory first\n');
  process.exitCode = 2;
}
