/**
 * SWAGGER_UI in a real browser: headless Chromium renders the API from /docs, served by an
 * in-process worker app on loopback, without fetching anything from another origin. A process-level
 * test because it starts Chromium (scripts/test-layers.sh).
 */
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import t from "tap";
import { testApp } from "../helpers/app.js";

const CHROMIUM = "/usr/bin/chromium";

t.test("headless Chromium renders the API from /docs, fetching nothing from elsewhere", async (t) => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run scripts/install-test-deps.sh`);
  const { app, close } = await testApp([], { SWAGGER_UI: "true" });
  t.teardown(close);
  const origin = await app.listen({ host: "127.0.0.1", port: 0 });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  const problems: string[] = [];
  const fetched: string[] = [];
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("request", (r) => fetched.push(r.url()));
  await page.goto(`${origin}/docs`);
  await page.waitForSelector(".opblock-summary-path", { timeout: 30_000 });
  const paths = await page.$$eval(".opblock-summary-path", (els) => els.map((e) => e.textContent?.trim()));
  t.ok(paths.includes("/predict"), `/predict is listed (${paths.join(", ")})`);
  t.ok(fetched.length >= 5, "the page fetched its assets");
  t.same(
    fetched.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith("data:")),
    [],
    "nothing from another origin",
  );
  t.same(problems, [], "no script errors and no CSP violations");
});
