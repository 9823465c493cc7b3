#!/usr/bin/env node
'use strict';
// Thin entry point (Jest-style): all logic lives in src/cli.
require('../dist/cli/main.js');
