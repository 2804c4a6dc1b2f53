// Drives the kdedge serve page in headless Chromium (Debian's /usr/bin/chromium, through playwright-core;
// no browser is downloaded). Used by the browser tests and the browser benchmark.
//
//   node drive.mjs JOB.json
//
// JOB: {"url", "texts": [...], "out": "result.json", "screenshot": "page.png"?, "typed": "text"?,
//       "bench": {"warmup", "min_runs", "max_seconds", "repeats"}?, "chromium": "/usr/bin/chromium"?,
//       "timeout_ms": 60000?}
// Writes OUT: {"browser": version, "ready": {...}, "local": [answers], "server": [answers], "agree": text,
//              "times_ms": [[...per call...] per repeat]?}
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const timeout = job.timeout_ms ?? 60000;
const profile = mkdtempSync(join(tmpdir(), "kdedge-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: job.chromium ?? "/usr/bin/chromium",
  headless: true,
  timeout,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync"],
  viewport: { width: 1000, height: 720 },
});
const out = {};
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(timeout);
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(job.url);
  await page.waitForFunction(() => window.kdedge !== undefined);
  out.browser = context.browser()?.version() ?? null;
  out.ready = await page.evaluate(() => window.kdedge.ready);
  out.local = await page.evaluate((texts) => texts.map((t) => {
    try { return window.kdedge.classifyLocal(t); } catch (e) { return { error: e.message }; }
  }), job.texts);
  out.server = await page.evaluate(async (texts) => {
    const res = [];
    for (const t of texts) {
      try { res.push(await window.kdedge.classifyServer(t)); } catch (e) { res.push({ error: e.message }); }
    }
    return res;
  }, job.texts);
  if (job.bench) {
    const b = job.bench;
    out.times_ms = [];
    for (let r = 0; r < (b.repeats ?? 1); r++) {
      out.times_ms.push(await page.evaluate(([texts, w, n, s]) => window.kdedge.time(texts, w, n, s),
                                            [job.texts, b.warmup, b.min_runs, b.max_seconds]));
    }
    out.cross_origin_isolated = await page.evaluate(() => self.crossOriginIsolated);
  }
  if (job.typed !== undefined) {  // what a person does: type a sentence, see both answers
    await page.fill("#text", job.typed);
    await page.click("#go");
    await page.waitForFunction(() => document.querySelector("#agree").textContent.length > 0);
  }
  out.agree = await page.textContent("#agree");
  out.shown_label = await page.textContent("#browser .label").catch(() => null);
  if (job.screenshot) await page.screenshot({ path: job.screenshot, fullPage: true });
  out.logs = logs;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
writeFileSync(job.out, JSON.stringify(out));
