// Sign-in and private data: My notes, in two users' browsers, and forged cookies.
import { test, expect } from '@playwright/test';
import { url, watchErrors, signIn, unique, recordRawStream, streamStart } from '../support/app.mjs';

function note(page, text) {
  return page.locator('li.note', { hasText: text });
}

async function addNote(page, text) {
  await page.getByLabel('New note').fill(text);
  await page.getByRole('button', { name: 'Add note' }).click();
}

test('each user sees only their notes; a change reaches the same user\'s other tab and never another user', async ({ browser }) => {
  const ada = unique('ada').replace(' ', '-');
  const bob = unique('bob').replace(' ', '-');
  const adaContext = await browser.newContext();
  const bobContext = await browser.newContext();
  const ada1 = await adaContext.newPage();
  const bob1 = await bobContext.newPage();
  const errors = [watchErrors(ada1), watchErrors(bob1)];
  await signIn(ada1, ada);
  await signIn(bob1, bob);
  // Ada's second tab, in the same browser: signed in by the same cookie.
  const ada2 = await adaContext.newPage();
  errors.push(watchErrors(ada2));
  await ada2.goto(url('/notes'));
  await expect(ada2.locator(`.user[data-user="${ada}"]`)).toBeVisible();
  await expect(ada2.locator('.live')).toHaveAttribute('data-state', 'open');

  // The raw event streams of both users, beside the pages' own.
  const adaRaw = await recordRawStream(ada2);
  const bobRaw = await recordRawStream(bob1);

  const secret = unique('Ada\'s secret');
  await addNote(ada1, secret);
  await expect(note(ada1, secret)).toBeVisible();
  await expect(note(ada2, secret)).toBeVisible({ timeout: 2_000 });

  // Edit in the second tab: the first shows it.
  const edited = unique('Ada\'s edited secret');
  await note(ada2, secret).getByRole('button', { name: 'Edit' }).click();
  await ada2.getByLabel('Edit note').fill(edited);
  await ada2.getByRole('button', { name: 'Save' }).click();
  await expect(note(ada1, edited)).toBeVisible({ timeout: 2_000 });

  // Bob writes his own note; Ada never sees it.
  const bobs = unique('Bob\'s note');
  await addNote(bob1, bobs);
  await expect(note(bob1, bobs)).toBeVisible();

  // Delete in the first tab: the second loses it.
  await note(ada1, edited).getByRole('button', { name: 'Delete' }).click();
  await expect(note(ada2, edited)).toHaveCount(0, { timeout: 2_000 });

  // Ada's stream carried her three note events; Bob's carried none of hers (his own add only).
  const notesEvents = (frames) => frames.filter((f) => f.event === 'invalidate' && f.data.includes('"notes"'));
  await expect.poll(async () => notesEvents(await adaRaw()).length).toBe(3);
  const adaScope = JSON.parse(notesEvents(await adaRaw())[0].data).scope;
  expect(adaScope).toMatch(/^user:\d+$/);
  const bobFrames = notesEvents(await bobRaw());
  expect(bobFrames.length).toBe(1);
  expect(JSON.parse(bobFrames[0].data).scope).not.toBe(adaScope);
  expect(notesEvents(await adaRaw()).every((f) => JSON.parse(f.data).scope === adaScope)).toBe(true);

  // Neither page, nor a fresh render for Bob, shows the other's notes.
  await expect(note(bob1, secret)).toHaveCount(0);
  await expect(note(ada1, bobs)).toHaveCount(0);
  await bob1.reload();
  await expect(note(bob1, bobs)).toBeVisible();
  expect(await bob1.content()).not.toContain('Ada');

  for (const list of errors) expect(list).toEqual([]);
  await adaContext.close();
  await bobContext.close();
});

test('a forged or altered cookie is signed out: only the global scope, no private data', async ({ browser, request }) => {
  const ada = unique('ada').replace(' ', '-');
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, ada);
  const secret = unique('Forgery target');
  await addNote(page, secret);
  await expect(note(page, secret)).toBeVisible();
  const me = await (await request.post(url('/api/current_user'), {
    headers: { cookie: (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ') },
  })).json();
  expect(me.name).toBe(ada);
  const real = (await context.cookies()).find((c) => c.name === 'qt_session');
  expect(real, 'the session cookie is set').toBeTruthy();
  expect(real.httpOnly).toBe(true);
  expect(real.value).not.toContain(ada);
  const realCookie = `qt_session=${real.value}`;
  const userScope = `user:${me.id}`;

  // The genuine cookie: Ada's notes and Ada's scope (the control).
  const genuine = await request.post(url('/api/list_notes'), { headers: { cookie: realCookie } });
  expect(genuine.status()).toBe(200);
  expect(await genuine.text()).toContain(secret);
  const genuineStream = await streamStart(realCookie, `?scope=${userScope}`);
  expect(genuineStream.status).toBe(200);
  const anonymous = await streamStart(null);
  const identity = (text) => JSON.parse(text.split('\n').find((l) => l.startsWith('data: ')).slice(6)).identity;
  expect(identity(genuineStream.text)).not.toBe(identity(anonymous.text));

  // Anything that can be made without the key.
  const flip = (value, i) => value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
  const forged = [
    `demo_user=${ada}`,
    `qt_session=${JSON.stringify({ user_id: me.id, name: ada })}`,
    `qt_session=${flip(real.value, 5)}`,
    `qt_session=${flip(real.value, real.value.length - 3)}`,
    `qt_session=${real.value.slice(0, -4)}`,
    `qt_session=${Buffer.from('x'.repeat(60)).toString('base64')}`,
  ];
  for (const cookie of forged) {
    const notes = await request.post(url('/api/list_notes'), { headers: { cookie } });
    expect(notes.status(), cookie).toBe(401);
    expect(await notes.text()).not.toContain(secret);
    const who = await request.post(url('/api/current_user'), { headers: { cookie } });
    expect(await who.json(), cookie).toBeNull();
    const add = await request.post(url('/api/add_note'), { headers: { cookie }, form: { body: 'forged' } });
    expect(add.status(), cookie).toBe(401);
    // The stream: Ada's scope is refused, and the default stream is the anonymous one.
    const scoped = await streamStart(cookie, `?scope=${userScope}`);
    expect(scoped.status, cookie).toBe(403);
    expect(scoped.text).toContain('forbidden_scope');
    expect(identity((await streamStart(cookie)).text), cookie).toBe(identity(anonymous.text));
    // The server-rendered page: signed out.
    const html = await (await request.get(url('/notes'), { headers: { cookie } })).text();
    expect(html).toContain('Your name');
    expect(html).not.toContain(secret);
  }

  // Signing out clears the cookie.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.locator('a.user-menu', { hasText: 'Sign in' })).toBeVisible();
  expect((await context.cookies()).find((c) => c.name === 'qt_session')).toBeUndefined();
  await context.close();
});
