// Drives the real @aws/clickstream-web SDK in headless Chromium for
// tests/e2e/test_clickstream_sdk.py, and prints what the browser saw as one JSON document.
//
//   node drive_clickstream_sdk.mjs --page URL --endpoint URL --app-id ID --unknown-app-id ID
//                                  [--chromium /usr/bin/chromium] [--timeout-ms 60000]
//
// Two fresh browser contexts (no localStorage: a first visit each time):
//   1. "known": the page initialises the SDK with the registered appId (Immediate mode: one POST
//      per event), records the automatic _first_open/_session_start/_page_view, then setUserId,
//      setUserAttributes and two e-commerce events with items, value and currency.
//   2. "unknown": the same SDK with an appId the server does not know; its POSTs must fail.
// For each context: every POST to the endpoint (URL, body, status, response headers, the event
// types and ids in its body), the SDK's console output, navigator.userAgent. Exits non-zero only when the browser
// could not be driven at all; the Python test judges the results.
import { chromium } from 'playwright-core';

function parseArgs(argv) {
  const args = { chromium: '/usr/bin/chromium', timeoutMs: 60000 };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    args[key] = argv[i + 1];
  }
  for (const required of ['page', 'endpoint', 'appId', 'unknownAppId']) {
    if (!args[required]) throw new Error(`missing --${required}`);
  }
  args.timeoutMs = Number(args.timeoutMs);
  return args;
}

// Records every POST to the collector made by `page`, and whether any is still in flight.
function watchCollector(page, endpoint) {
  const seen = { posts: [], pending: 0, lastChange: Date.now() };
  const isCollect = (request) => request.method() === 'POST' && request.url().startsWith(endpoint);
  page.on('request', (request) => {
    if (!isCollect(request)) return;
    seen.pending += 1;
    seen.lastChange = Date.now();
  });
  const done = async (request, failure) => {
    if (!isCollect(request)) return;
    const entry = {
      url: request.url(),
      body: request.postData(),
      failure: failure ?? null,
      status: null,
      headers: {},
    };
    try {
      entry.event_types = JSON.parse(request.postData() ?? '[]').map((e) => e.event_type);
      entry.event_ids = JSON.parse(request.postData() ?? '[]').map((e) => e.event_id);
    } catch (e) {
      entry.event_types = [`<unparseable body: ${e}>`];
    }
    const response = failure ? null : await request.response();
    if (response) {
      entry.status = response.status();
      entry.headers = await response.allHeaders();
    }
    seen.posts.push(entry);
    seen.pending -= 1;
    seen.lastChange = Date.now();
  };
  page.on('requestfinished', (request) => done(request, null));
  page.on('requestfailed', (request) => done(request, request.failure()?.errorText ?? 'failed'));
  return seen;
}

// Waits until `condition()` holds and no POST has started or ended for `quietMs`.
async function settle(seen, condition, quietMs, deadline) {
  while (Date.now() < deadline) {
    if (condition() && seen.pending === 0 && Date.now() - seen.lastChange >= quietMs) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

async function runVisit(browser, args, appId, script, condition) {
  const context = await browser.newContext();  // fresh profile: empty localStorage and cookies
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => consoleLines.push(`pageerror: ${error}`));
  const seen = watchCollector(page, args.endpoint);
  await page.goto(args.page, { waitUntil: 'load' });
  const userAgent = await page.evaluate(() => navigator.userAgent);
  const initialised = await page.evaluate(script, { appId, endpoint: args.endpoint });
  const settled = await settle(seen, () => condition(seen), 1500, Date.now() + args.timeoutMs);
  await context.close();
  return { initialised, settled, user_agent: userAgent, posts: seen.posts, console: consoleLines };
}

// Runs in the page: a shop visit as a real site would instrument it.
function shopVisit({ appId, endpoint }) {
  const ok = ClickstreamAnalytics.init({
    appId,
    endpoint,
    sendMode: SendMode.Immediate,
    isLogEvents: true,
    isTrackPageViewEvents: true,
    isTrackClickEvents: false,
    isTrackScrollEvents: false,
    isTrackUserEngagementEvents: false,
    globalAttributes: { shop_version: 'e2e-1' },
  });
  ClickstreamAnalytics.setUserId('user-e2e-42');
  ClickstreamAnalytics.setUserAttributes({ tier: 'gold', age: 33 });
  ClickstreamAnalytics.record({
    name: 'add_to_cart',
    attributes: { [Attr.VALUE]: 59.9, [Attr.CURRENCY]: 'EUR', coupon: 'SPRING' },
    items: [
      { id: 'sku-42', name: 'Trail boots', price: 59.9, quantity: 1, category: 'shoes' },
      { id: 'sku-7', name: 'Socks', price: 4.5, quantity: 2 },
    ],
  });
  ClickstreamAnalytics.record({
    name: 'purchase',
    attributes: { [Attr.VALUE]: 68.9, [Attr.CURRENCY]: 'EUR', order_id: 'o-1001' },
    items: [
      { id: 'sku-42', name: 'Trail boots', price: 59.9, quantity: 1 },
      { id: 'sku-7', name: 'Socks', price: 4.5, quantity: 2 },
    ],
  });
  return ok;
}

function strangerVisit({ appId, endpoint }) {
  const ok = ClickstreamAnalytics.init({
    appId,
    endpoint,
    sendMode: SendMode.Immediate,
    isTrackPageViewEvents: false,
    isTrackClickEvents: false,
    isTrackScrollEvents: false,
    isTrackUserEngagementEvents: false,
  });
  ClickstreamAnalytics.record({ name: 'stranger_event', attributes: { x: 1 } });
  return ok;
}

const hasPurchase = (seen) =>
  seen.posts.some((p) => (p.event_types ?? []).includes('purchase'));
const hasStranger = (seen) =>
  seen.posts.filter((p) => (p.event_types ?? []).includes('stranger_event')).length >= 1;

async function main() {
  const args = parseArgs(process.argv);
  const browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    // Running as root in a container: Chromium's sandbox needs user namespaces it may not get.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  try {
    const known = await runVisit(browser, args, args.appId, shopVisit, hasPurchase);
    const unknown = await runVisit(browser, args, args.unknownAppId, strangerVisit, hasStranger);
    process.stdout.write(JSON.stringify({ known, unknown }) + '\n');
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stderr.write(`drive_clickstream_sdk: ${error.stack ?? error}\n`);
  process.exit(1);
});
