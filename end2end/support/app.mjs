// Helpers shared by the browser tests.
import { expect } from '@playwright/test';

export function url(path = '/') {
  const base = process.env.E2E_BASE_URL;
  if (!base) throw new Error('E2E_BASE_URL is not set: the global setup did not run');
  return base + path;
}

/** Collects console errors and uncaught exceptions of a page. */
export function watchErrors(page) {
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return errors;
}

/** Opens the Todos page and waits until it is hydrated and its event stream is open. */
export async function openTodos(page) {
  await page.goto(url('/'));
  await expect(page.locator('.app')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('.live')).toHaveAttribute('data-state', 'open');
}

export function row(page, title) {
  return page.locator('li.todo', { hasText: title });
}

export async function addTodo(page, title) {
  await page.getByLabel('New todo').fill(title);
  await page.getByRole('button', { name: 'Add' }).click();
}

export function unique(prefix) {
  return `${prefix} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
