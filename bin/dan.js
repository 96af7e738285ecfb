#!/usr/bin/env node
// The `dan` command: gateway | node | sandbox | start | demo. Built from src/cli/ by `npm run build`.
import('../dist/cli/main.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli/main.js')) {
    console.error('dan: not built yet; run `npm run build` (npm install does it for you via "prepare").');
    process.exit(1);
  }
  throw error;
});
