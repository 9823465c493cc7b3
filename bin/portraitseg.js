#!/usr/bin/env node
'use strict';
// Thin entry point: all logic lives in src/cli. Runs the build (dist/) when there is one, else
// the TypeScript sources through tsx (a fresh clone before `npm run build`).
const fs = require('fs');
const path = require('path');
const built = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (fs.existsSync(built)) {
  require(built);
} else {
  require('tsx/cjs');
  require(path.join(__dirname, '..', 'src', 'cli', 'main.ts'));
}
