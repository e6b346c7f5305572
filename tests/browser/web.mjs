// Drives the gatewayd web page in headless Chromium: first-visit password, login, the status
// page's registration, an account's credentials (the gateway re-registers as another
// subscriber), a port's country (then a virtual phone listens to the dial tone), an invalid value
// and its message, the restart button (settings kept); a screenshot of every page.
// usage: node web.mjs BASE_URL SCREENSHOT_DIR PROFILE_DIR
// It talks with the test on stdio: `step: ...` lines report progress; `need: WHAT [ARG]` asks the
// test to act and waits for its answer line on stdin.
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [base, shots, profile] = process.argv.slice(2);
const step = m => console.log('step: ' + m);
const answers = [];
let waiter = null;
createInterface({ input: process.stdin }).on('line', l => {
  if (waiter) { const w = waiter; waiter = null; w(l); } else answers.push(l);
});
const need = (what) => {
  console.log('need: ' + what);
  return answers.length ? Promise.resolve(answers.shift()) : new Promise(r => { waiter = r; });
};

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
const expectText = (sel, text, timeout = 10000) =>
  page.locator(sel).filter({ hasText: text }).first().waitFor({ timeout });
const login = async pw => {
  await page.waitForSelector('#auth:not([hidden])', { timeout: 30000 });
  await page.fill('#auth-password', pw);
  await page.click('#auth-submit');
  await page.waitForSelector('#app:not([hidden])');
  await page.click('nav a[data-page=status]');
  await page.waitForSelector('#st-ports tr');
};

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
  await login('browser-pass-1');
  await expectText('#st-gateway', 'sim-test');
  await expectText('#st-accounts tr', /provider.*registered.*sip:1001@/);
  await shot('03-status');
  step('logged in, status shows provider registered as 1001');

  // Other credentials (another subscriber of the registrar): applied without a restart.
  await page.click('nav a[data-page=accounts]');
  await page.fill('[data-path="account[0].user"]', '1002');
  await page.fill('[data-path="account[0].password"]', 'secret-1002');
  await page.click('#accounts-save');
  await expectText('#accounts-msg', 'Saved');
  await shot('04-accounts');
  step('account credentials changed');
  await page.click('nav a[data-page=status]');
  // The page refreshes by itself every 2 s.
  await expectText('#st-accounts tr', /provider.*registered.*sip:1002@/, 15000);
  await shot('05-status-reregistered');
  step('status shows provider registered as 1002');

  await page.click('nav a[data-page=ports]');
  await page.selectOption('[data-path="port[0].country"]', 'GB');
  await page.click('#ports-save');
  await expectText('#ports-msg', 'Saved');
  step('port 0 country set to GB');

  await page.fill('[data-path="port[1].hook_flash_max_ms"]', '9000');
  await page.click('#ports-save');
  await expectText('[data-error-for="port[1].hook_flash_max_ms"]', 'must not exceed 2000 ms');
  await expectText('#ports-msg', 'Not saved');
  await page.fill('[data-path="port[1].ptime_ms"]', 'twenty');
  await page.locator('[data-path="port[1].ptime_ms"]').dispatchEvent('change');
  await expectText('[data-error-for="port[1].ptime_ms"]', 'invalid type');
  await shot('06-ports-invalid');
  step('invalid values shown next to their fields');
  await page.locator('#page-ports button', { hasText: 'Discard changes' }).click();

  // Port settings apply live to idle ports: a virtual phone on port 0, at the address the
  // status page gives, hears the new country's dial tone without a restart.
  await page.click('nav a[data-page=status]');
  await expectText('#st-ports tr', /GB/);
  const addr = await page.locator('#st-ports tr').first().locator('[data-sim-addr]').getAttribute('data-sim-addr');
  if (!addr) throw new Error('no simulated line address on the status page');
  await need('phone ' + addr);
  await expectText('#st-ports tr', 'off-hook');
  await shot('07-status-off-hook');
  step('status shows port 0 off-hook');
  await need('listened');
  await expectText('#st-ports tr', 'on-hook');

  // The gateway out of reach (a restart, the link down): the status page says so and keeps
  // trying; no script error; it picks up again when the gateway answers.
  await ctx.setOffline(true);
  await expectText('#st-refresh', 'No answer from the gateway');
  await ctx.setOffline(false);
  await expectText('#st-refresh', 'Updated');
  step('status page rides out the gateway not answering');

  // The restart keeps the page where it is: the listen address becomes the one in use.
  await page.click('nav a[data-page=network]');
  await page.waitForSelector('[data-path="nat.stun_server"]');
  await page.fill('[data-path="web.listen"]', new URL(base).host);
  await page.click('#network-save');
  await expectText('#network-msg', 'Saved');
  await shot('08-network');
  await page.click('nav a[data-page=system]');
  await page.waitForSelector('[data-path="log.level"]');
  await shot('09-system');
  await page.click('#restart');
  await expectText('#power-msg', 'Restarting');
  step('restart requested');
  await login('browser-pass-1');
  await expectText('#st-ports tr', /GB/);
  await expectText('#st-accounts tr', /provider.*registered.*sip:1002@/, 15000);
  step('after the restart: logged in again, settings kept, registered as 1002');

  await page.click('nav a[data-page=logs]');
  // The log kept since the restart: registration and the login.
  await expectText('#log-lines', 'account provider registered');
  await expectText('#log-lines', 'web: login');
  await shot('10-logs');
  await page.click('nav a[data-page=status]');
  await shot('11-status-after');
  step('done');
} catch (e) {
  await shot('failure').catch(() => {});
  console.error('FAILED: ' + e.message);
  process.exitCode = 1;
} finally {
  await ctx.close();
  process.stdin.destroy();
}
