// Drives Debian's firefox-esr for the browser tests over WebDriver BiDi (puppeteer-core):
// Playwright's Python package cannot drive a stock Firefox. One process, one browser; commands
// arrive on stdin as JSON lines {id, op, ...} and each gets one JSON line {id, ok, value|error}
// on stdout. Ops: open {url, init: [script]} -> page index; eval {page, expr};
// wait {page, expr, timeout_ms}; click {page, selector}; screenshot {page, path}; console {page}; close.
//
//   node web/tools/firefox-driver.js [/usr/bin/firefox-esr]
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const PREFS = {
  // a fake camera and microphone, granted without asking
  "media.navigator.streams.fake": true,
  "media.navigator.permission.disabled": true,
  // real host addresses in candidates (no mDNS names), loopback ones too
  "media.peerconnection.ice.obfuscate_host_addresses": false,
  "media.peerconnection.ice.loopback": true,
  // nothing of its own on the network during a test
  "app.update.enabled": false,
  "browser.shell.checkDefaultBrowser": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "toolkit.telemetry.enabled": false,
};

const browser = await puppeteer.launch({
  browser: "firefox",
  protocol: "webDriverBiDi",
  executablePath: process.argv[2] || "/usr/bin/firefox-esr",
  headless: true,
  extraPrefsFirefox: PREFS,
});
const pages = [];
const consoles = [];

async function run(cmd) {
  const page = pages[cmd.page];
  switch (cmd.op) {
    case "open": {
      const p = await browser.newPage();
      const log = [];
      p.on("console", (m) => log.push(`${m.type()}: ${m.text()}`));
      p.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
      for (const script of cmd.init || []) await p.evaluateOnNewDocument(script);
      await p.goto(cmd.url);
      pages.push(p);
      consoles.push(log);
      return pages.length - 1;
    }
    case "eval":
      return await page.evaluate(cmd.expr);
    case "wait":
      await page.waitForFunction(cmd.expr, { timeout: cmd.timeout_ms ?? 30000, polling: 100 });
      return true;
    case "click":
      await page.locator(cmd.selector).click();
      return true;
    case "screenshot":
      await page.screenshot({ path: cmd.path, fullPage: true });
      return cmd.path;
    case "console":
      return consoles[cmd.page];
    case "version":
      return await browser.version();
    case "close":
      await browser.close();
      return true;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const reply = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");
reply({ id: 0, ok: true, value: "ready" });
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
    reply({ id: cmd.id, ok: true, value: (await run(cmd)) ?? null });
  } catch (error) {
    reply({ id: cmd ? cmd.id : null, ok: false, error: String(error && error.stack ? error.stack : error) });
  }
  if (cmd && cmd.op === "close") break;
}
process.exit(0);
