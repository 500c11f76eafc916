// Credential vending in a browser, with no server of the app's own: a page
// gets an ID token from the OpenID Connect issuer, exchanges it for
// temporary credentials with AssumeRoleWithWebIdentity (a cross-origin
// fetch to latchkey's STS), pre-signs S3 URLs with those credentials
// (SigV4 in WebCrypto) and PUTs to its own prefix — and to another user's,
// which must be refused. Prints what happened as JSON.
// Usage: node oidc.mjs <spec.json>
//   spec: { chromium, pageUrl, tokenUrl, stsUrl, s3Url, bucket, roleArn, sub, otherSub, screenshot }
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const browser = await chromium.launch({
  executablePath: spec.chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let result;
try {
  // The test issuer's certificate comes from a CA made for the run, which
  // the browser does not know; latchkey trusts it by its thumbprint.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(spec.pageUrl);
  result = await page.evaluate(async (spec) => {
    const out = {};
    const enc = new TextEncoder();
    const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
    const sha256 = async (text) => hex(await crypto.subtle.digest("SHA-256", enc.encode(text)));
    const hmac = async (key, text) => {
      const k = await crypto.subtle.importKey("raw", typeof key === "string" ? enc.encode(key) : key,
                                              { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      return crypto.subtle.sign("HMAC", k, enc.encode(text));
    };
    // RFC 3986 encoding, as SigV4 canonical requests want it.
    const uri = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());

    // SigV4 query-string pre-signing (S3 "Authenticating Requests: Using Query Parameters").
    async function presign(method, key, creds) {
      const url = new URL(spec.s3Url);
      const now = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
      const date = now.slice(0, 8);
      const scope = `${date}/us-east-1/s3/aws4_request`;
      const path = `/${spec.bucket}/` + key.split("/").map(uri).join("/");
      const params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": `${creds.AccessKeyId}/${scope}`,
        "X-Amz-Date": now,
        "X-Amz-Expires": "300",
        "X-Amz-Security-Token": creds.SessionToken,
        "X-Amz-SignedHeaders": "host",
      };
      const query = Object.keys(params).sort().map((k) => `${uri(k)}=${uri(params[k])}`).join("&");
      const canonical = [method, path, query, `host:${url.host}`, "", "host", "UNSIGNED-PAYLOAD"].join("\n");
      const toSign = ["AWS4-HMAC-SHA256", now, scope, await sha256(canonical)].join("\n");
      let k = await hmac("AWS4" + creds.SecretAccessKey, date);
      for (const part of ["us-east-1", "s3", "aws4_request"]) k = await hmac(k, part);
      const signature = hex(await hmac(k, toSign));
      return `${url.origin}${path}?${query}&X-Amz-Signature=${signature}`;
    }

    try {
      // 1. Sign in: the issuer hands the page an ID token.
      const tok = await (await fetch(`${spec.tokenUrl}?sub=${encodeURIComponent(spec.sub)}&aud=${encodeURIComponent(spec.clientId)}`)).json();
      // 2. Exchange it at STS, cross-origin; the SDK-style header makes the browser preflight.
      const body = new URLSearchParams({
        Action: "AssumeRoleWithWebIdentity", Version: "2011-06-15", RoleArn: spec.roleArn,
        RoleSessionName: `web-${spec.sub}`, WebIdentityToken: tok.id_token, DurationSeconds: "900",
      });
      const r = await fetch(spec.stsUrl, { method: "POST", body,
        headers: { "Content-Type": "application/x-www-form-urlencoded", "X-Amz-User-Agent": "latchkey-browser-test" } });
      out.stsStatus = r.status;
      const xml = new DOMParser().parseFromString(await r.text(), "application/xml");
      const text = (name) => xml.getElementsByTagName(name)[0]?.textContent;
      out.subject = text("SubjectFromWebIdentityToken");
      out.provider = text("Provider");
      const creds = { AccessKeyId: text("AccessKeyId"), SecretAccessKey: text("SecretAccessKey"),
                      SessionToken: text("SessionToken") };
      out.accessKeyId = creds.AccessKeyId;
      // 3. Upload to the user's own prefix, and try another user's.
      const own = await fetch(await presign("PUT", `users/${spec.sub}/from-browser.txt`, creds),
                              { method: "PUT", body: `hello from ${spec.sub}'s browser` });
      out.ownPut = { status: own.status, etag: own.headers.get("ETag") };
      const other = await fetch(await presign("PUT", `users/${spec.otherSub}/from-browser.txt`, creds),
                                { method: "PUT", body: "should not land" });
      out.otherPut = { status: other.status, text: (await other.text()).slice(0, 300) };
      const back = await fetch(await presign("GET", `users/${spec.sub}/from-browser.txt`, creds));
      out.ownGet = { status: back.status, text: await back.text() };
      document.body.innerHTML = `<h1>Signed in as ${spec.sub}</h1><p id="k">${creds.AccessKeyId}</p>` +
        `<p>own PUT: ${own.status}, other's PUT: ${other.status}</p>`;
    } catch (e) {
      out.error = String(e);
    }
    return out;
  }, spec);
  if (spec.screenshot) await page.screenshot({ path: spec.screenshot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
