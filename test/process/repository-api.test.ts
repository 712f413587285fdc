/**
 * The repository API (index, load, unload) on METRICS_PORT of a real server: refused without the
 * bearer token or with another (401), off by default (404), loading only what the repository holds
 * (names with path tricks 400, unknown names 404, Triton's config/file parameters refused), and
 * each load or unload answered once every worker serves it.
 */
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { FIXTURES } from "../helpers/fixtures.js";
import { freePort, postJson, request, startServer } from "../helpers/server.js";

const TOKEN = "s3cret-token-for-the-repository-api";
const ROW = { instances: [[1.5, -2, 3, 0.25, 7, -1]] };

t.test("load, unload and index, with the token only", async (t) => {
  const repo = mkdtempSync(join(tmpdir(), "forestd-repository-api-"));
  mkdirSync(join(repo, "churn"));
  copyFileSync(join(FIXTURES, "binary_logistic.json"), join(repo, "churn", "model.json"));
  const metricsPort = await freePort();
  const server = await startServer({
    MODEL_REPOSITORY: repo,
    REPOSITORY_API: "on",
    REPOSITORY_API_TOKEN: TOKEN,
    METRICS_PORT: String(metricsPort),
    WORKERS: "2",
    ACCESS_LOG: "off",
  });
  t.teardown(() => server.stop());
  const admin = `http://127.0.0.1:${metricsPort}`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const api = (path: string, body: unknown = {}, headers: Record<string, string> = auth) =>
    request(`${admin}${path}`, "POST", body, headers);

  const none = await api("/v2/repository/index", {}, {});
  t.equal(none.status, 401, "no token: 401");
  t.match(none.json, { error: /Bearer/, code: "FORESTD_ERR_UNAUTHORIZED" });
  t.equal(none.headers["www-authenticate"], 'Bearer realm="forestd repository"');
  t.equal(
    (await api("/v2/repository/index", {}, { authorization: `Bearer ${TOKEN}x` })).status,
    401,
    "another token: 401",
  );
  t.equal(
    (await api("/v2/repository/index", {}, { authorization: TOKEN })).status,
    401,
    "not as a bearer: 401",
  );
  t.equal((await api("/v2/repository/models/churn/unload", {}, {})).status, 401);
  t.ok(
    server.events().some((e) => e.event === "repository_api_denied"),
    "refusals are logged",
  );

  t.same((await api("/v2/repository/index")).json, [
    {
      name: "churn",
      version: ((await request(`${server.url}/v2/models/churn`)).json.versions as string[])[0],
      state: "READY",
      reason: "",
    },
  ]);

  // A model put in the folder (no polling here) is served once loaded; the load answers when every worker has it.
  mkdirSync(join(repo, "price", "1"), { recursive: true });
  copyFileSync(join(FIXTURES, "reg_squarederror.json"), join(repo, "price", "1", "model.json"));
  t.equal((await postJson(`${server.url}/predict/price`, ROW)).status, 404, "not served before its load");
  const load = await api("/v2/repository/models/price/load");
  t.same([load.status, load.json], [200, { name: "price", load: true }]);
  const answers = await Promise.all(
    Array.from({ length: 8 }, () => postJson(`${server.url}/predict/price`, ROW)),
  );
  t.same(
    answers.map((a) => a.status),
    Array(8).fill(200),
    "every worker serves it as soon as the load answered",
  );
  t.match((await api("/v2/repository/index", { ready: true })).json, [
    { name: "churn" },
    { name: "price", version: "1", state: "READY" },
  ]);

  const unload = await api("/v2/repository/models/churn/unload");
  t.same([unload.status, unload.json], [200, { name: "churn", unload: true }]);
  const gone = await Promise.all(
    Array.from({ length: 8 }, () => postJson(`${server.url}/predict/churn`, ROW)),
  );
  t.same(
    gone.map((a) => a.status),
    Array(8).fill(404),
    "unloaded everywhere",
  );
  t.equal((await api("/v2/repository/models/churn/load")).status, 200, "and back");
  t.equal((await postJson(`${server.url}/predict/churn`, ROW)).status, 200);

  for (const [path, body, status, code] of [
    ["/v2/repository/models/nope/load", {}, 404, "FORESTD_ERR_REPOSITORY_NOT_FOUND"],
    ["/v2/repository/models/..%2F..%2Fetc/load", {}, 400, "FORESTD_ERR_INVALID_INPUT"],
    ["/v2/repository/models/%2Fetc%2Fpasswd/load", {}, 400, "FORESTD_ERR_INVALID_INPUT"],
    [`/v2/repository/models/${"a".repeat(1000)}/load`, {}, 400, "FORESTD_ERR_INVALID_INPUT"],
    [
      "/v2/repository/models/churn/load",
      { parameters: { config: "{}", "file:1/model.onnx": "AAAA" } },
      400,
      "FORESTD_ERR_INVALID_INPUT",
    ],
    ["/v2/repository/models/nope/unload", {}, 404, "FORESTD_ERR_REPOSITORY_NOT_FOUND"],
    ["/v2/repository/models/churn/load", "{not json", 400, "FORESTD_ERR_INVALID_JSON"],
  ] as const) {
    const r = await api(path, body);
    t.equal(r.status, status, `${path.slice(0, 60)}: ${status}`);
    t.match(r.json, { error: /\S/, code }, code);
  }
  t.equal((await postJson(`${server.url}/predict/churn`, ROW)).status, 200, "nothing else disturbed");
  t.equal((await postJson(`${server.url}/predict/price`, ROW)).status, 200);
});

t.test("off by default; with MODEL_PATH, the one model unloads and loads again", async (t) => {
  const metricsPort = await freePort();
  const off = await startServer({ METRICS_PORT: String(metricsPort), WORKERS: "1", ACCESS_LOG: "off" });
  const r = await request(
    `http://127.0.0.1:${metricsPort}/v2/repository/index`,
    "POST",
    {},
    { authorization: `Bearer ${TOKEN}` },
  );
  t.equal(r.status, 404, "REPOSITORY_API off: the routes are not there");
  await off.stop();

  const port = await freePort();
  const server = await startServer({
    REPOSITORY_API: "on",
    REPOSITORY_API_TOKEN: TOKEN,
    METRICS_PORT: String(port),
    WORKERS: "2",
    ACCESS_LOG: "off",
  });
  t.teardown(() => server.stop());
  const api = (path: string) =>
    request(`http://127.0.0.1:${port}${path}`, "POST", {}, { authorization: `Bearer ${TOKEN}` });
  const row = { height: 180, weight: 80, shoe_size: 44 };
  t.equal((await api("/v2/repository/models/default/unload")).status, 200);
  t.equal((await postJson(`${server.url}/predict/default`, row)).status, 404);
  t.equal((await api("/v2/repository/models/other/load")).status, 404, "only MODEL_PATH's model loads");
  t.equal((await api("/v2/repository/models/default/load")).status, 200);
  t.equal((await postJson(`${server.url}/predict`, row)).status, 200, "served again");
});
