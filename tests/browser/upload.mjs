// Drives headless Chromium through latchkey's browser upload flows and
// prints what happened as JSON. Usage: node upload.mjs <spec.json>
//   spec: { chromium, pageUrl, putUrl, screenshot, cases: [{name, file:{name,size}, key?}] }
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const browser = await chromium.launch({
  executablePath: spec.chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const results = {};
try {
  const page = await browser.newPage();
  for (const c of spec.cases) {
    await page.goto(spec.pageUrl + (c.page || "form.html"));
    if (c.key !== undefined) await page.fill("input[name=key]", c.key);
    await page.setInputFiles("#file", { name: c.file.name, mimeType: "text/plain",
                                        buffer: Buffer.alloc(c.file.size, "a") });
    const [response] = await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      page.click("#submit"),
    ]);
    // The response itself, not the browser's rendering of it.
    results[c.name] = { status: response ? response.status() : null, url: page.url(),
                        text: response ? (await response.text()).slice(0, 600) : "" };
    if (c.screenshot) await page.screenshot({ path: spec.screenshot, fullPage: true });
  }
  // A cross-origin fetch PUT to a pre-signed URL (preflighted by the browser).
  await page.goto(spec.pageUrl + "form.html");
  results.fetchPut = await page.evaluate(async (url) => {
    try {
      const r = await fetch(url, { method: "PUT", body: "from-fetch", headers: { "Content-Type": "text/plain" } });
      return { status: r.status, etag: r.headers.get("ETag") };
    } catch (e) {
      return { error: String(e) };
    }
  }, spec.putUrl);
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
