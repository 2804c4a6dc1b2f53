// Drives the kdedge serve page in headless Chromium (Debian's /usr/bin/chromium, through playwright-core;
// no browser is downloaded). The Python side is kdedge/serve/browser.py (tests and the browser benchmark).
//
//   node drive.mjs
//
// One JSON object per line on stdin, one answer per line on stdout. The first line opens the page:
//   {"url", "chromium"?, "timeout_ms"?}            -> {"ok": true, "browser", "ready": {local, error},
//                                                       "cross_origin_isolated", "timer_resolution_ms"}
// then any of
//   {"op": "classify", "texts": [...]}             -> {"ok": true, "local": [answer|{error}], "server": [...]}
//   {"op": "warmup", "texts": [...], "n"}          -> {"ok": true}
//   {"op": "time", "texts": [...], "start", "n"}   -> {"ok": true, "ms": [...]}   (timed inside the page)
//   {"op": "type", "text"}                         -> {"ok": true, "agree", "shown_label"}
//   {"op": "screenshot", "path"}                   -> {"ok": true}
//   {"op": "close"}                                -> {"ok": true, "logs": [...]}, then exit
// A failed command answers {"ok": false, "error"}. End of input closes the browser too.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();
const reply = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const profile = mkdtempSync(join(tmpdir(), "kdedge-chromium-"));
let context = null;

async function open(job) {
  const timeout = job.timeout_ms ?? 60000;
  context = await chromium.launchPersistentContext(profile, {
    executablePath: job.chromium ?? "/usr/bin/chromium",
    headless: true,
    timeout,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--no-first-run", "--disable-sync"],
    viewport: { width: 1000, height: 720 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(timeout);
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(job.url);
  await page.waitForFunction(() => window.kdedge !== undefined);
  const ready = await page.evaluate(() => window.kdedge.ready);
  // The smallest step performance.now() takes here (Chromium: 5 us when cross-origin isolated, 100 us not).
  const resolution = await page.evaluate(() => {
    let best = Infinity;
    for (let i = 0; i < 2000; i++) {
      const a = performance.now();
      let b = performance.now();
      while (b === a) b = performance.now();
      best = Math.min(best, b - a);
    }
    return best;
  });
  return { page, logs, first: { browser: context.browser()?.version() ?? null, ready,
                                cross_origin_isolated: await page.evaluate(() => self.crossOriginIsolated),
                                timer_resolution_ms: resolution } };
}

async function command(page, logs, c) {
  switch (c.op) {
    case "classify": {
      const local = await page.evaluate((texts) => texts.map((t) => {
        try { return window.kdedge.classifyLocal(t); } catch (e) { return { error: e.message }; }
      }), c.texts);
      const server = await page.evaluate(async (texts) => {
        const res = [];
        for (const t of texts) {
          try { res.push(await window.kdedge.classifyServer(t)); } catch (e) { res.push({ error: e.message }); }
        }
        return res;
      }, c.texts);
      return { local, server };
    }
    case "warmup":
      await page.evaluate(([texts, n]) => window.kdedge.warmup(texts, n), [c.texts, c.n]);
      return {};
    case "time":
      return { ms: await page.evaluate(([texts, s, n]) => window.kdedge.time(texts, s, n), [c.texts, c.start, c.n]) };
    case "type":  // what a person does: type a sentence, press Classify, see both answers
      await page.fill("#text", c.text);
      await page.evaluate(() => { document.querySelector("#agree").textContent = ""; });
      await page.click("#go");
      await page.waitForFunction(() => document.querySelector("#agree").textContent.length > 0);
      await page.waitForFunction((t) => document.querySelector("#why").dataset.for === t, c.text);
      return { agree: await page.textContent("#agree"),
               shown_label: await page.textContent("#browser .label").catch(() => null),
               why_label: await page.textContent("#why .why-label"),
               why_words: await page.$$eval("#why .words span.w", (els) => els.map((e) => e.textContent)),
               why_titles: await page.$$eval("#why .words span.w", (els) => els.map((e) => e.title)) };
    case "screenshot":
      await page.screenshot({ path: c.path, fullPage: true });
      return {};
    case "close":
      return { logs };
    default:
      throw new Error(`unknown op ${JSON.stringify(c.op)}`);
  }
}

try {
  const head = await lines.next();
  if (head.done) process.exit(0);
  const { page, logs, first } = await open(JSON.parse(head.value));
  reply({ ok: true, ...first });
  for (let line = await lines.next(); !line.done; line = await lines.next()) {
    const c = JSON.parse(line.value);
    try {
      reply({ ok: true, ...(await command(page, logs, c)) });
    } catch (e) {
      reply({ ok: false, error: String(e?.message ?? e) });
    }
    if (c.op === "close") break;
  }
} catch (e) {
  reply({ ok: false, error: String(e?.message ?? e) });
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
