#!/usr/bin/env node
// `visitor` on PATH (npm link / npm install -g): load TypeScript through tsx, then run the CLI.
import { register } from 'tsx/esm/api';

register();
await import('./visitor.ts');
