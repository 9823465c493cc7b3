#!/usr/bin/env node
'use strict';
// Thin entry point: all logic lives in src/cli. In a checkout (src/ and the tsx dev dependency
// present) it runs the TypeScript sources, so a dist/ left by `npm run build` or `npm pack`
// never shadows later edits; the published package (no src/) runs its build, dist/.
const fs = require('fs');
const path = require('path');
const source = path.join(__dirname, '..', 'src', 'cli', 'main.ts');
let tsx = null;
if (fs.existsSync(source)) {
  try {
    tsx = require.resolve('tsx/cjs');
  } catch {
    // a checkout installed without dev dependencies: fall back to dist/
  }
}
if (tsx) {
  require(tsx);
  require(source);
} else {
  const built = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
  if (!fs.existsSync(built)) {
    process.stderr.write(`portraitseg: error: ${built} is missing; run npm run build (or npm install, to get tsx)\n`);
    process.exit(2);
  }
  require(built);
}
