// Drives the gatewayd web page in headless Chromium: first-visit password, login, an account's
// credentials, a port's country, an invalid value and its message; a screenshot of every page.
// usage: node web.mjs BASE_URL SCREENSHOT_DIR PROFILE_DIR
import { chromium } from 'playwright-core';

const [base, shots, profile] = process.argv.slice(2);
const step = m => console.log('step: ' + m);

const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = ctx.pages()[0] || await ctx.newPage();
page.on('dialog', d => d.accept());
page.on('pageerror', e => { console.error('page error: ' + e); process.exitCode = 1; });
const shot = name => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
// Selector-engine waits (the page's CSP forbids evaluated strings, as it should).
const expectText = (sel, text) => page.locator(sel).filter({ hasText: text }).first().waitFor({ timeout: 10000 });

try {
  await page.goto(base);
  await page.waitForSelector('#auth:not([hidden])');
  await expectText('#auth-title', 'Welcome');
  await shot('01-first-visit');
  step('first visit asks for a password');

  await page.fill('#auth-password', 'short');
  await page.fill('#auth-confirm', 'short');
  await page.click('#auth-submit');
  await expectText('[data-error-for=password]', 'at least 8');
  await page.fill('#auth-password', 'browser-pass-1');
  await page.fill('#auth-confirm', 'browser-pass-1');
  await page.click('#auth-submit');
  await page.waitForSelector('#app:not([hidden])');
  step('password set');

  await page.click('#logout');
  await page.waitForSelector('#auth:not([hidden])');
  await page.fill('#auth-password', 'wrong-password');
  await page.click('#auth-submit');
  await expectText('#auth-error', 'wrong password');
  await shot('02-login');
  await page.fill('#auth-password', 'browser-pass-1');
  await page.click('#auth-submit');
  await page.waitForSelector('#st-ports tr');
  await expectText('#st-gateway', 'sim-test');
  await shot('03-status');
  step('logged in, status shown');

  await page.click('nav a[data-page=accounts]');
  await page.click('#add-account');
  await page.fill('[data-path="account[0].name"]', 'provider');
  await page.fill('[data-path="account[0].user"]', '1001');
  await page.fill('[data-path="account[0].domain"]', '127.0.0.1');
  await page.fill('[data-path="account[0].password"]', 'sip-secret-1');
  await page.click('#accounts-save');
  await expectText('#accounts-msg', 'Saved');
  await page.fill('[data-path="account[0].auth_user"]', '1001a');
  await page.fill('[data-path="account[0].password"]', 'sip-secret-2');
  await page.click('#accounts-save');
  await expectText('#accounts-msg', 'Saved');
  await shot('04-accounts');
  step('account credentials changed');

  await page.click('nav a[data-page=ports]');
  await page.selectOption('[data-path="port[0].account"]', 'provider');
  await page.selectOption('[data-path="port[0].country"]', 'DE');
  await page.click('#ports-save');
  await expectText('#ports-msg', 'Saved');
  step('port 0 country set to DE');

  await page.fill('[data-path="port[1].hook_flash_max_ms"]', '9000');
  await page.click('#ports-save');
  await expectText('[data-error-for="port[1].hook_flash_max_ms"]', 'must not exceed 2000 ms');
  await expectText('#ports-msg', 'Not saved');
  await page.fill('[data-path="port[1].ptime_ms"]', 'twenty');
  await page.locator('[data-path="port[1].ptime_ms"]').dispatchEvent('change');
  await expectText('[data-error-for="port[1].ptime_ms"]', 'invalid type');
  await shot('05-ports-invalid');
  step('invalid values shown next to their fields');
  await page.locator('#page-ports button', { hasText: 'Discard changes' }).click();

  await page.click('nav a[data-page=network]');
  await page.waitForSelector('[data-path="nat.stun_server"]');
  await shot('06-network');
  await page.click('nav a[data-page=system]');
  await page.waitForSelector('[data-path="log.level"]');
  await shot('07-system');
  await page.click('nav a[data-page=logs]');
  await expectText('#log-lines', 'configuration changed');
  await shot('08-logs');
  await page.click('nav a[data-page=status]');
  await expectText('#st-ports', 'DE');
  await expectText('#st-accounts', 'provider');
  await shot('09-status-after');
  step('done');
} catch (e) {
  await shot('failure').catch(() => {});
  console.error('FAILED: ' + e.message);
  process.exitCode = 1;
} finally {
  await ctx.close();
}
