// The browser test of examples/minimal: the same Chromium settings as the demo's tests, the
// example's server (built by `cargo leptos build` in examples/minimal) instead of the demo's.
import { defineConfig } from '@playwright/test';
import base from './playwright.config.mjs';

export default defineConfig({
  ...base,
  testDir: './minimal',
  globalSetup: './support/minimal-setup.mjs',
});
