// The browser test of examples/spa: the same Chromium settings as the demo's tests, the SPA's
// REST backend (built by examples/spa/build.sh) instead of the demo server.
import { defineConfig } from '@playwright/test';
import base from './playwright.config.mjs';

export default defineConfig({
  ...base,
  testDir: './spa',
  globalSetup: './support/spa-setup.mjs',
});
