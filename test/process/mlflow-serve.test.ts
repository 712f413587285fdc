/**
 * `forestd serve` in place of `mlflow models serve`: the real server (primary, worker, scoring
 * thread) given an MLflow model folder as MODEL_PATH (one of each flavor; every folder through one
 * repository server) answers /invocations in every JSON form and CSV with what the flavor's own
 * library answered, /ping 200 once ready, /version and /model with the folder's facts; a request
 * exactly as Python's `requests` sends it works unchanged. A folder
 * forestd cannot serve stops the server at start with the reason. `forestd inspect` describes a
 * folder.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { FLAVORS, type MlflowExpected, mlflowFolder, servedFolders } from "../helpers/mlflow-fixtures.js";
import { rawPost, rawRequest } from "../helpers/raw-http.js";
import { type LocalS3, S3_ACCESS_KEY_ID, startS3 } from "../helpers/s3.js";
import { CLI, type RunningServer, request, startServer, waitFor } from "../helpers/server.js";

function forms(e: MlflowExpected, byName: boolean): [string, string, string][] {
  const { columns, rows } = e;
  const records = rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
  return [
    ["dataframe_split", "application/json", JSON.stringify({ dataframe_split: { columns, data: rows } })],
    ["dataframe_records", "application/json", JSON.stringify({ dataframe_records: records })],
    [
      byName ? "instances" : "instances as rows",
      "application/json",
      JSON.stringify({ instances: byName ? records : rows }),
    ],
    [
      "inputs",
      "application/json",
      JSON.stringify({
        inputs: byName ? Object.fromEntries(columns.map((c, i) => [c, rows.map((r) => r[i])])) : rows,
      }),
    ],
    ["text/csv", "text/csv", e.request_csv],
  ];
}

/** Whether the fixture's rows go by name (a named signature, or none: the model's feature names). */
const rowsByName = (e: MlflowExpected) =>
  !["xgboost-booster-tensor", "sklearn-forest-pickle"].includes(e.folder);

/**
 * `route` answers every request form, and a Python requests client's body, with the flavor's own
 * answers; a frame without the model's inputs gets a 400 that says so.
 */
async function answersAsTheFlavor(t: Test, server: RunningServer, route: string, e: MlflowExpected) {
  for (const [form, type, body] of forms(e, rowsByName(e))) {
    const r = await request(`${server.url}${route}`, "POST", body, { "content-type": type });
    t.equal(r.status, 200, `${form}: 200`);
    t.same(
      r.json,
      { predictions: e.predictions },
      `${form}: ${e.predictions.length} answers as ${e.flavor} gave them`,
    );
  }
  // requests.post(f"{url}/invocations", data=json.dumps({"dataframe_split": df.to_dict(orient="split")}),
  //               headers={"Content-Type": "application/json"})
  const answer = await rawRequest(
    server.port,
    rawPost(route, e.request_split, {
      Host: `127.0.0.1:${server.port}`,
      "User-Agent": "python-requests/2.31.0",
      "Accept-Encoding": "gzip, deflate",
      Accept: "*/*",
      Connection: "keep-alive",
      "Content-Type": "application/json",
    }),
  );
  t.equal(answer.status, 200, "a Python requests client: 200");
  t.same(JSON.parse(answer.body).predictions, e.predictions, "a Python requests client: the same answers");
  const missing = await request(`${server.url}${route}`, "POST", { dataframe_records: [{ nothing: 1 }] });
  t.equal(missing.status, 400);
  t.match(missing.json, { message: /missing inputs|lacks the model's inputs|input shape/ });
  return missing;
}

const served = servedFolders(FLAVORS);

// Every folder from one server (a repository of them): a server per folder cost ~3 s of start-up
// each. MODEL_PATH's own folder reading is the test after this one's (and the S3 one's).
t.test("every MLflow folder in MODEL_REPOSITORY: /invocations/{name}, /model/{name}", async (t) => {
  const root = mkdtempSync(join(tmpdir(), "forestd-mlflow-repo-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const e of served) cpSync(mlflowFolder(e.folder), join(root, e.folder), { recursive: true });
  const server = await startServer({ MODEL_REPOSITORY: root, WORKERS: "1", THREADS: "1", ACCESS_LOG: "off" });
  t.teardown(() => server.stop());
  await waitFor(
    async () => ((await request(`${server.url}/v2/models`)).json.models as string[]).length === served.length,
    30_000,
  );
  for (const e of served) {
    await t.test(`${e.folder}: ${e.notes}`, async (t) => {
      const model = (await request(`${server.url}/model/${e.folder}`)).json as {
        mlflow: { flavor: string; run_id: string };
      };
      t.equal(model.mlflow.flavor, e.flavor, "/model/{name}: the flavor");
      t.match(model.mlflow.run_id, /^[0-9a-f]{32}$/, "/model/{name}: the run id");
      const missing = await answersAsTheFlavor(t, server, `/invocations/${e.folder}`, e);
      t.same(
        Object.keys(missing.json).sort(),
        ["error_code", "message"],
        "/invocations/{name}: MLflow's shape",
      );
      t.match(missing.json, { error_code: /INVALID_PARAMETER_VALUE|BAD_REQUEST/ });
    });
  }
  const none = await request(`${server.url}/invocations`, "POST", "{}");
  t.equal(none.status, 404, "no default model: 404");
  t.same(Object.keys(none.json).sort(), ["error_code", "message"], "in MLflow's shape");
  const unknown = await request(`${server.url}/invocations/no-such-model`, "POST", "{}");
  t.equal(unknown.status, 404, "an unknown name: 404");
  t.same(Object.keys(unknown.json).sort(), ["error_code", "message"], "an unknown name: MLflow's shape");
});

for (const e of FLAVORS.map((flavor) => servedFolders([flavor])[0])) {
  t.test(`forestd serve MODEL_PATH=${e.folder} (as mlflow models serve -m)`, async (t) => {
    const server = await startServer({
      MODEL_PATH: mlflowFolder(e.folder),
      WORKERS: "1",
      THREADS: "1",
      ACCESS_LOG: "off",
    });
    t.teardown(() => server.stop());
    const ping = await request(`${server.url}/ping`);
    t.equal(ping.status, 200, "/ping 200 when ready");
    t.equal(
      (await request(`${server.url}/version`)).text,
      "2.11.3",
      "/version: the MLflow version in MLmodel",
    );
    const model = (await request(`${server.url}/model`)).json as {
      mlflow: { flavor: string; run_id: string };
    };
    t.equal(model.mlflow.flavor, e.flavor, "/model: the flavor");
    t.match(model.mlflow.run_id, /^[0-9a-f]{32}$/, "/model: the run id");
    const missing = await answersAsTheFlavor(t, server, "/invocations", e);
    t.match(missing.json, { error_code: /INVALID_PARAMETER_VALUE|BAD_REQUEST/ }, "in MLflow's shape");
  });
}

t.test("MLflow folders from S3 (s3rver): one per flavor, as mlflow.log_model uploads them", async (t) => {
  const s3: LocalS3 = await startS3(["mlruns"]);
  t.teardown(() => s3.close());
  for (const flavor of FLAVORS) {
    const e = servedFolders([flavor])[0];
    const prefix = `1/${e.folder}/artifacts/model/`;
    for (const file of readdirSync(mlflowFolder(e.folder)))
      await s3.put("mlruns", prefix + file, readFileSync(join(mlflowFolder(e.folder), file)));
    const server = await startServer({
      MODEL_PATH: `s3://mlruns/${prefix}`,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: S3_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_CONFIG_FILE: "/nonexistent",
      AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
      AWS_EC2_METADATA_DISABLED: "true",
      S3_FORCE_PATH_STYLE: "on",
      WORKERS: "1",
      THREADS: "1",
      ACCESS_LOG: "off",
    });
    t.teardown(() => server.stop());
    t.equal((await request(`${server.url}/ping`)).status, 200, `${e.folder}: /ping 200 when ready`);
    const model = (await request(`${server.url}/model`)).json as {
      source: string;
      mlflow: { flavor: string };
    };
    t.equal(model.source, `s3://mlruns/${prefix}`, `${e.folder}: the source is the prefix`);
    t.equal(model.mlflow.flavor, flavor);
    for (const [form, type, body] of forms(e, rowsByName(e))) {
      const r = await request(`${server.url}/invocations`, "POST", body, { "content-type": type });
      t.same(r.json, { predictions: e.predictions }, `${e.folder} from S3: ${form}`);
    }
    await server.stop();
  }
});

t.test("a folder forestd cannot serve stops the server at start, saying why", async (t) => {
  const out = spawnSync(process.execPath, [CLI, "serve"], {
    env: {
      ...process.env,
      MODEL_PATH: mlflowFolder("refused-pyfunc-only"),
      WORKERS: "1",
      BIND: "127.0.0.1:0",
    },
    encoding: "utf8",
    timeout: 30_000,
  });
  t.not(out.status, 0, "exits with an error");
  t.match(out.stdout + out.stderr, /python_function flavor alone .*custom Python code/, "names the reason");
});

t.test("forestd inspect describes an MLflow folder", async (t) => {
  const out = spawnSync(process.execPath, [CLI, "inspect", mlflowFolder("xgboost-classifier-ubj")], {
    encoding: "utf8",
  });
  t.equal(out.status, 0);
  t.match(out.stdout, /mlflow:\s+xgboost flavor, model\.ubj, saved by MLflow 2\.11\.3/);
  t.match(out.stdout, /pyfunc:\s+answers class-indices \(trees up to best_iteration \d+\)/);
});
