// probe.mjs — loads an extmatrix HTML report in Debian's headless chromium
// and prints ONE JSON object of what it saw, for
// crates/extmatrix/tests/e2e/html_report.rs to assert on (the assertions
// live there, beside the JSON report they compare with).
//
// Usage: node probe.mjs PAGE.html [--fragment F] [--counts] [--findings]
//   [--shown] [--toggle R:F] [--click-cell R:C] [--keys K1,K2,...] [--axe]
//   [--paint] [--screenshot PNG] [--screenshot-end PNG] [--print]
// --screenshot is taken as the page loads, --screenshot-end after the
// actions (a finding highlighted, a cell's details open).
// Always reported: every request but the page itself and data: URLs
// (`requests`: anything there is a network fetch), console errors and
// uncaught page errors. The actions run in the order above.
import { chromium } from 'playwright-core';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const CHROMIUM = process.env.EXTMATRIX_CHROMIUM || '/usr/bin/chromium';
const AXE = fileURLToPath(new URL('./node_modules/axe-core/axe.min.js', import.meta.url));

function parseArgs(argv) {
  const opts = { page: null, fragment: '' };
  const valued = ['--fragment', '--toggle', '--click-cell', '--keys', '--screenshot', '--screenshot-end'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (valued.includes(a)) opts[camel(a)] = argv[++i];
    else if (a.startsWith('--')) opts[camel(a)] = true;
    else opts.page = a;
  }
  if (!opts.page) throw new Error('usage: probe.mjs PAGE.html [flags]');
  return opts;
}

function camel(flag) {
  return flag.slice(2).replace(/-(.)/g, (_, c) => c.toUpperCase());
}

// Listeners first: a fetch made while the page loads counts too.
function watch(page, pageUrl, facts) {
  page.on('request', (req) => {
    const url = req.url();
    if (url !== pageUrl && !url.startsWith('data:')) facts.requests.push(url);
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') facts.console_errors.push(msg.text());
  });
  page.on('pageerror', (err) => facts.page_errors.push(String(err)));
}

// The paint entry is queued with the first frame, which headless chromium
// may produce after `load`: wait for it (buffered) rather than read too early.
async function paint(page) {
  return page.evaluate(() => new Promise((resolve) => {
    const nav = performance.getEntriesByType('navigation')[0];
    const done = (fcp) => resolve({
      first_contentful_paint_ms: fcp ? fcp.startTime : null,
      dom_content_loaded_ms: nav ? nav.domContentLoadedEventEnd : null,
    });
    new PerformanceObserver((list) => {
      const fcp = list.getEntriesByName('first-contentful-paint')[0];
      if (fcp) done(fcp);
    }).observe({ type: 'paint', buffered: true });
    setTimeout(() => done(null), 5000);
  }));
}

async function counts(page) {
  return page.evaluate(() => ({
    counts: Object.fromEntries(
      [...document.querySelectorAll('#counts li[data-outcome]')].map((li) => [
        li.dataset.outcome,
        Number(li.querySelector('.n')?.textContent.trim()),
      ]),
    ),
    total: Number(document.querySelector('#total')?.dataset.total),
    cells: document.querySelectorAll('#grid td.cell').length,
    report_bodies: [...document.querySelectorAll('#grid tbody[data-report]')].map((b) => b.dataset.report),
  }));
}

async function findings(page) {
  return page.$$eval('#findings li.finding', (lis) =>
    lis.map((li) => ({
      id: li.dataset.finding,
      title: li.querySelector('button.finding-toggle')?.textContent.replace(/\s+/g, ' ').trim() ?? null,
    })),
  );
}

async function shown(page) {
  return page.$$eval('#grid td.cell', (tds) =>
    tds.filter((td) => td.checkVisibility({ visibilityProperty: true })).map((td) => td.dataset.cell),
  );
}

async function toggle(page, id) {
  const button = page.locator(`#findings li.finding[data-finding="${id}"] button.finding-toggle`);
  const state = async () => ({
    pressed: await button.getAttribute('aria-pressed'),
    highlighted: await page.$$eval('#grid td.cell.hl', (tds) => tds.map((td) => td.dataset.cell)),
  });
  await button.click();
  const on = await state();
  await button.click();
  return { on, off: await state() };
}

async function details(page) {
  return page.evaluate(() => {
    const aside = document.querySelector('#details');
    return {
      open: !!aside && !aside.hidden && aside.checkVisibility(),
      title: document.querySelector('#details-title')?.textContent.replace(/\s+/g, ' ').trim() ?? null,
      sections: Object.fromEntries(
        [...(aside?.querySelectorAll('section[data-section]') ?? [])].map((s) => [s.dataset.section, s.innerText]),
      ),
      leak_charts: aside ? aside.querySelectorAll('svg.leak-chart').length : 0,
      leak_chart_polylines: aside ? aside.querySelectorAll('svg.leak-chart polyline').length : 0,
    };
  });
}

async function clickCell(page, id) {
  await page.locator(`#grid td.cell[data-cell="${id}"]`).click();
  await page.waitForSelector('#details:not([hidden])', { timeout: 5000 }).catch(() => {});
  return details(page);
}

// After each key: which cell has focus and whether the details are open.
async function keys(page, list) {
  const start = page.locator('#grid td[tabindex="0"]');
  const first = await start.getAttribute('data-cell');
  await start.focus();
  const steps = [];
  for (const key of list) {
    await page.keyboard.press(key);
    steps.push(await page.evaluate((key) => ({
      key,
      focused: document.activeElement?.dataset?.cell ?? null,
      focused_tag: document.activeElement?.tagName.toLowerCase() ?? null,
      details_open: !document.querySelector('#details')?.hidden,
    }), key));
  }
  return { first, steps };
}

async function axe(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() => window.axe.run(document));
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target, html: n.html.slice(0, 200), summary: n.failureSummary })),
    node_count: v.nodes.length,
  }));
}

async function printView(page) {
  await page.emulateMedia({ media: 'print' });
  const shown = await page.evaluate(() =>
    Object.fromEntries(['#filters', '#details'].map((sel) => {
      const el = document.querySelector(sel);
      return [sel.slice(1), !!el && getComputedStyle(el).display !== 'none' && !el.hidden];
    })),
  );
  await page.emulateMedia({ media: 'screen' });
  return shown;
}

async function probe(opts) {
  const facts = { requests: [], console_errors: [], page_errors: [] };
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const pageUrl = pathToFileURL(path.resolve(opts.page)).href;
    watch(page, pageUrl, facts);
    await page.goto(pageUrl + (opts.fragment ? `#${opts.fragment}` : ''), { waitUntil: 'load' });
    if (opts.paint) facts.paint = await paint(page);
    if (opts.screenshot) await page.screenshot({ path: opts.screenshot });
    if (opts.counts) Object.assign(facts, await counts(page));
    if (opts.findings) facts.findings = await findings(page);
    if (opts.shown) facts.shown = await shown(page);
    if (opts.toggle) facts.toggle = await toggle(page, opts.toggle);
    if (opts.clickCell) facts.details = await clickCell(page, opts.clickCell);
    if (opts.keys) facts.keys = await keys(page, opts.keys.split(','));
    if (opts.axe) facts.axe_violations = await axe(page);
    if (opts.screenshotEnd) await page.screenshot({ path: opts.screenshotEnd });
    if (opts.print) facts.print_shows = await printView(page);
  } finally {
    await browser.close();
  }
  return facts;
}

try {
  process.stdout.write(JSON.stringify(await probe(parseArgs(process.argv.slice(2)))) + '\n');
} catch (err) {
  process.stderr.write(`probe.mjs: ${err.stack || err}\n`);
  process.exit(1);
}
