/**
 * Preloaded with `--require` by tests that need an installed package to look absent:
 * HIDE_MODULES=a,b makes every require / require.resolve of `a`, `b` (and their files) fail as
 * if they were not installed (MODULE_NOT_FOUND). Plain JavaScript: mocha may load it before tsx.
 */
'use strict';
const Module = require('module');

const hidden = (process.env.HIDE_MODULES || '').split(',').filter(Boolean);
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (hidden.some((h) => request === h || request.startsWith(`${h}/`))) {
    const e = new Error(`Cannot find module '${request}' (hidden by HIDE_MODULES)`);
    e.code = 'MODULE_NOT_FOUND';
    throw e;
  }
  return resolve.call(this, request, ...rest);
};
