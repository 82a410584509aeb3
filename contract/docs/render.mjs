// Renders a server's API reference (GET /docs) in headless Chromium and
// checks it against the server's own document: the title, every
// operation's summary and every error code must appear in the rendered
// page, and the page must load nothing from outside the server.
//
//   node contract/docs/render.mjs http://127.0.0.1:8080/docs [screenshot.png]
//
// Prints a JSON report; exits 1 if anything is missing or came from outside.
// Uses Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) through
// playwright-core, which downloads no browser of its own.
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url) {
  console.error("usage: render.mjs URL-of-/docs [screenshot.png]");
  process.exit(2);
}
const served = new URL(url);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  const outside = [];
  const failed = [];
  page.on("request", (request) => {
    const requested = new URL(request.url());
    if (["data:", "blob:", "about:"].includes(requested.protocol)) return;
    if (requested.host !== served.host) outside.push(request.url());
  });
  page.on("requestfailed", (request) => failed.push(request.url()));
  const consoleErrors = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  await page.goto(url, { waitUntil: "networkidle" });
  // Redoc has rendered once the operations' sections are in the page.
  await page.waitForSelector("[data-section-id^='tag/']", { timeout: 30000 });
  await page.waitForLoadState("networkidle");
  const text = await page.evaluate(() => document.body.innerText);
  const document = await (await fetch(new URL("/openapi.json", served))).json();
  const expected = [document.info.title];
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item)) {
      if (operation && operation.summary) expected.push(operation.summary);
    }
  }
  const errorTable = document.components.schemas.Error.description;
  const codes = [...errorTable.matchAll(/\| `([a-z_]+)` \|/g)].map((m) => m[1]);
  expected.push(...codes);
  // A check of the check: text that must appear too (the suite passes an
  // operation summary that does not exist, and expects this to fail).
  if (process.env.HBX_SA_DOCS_ALSO_EXPECT) expected.push(process.env.HBX_SA_DOCS_ALSO_EXPECT);
  const missing = expected.filter((wanted) => !text.includes(wanted));
  if (screenshot) await page.screenshot({ path: screenshot });
  const report = {
    title: await page.title(),
    checked: expected.length,
    operations: expected.length - 1 - codes.length - (process.env.HBX_SA_DOCS_ALSO_EXPECT ? 1 : 0),
    error_codes: codes.length,
    missing,
    outside,
    failed,
    console_errors: consoleErrors,
  };
  console.log(JSON.stringify(report, null, 2));
  process.exitCode = missing.length || outside.length || codes.length === 0 ? 1 : 0;
} finally {
  await browser.close();
}
