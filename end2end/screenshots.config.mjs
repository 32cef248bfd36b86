// Takes the README's pictures (scripts/screenshots.sh): the same Chromium and server setup as
// the browser tests, another test folder.
import { defineConfig } from '@playwright/test';
import base from './playwright.config.mjs';

export default defineConfig({
  ...base,
  testDir: './screenshots',
  testMatch: '**/*.shot.mjs',
  timeout: 120_000,
});
