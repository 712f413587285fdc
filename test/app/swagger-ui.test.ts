/**
 * SWAGGER_UI: off by default; on, /docs serves Swagger UI from this server's own files (no CDN).
 * A real headless Chromium rendering it: test/process/swagger-ui.test.ts.
 */
import t from "tap";
import { testApp } from "../helpers/app.js";

t.test("off by default: no /docs", async (t) => {
  const { app, close } = await testApp();
  t.teardown(close);
  for (const url of ["/docs", "/docs/", "/docs/static/swagger-ui-bundle.js", "/docs/json"]) {
    const r = await app.inject(url);
    t.equal(r.statusCode, 404, url);
    t.equal(r.json().code, "FORESTD_ERR_NOT_FOUND");
  }
});

t.test("SWAGGER_UI=true: the UI and every asset it names are served from here", async (t) => {
  const { app, close } = await testApp([], { SWAGGER_UI: "true" });
  t.teardown(close);
  const page = await app.inject("/docs/");
  t.equal(page.statusCode, 200);
  t.match(page.headers["content-type"], /text\/html/);
  const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  t.ok(refs.length >= 5, `the page names its assets: ${refs.join(", ")}`);
  for (const ref of refs) {
    t.notMatch(ref, /^(https?:)?\/\//, `${ref}: relative, not a CDN`);
    const url = new URL(ref, "http://forestd/docs/").pathname;
    const asset = await app.inject(url);
    t.equal(asset.statusCode, 200, `${url} served`);
    t.ok(asset.rawPayload.length > 0, `${url} not empty`);
    if (url.endsWith(".js") || url.endsWith(".css"))
      t.match(
        asset.headers["content-security-policy"],
        /default-src 'self'/,
        `${url}: CSP allows only this server`,
      );
  }
  const bundle = await app.inject("/docs/static/swagger-ui-bundle.js");
  t.ok(bundle.rawPayload.length > 500_000, "the Swagger UI bundle itself is here");
  const spec = (await app.inject("/docs/json")).json();
  t.ok(spec.paths["/predict"], "the UI's spec has /predict");
  t.ok(spec.paths["/v2/models/{name}/infer"], "and the OIP routes");
});
