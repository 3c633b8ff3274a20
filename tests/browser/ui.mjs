// The web UI in a real browser: starts `sightline serve --demo` on loopback, drives
// headless Chromium (Debian's, through playwright-core) through sign-in, the demo
// model, a time-range change, a feature, the monitor form, a prediction looked up
// by request id, the channel form, the registry and a version's page with its alias
// form, an error group resolved from its page. Screenshots of each page go to artifacts/ (or $SIGHTLINE_ARTIFACTS).
// Fails on a console error, a page error, a failed request, or a broken link.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.SIGHTLINE_BIN || join(here, "..", "..", "target", "release", "sightline");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
const artifacts = process.env.SIGHTLINE_ARTIFACTS || join(here, "artifacts");
mkdirSync(artifacts, { recursive: true });

const problems = [];
function check(condition, message) {
  if (!condition) throw new Error(message);
}

// The server: a fresh data directory, any free port; the demo prints where and how to sign in.
function startServer() {
  const dataDir = mkdtempSync(join(tmpdir(), "sightline-ui-"));
  const child = spawn(bin, ["serve", "--demo", "--demo-rate", "20", "--listen", "127.0.0.1:0", "--data-dir", dataDir], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, SIGHTLINE_LOG_LEVEL: "warn" },
  });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const ready = new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("the server did not print its demo credentials:\n" + stderr)), 60000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/open (http:\/\/\S+)\/ui\/ and sign in as "([^"]+)" with the password (\S+)/);
      if (m) { clearTimeout(timer); resolve({ base: m[1], user: m[2], password: m[3] }); }
    });
    child.on("exit", (code) => reject(new Error(`the server exited (${code}):\n${stderr}`)));
  });
  return { child, dataDir, ready, stderr: () => stderr };
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

// Every chart figure on the page holds one SVG with drawn content.
async function expectCharts(page, ids) {
  for (const id of ids) {
    const info = await page.$eval(`figure#${id} svg`, (svg) => ({
      shapes: svg.querySelectorAll("polyline, rect, circle, path").length,
      width: svg.getBoundingClientRect().width,
    })).catch(() => null);
    check(info !== null, `chart ${id} is missing on ${page.url()}`);
    check(info.shapes > 5 && info.width > 100, `chart ${id} is empty on ${page.url()}: ${JSON.stringify(info)}`);
  }
}

async function main() {
  const server = startServer();
  let browser;
  try {
    const { base, user, password } = await server.ready;
    browser = await chromium.launch({ executablePath: browserPath, headless: true, args: ["--no-sandbox"] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    // A refused form answers its page with the refusal's status, which Chromium logs as
    // a failed load; that one is expected while `refusal` names it.
    let refusal = null;
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      if (refusal && m.text().includes(`status of ${refusal}`)) return;
      problems.push(`console error on ${page.url()}: ${m.text()}`);
    });
    // Pages answered to a form (POST) are not pages to load again for the link check.
    const posted = new Set();
    page.on("response", (r) => {
      if (r.request().isNavigationRequest() && r.request().method() === "POST") posted.add(r.url());
    });
    page.on("pageerror", (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
    page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    const visited = new Set();
    page.on("load", () => visited.add(page.url()));

    // Sign in: an anonymous visit lands on the sign-in form and comes back after it.
    await page.goto(`${base}/ui/models/credit-risk`);
    check(page.url().startsWith(`${base}/ui/sign-in`), `not sent to sign in: ${page.url()}`);
    await shot(page, "01-sign-in");
    await page.fill("input[name=username]", user);
    await page.fill("input[name=password]", password);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    check(page.url() === `${base}/ui/models/credit-risk`, `after sign-in: ${page.url()}`);
    // No automatic reloads in the middle of the steps below.
    await page.evaluate(() => sessionStorage.setItem("sightline-refresh", "off"));

    // The demo's hour of history reaches the profiles within seconds; wait for it.
    const deadline = Date.now() + 90000;
    for (;;) {
      const ready = await page.$("figure#drift-heatmap svg") && await page.$("figure#performance svg");
      if (ready) break;
      check(Date.now() < deadline, "the demo model's charts did not appear");
      await page.waitForTimeout(2000);
      await page.reload();
    }
    await expectCharts(page, ["throughput", "latency", "errors", "drift-heatmap", "prediction-distribution", "performance", "label-coverage"]);
    // Hover details: the readout under a chart says what is under the pointer.
    const chart = await page.$("figure#latency svg");
    await chart.scrollIntoViewIfNeeded();
    const box = await chart.boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
    const readout = await page.$eval("figure#latency .readout", (p) => p.textContent);
    check(/p99/.test(readout), `no hover detail: ${JSON.stringify(readout)}`);
    await shot(page, "02-model");

    // Another time range.
    await Promise.all([page.waitForNavigation(), page.click(".toolbar a[href*='range=6h']")]);
    check(page.url().includes("range=6h"), `range not changed: ${page.url()}`);
    await expectCharts(page, ["throughput", "latency", "drift-heatmap"]);
    await shot(page, "03-model-6h");

    // A feature.
    await Promise.all([page.waitForNavigation(), page.click("a[href*='/features/income']")]);
    await expectCharts(page, ["distribution", "drift-history"]);
    await shot(page, "04-feature");

    // The overview.
    await page.goto(`${base}/ui/`);
    check(await page.$("a[href='/ui/models/credit-risk']"), "the overview does not list the demo model");
    await shot(page, "05-overview");

    // A monitor through the form, then listed.
    await page.goto(`${base}/ui/alerts`);
    await page.fill("#new-monitor input[name=id]", "browser-made");
    await page.selectOption("#new-monitor select[name=signal]", "throughput");
    await page.selectOption("#new-monitor select[name=op]", "<");
    await page.fill("#new-monitor input[name=value]", "1");
    await Promise.all([page.waitForNavigation(), page.click("#new-monitor button[type=submit]")]);
    check(page.url().endsWith("/ui/alerts?created=browser-made"), `after creating: ${page.url()}`);
    const listed = await page.$$eval("#monitors code", (cs) => cs.map((c) => c.textContent));
    check(listed.includes("browser-made"), `the new monitor is not listed: ${listed}`);
    await shot(page, "06-alerts");

    // A prediction by request id.
    await page.goto(`${base}/ui/models/credit-risk/predictions`);
    const id = await page.$eval("#predictions tbody tr td:nth-child(2) a", (a) => a.textContent);
    await shot(page, "07-predictions");
    await page.fill("input[name=request_id]", id);
    await Promise.all([page.waitForNavigation(), page.click("form.stack button[type=submit]")]);
    check((await page.textContent("#request-id")) === id, `not the prediction ${id}: ${page.url()}`);
    check((await page.textContent("main")).includes("debt_to_income"), "the prediction's features are not shown");
    await shot(page, "08-prediction");

    // The challenger's explanations: from the model page's versions table.
    await page.goto(`${base}/ui/models/credit-risk`);
    await Promise.all([page.waitForNavigation(), page.click("a[href='/ui/models/credit-risk/versions/v2/explain']")]);
    await expectCharts(page, ["importance", "beeswarm", "attribution-drift", "pdp", "tree"]);
    await page.selectOption("select[name=feature]", "credit_score");
    await Promise.all([page.waitForNavigation(), page.click("form.stack:has(select[name=feature]) button[type=submit]")]);
    check(page.url().includes("feature=credit_score"), `feature not chosen: ${page.url()}`);
    check((await page.textContent("#pdp figcaption")).includes("credit_score"), "the PD chart is not credit_score's");
    await shot(page, "09-explanations");

    // Settings.
    await page.goto(`${base}/ui/settings`);
    check(await page.$("#tokens"), "the settings page lists no tokens");
    await shot(page, "10-settings");

    // A notification channel through the settings form: refused with the API's message
    // naming the field, then made and listed.
    await page.fill("#new-channel input[name=name]", "browser-hook");
    await page.selectOption("#new-channel select[name=kind]", "webhook");
    await page.selectOption("#new-channel select[name=min_severity]", "high");
    await page.fill("#new-channel input[name=secret]", "a-secret-of-enough-length");
    refusal = 422;
    await Promise.all([page.waitForNavigation(), page.click("#new-channel button[type=submit]")]);
    refusal = null;
    check((await page.textContent(".problem")).includes("config.url: required"), "no message naming the missing URL");
    check((await page.inputValue("#new-channel input[name=name]")) === "browser-hook", "the refused form lost its values");
    await page.fill("#new-channel input[name=url]", "https://hooks.example.com/sightline");
    await page.fill("#new-channel input[name=secret]", "a-secret-of-enough-length");
    await Promise.all([page.waitForNavigation(), page.click("#new-channel button[type=submit]")]);
    check(page.url().includes("/ui/settings?done="), `after making a channel: ${page.url()}`);
    const channels = await page.$$eval("#channels tbody td:first-child", (tds) => tds.map((td) => td.textContent));
    check(channels.includes("browser-hook"), `the new channel is not listed: ${channels}`);
    await shot(page, "11-settings-channel");

    // The registry: the model's versions, then v2's page with its facts, file and gate,
    // and an alias pointed at it through the form.
    await page.goto(`${base}/ui/models/credit-risk/registry`);
    check(await page.$("#registry-versions"), "the registry lists no versions");
    await shot(page, "12-registry");
    await Promise.all([page.waitForNavigation(), page.click("#registry-versions a[href='/ui/models/credit-risk/versions/v2']")]);
    check((await page.textContent("#stage")).includes("Staging"), "v2 is not shown in Staging");
    check(await page.$("#metrics") && await page.$("#params") && await page.$("#gate"), "v2's facts or gate are missing");
    check(await page.$("#artifacts a[href$='/artifacts/model/credit_risk_v2.json']"), "v2's model file is not listed");
    await page.fill("#set-alias input[name=alias]", "browser-alias");
    await page.fill("#set-alias input[name=reason]", "set in the browser test");
    await Promise.all([page.waitForNavigation(), page.click("#set-alias button[type=submit]")]);
    check((await page.textContent("#version-aliases")).includes("@browser-alias"), "the alias is not on v2");
    check((await page.textContent("main")).includes("set in the browser test"), "the alias move is not in the history");
    await shot(page, "13-version");

    // Error groups: from the model page to the demo's timeouts, their stack and hourly
    // chart, then resolved through the page's button.
    await page.goto(`${base}/ui/models/credit-risk`);
    await Promise.all([page.waitForNavigation(), page.click("#issues tr:has(code:text-is('TimeoutError')) td:first-child a")]);
    check((await page.textContent("main")).includes("fetch_online"), "the timeout's stack trace is missing");
    const hourly = await page.$("#issue-hourly svg");
    check(hourly && (await hourly.$$("path, polyline")).length > 0, "the hourly chart is empty");
    await Promise.all([page.waitForNavigation(), page.click("#issue-status button:has-text('Resolve')")]);
    check((await page.textContent("main")).includes("The issue is now resolved."), "the issue was not resolved");
    await shot(page, "14-error-group");

    // Broken links: every same-origin link of the pages visited answers.
    const links = new Set();
    for (const url of visited) {
      if (posted.has(url)) continue;
      await page.goto(url);
      for (const href of await page.$$eval("a[href]", (as) => as.map((a) => a.href))) {
        if (href.startsWith(base)) links.add(href.split("#")[0]);
      }
    }
    for (const href of links) {
      const r = await page.request.get(href, { maxRedirects: 0 });
      if (r.status() >= 400) problems.push(`broken link ${href}: ${r.status()}`);
    }
    console.log(`checked ${links.size} links on ${visited.size} pages; screenshots in ${artifacts}`);
  } finally {
    if (browser) await browser.close();
    if (server.child.exitCode === null) {
      const exited = new Promise((r) => server.child.once("exit", r));
      server.child.kill("SIGTERM");
      await exited;
    }
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  if (problems.length > 0) throw new Error(problems.join("\n"));
}

main().then(
  () => console.log("browser tests passed"),
  (e) => { console.error(`browser tests FAILED: ${e.message}`); process.exit(1); },
);
