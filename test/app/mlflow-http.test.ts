/**
 * `mlflow models serve`'s routes on a worker app serving MLflow model folders: /invocations in
 * every JSON form and CSV answers what the flavor's pyfunc answered (through the real batcher and
 * scoring threads), errors in MLflow's shape and status, /ping, /health, /version, and /model's
 * MLflow facts. A request exactly as Python's `requests` sends it, over a real socket.
 */
import t from "tap";
import { mlflowInfoOf } from "../../model/index.js";
import { HTTP_ERRORS } from "../../workers/http/errors.js";
import { testApp } from "../helpers/app.js";
import { FLAVORS, type MlflowExpected, mlflowFolder, servedFolders } from "../helpers/mlflow-fixtures.js";
import { rawPost, rawRequest } from "../helpers/raw-http.js";

const JSON_TYPE = { "content-type": "application/json" };

function bodies(e: MlflowExpected, byName: boolean): [string, string, string][] {
  const { columns, rows } = e;
  const records = rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
  const list: [string, string, string][] = [
    ["dataframe_split", "application/json", JSON.stringify({ dataframe_split: { columns, data: rows } })],
    ["dataframe_records", "application/json", JSON.stringify({ dataframe_records: records })],
    ["instances", "application/json; charset=UTF-8", JSON.stringify({ instances: records })],
    [
      "inputs",
      "application/json",
      JSON.stringify({ inputs: Object.fromEntries(columns.map((c, i) => [c, rows.map((r) => r[i])])) }),
    ],
    ["a Python client's dataframe_split", "application/json", e.request_split],
    ["text/csv", "text/csv", e.request_csv],
  ];
  if (!byName) list.push(["inputs as rows", "application/json", JSON.stringify({ inputs: rows })]);
  return list;
}

for (const e of servedFolders(FLAVORS)) {
  t.test(`${e.folder}: /invocations answers ${e.flavor}'s pyfunc`, async (t) => {
    const { app, close, served } = await testApp(["--model", mlflowFolder(e.folder), "--threads", "1"]);
    t.teardown(close);
    const mlflow = mlflowInfoOf(served.model);
    t.ok(mlflow, "served as an MLflow folder");
    for (const [form, type, payload] of bodies(e, mlflow?.inputs.match === "names")) {
      const r = await app.inject({
        method: "POST",
        url: "/invocations",
        payload,
        headers: { "content-type": type },
      });
      t.equal(r.statusCode, 200, `${form}: 200`);
      t.same(
        r.json(),
        { predictions: e.predictions },
        `${form}: the flavor's ${e.predictions.length} answers`,
      );
    }
    const model = (await app.inject("/model")).json();
    t.equal(model.mlflow.flavor, e.flavor);
    t.equal(model.mlflow.mlflow_version, "2.11.3");
    t.match(model.mlflow.run_id, /^[0-9a-f]{32}$/);
  });
}

t.test("errors in MLflow's shape, never a 500", async (t) => {
  const e = servedFolders(FLAVORS).find((f) => f.folder === "xgboost-booster-binary") as MlflowExpected;
  const { app, close, setReady } = await testApp([
    "--model",
    mlflowFolder(e.folder),
    "--max-request-rows",
    "10",
    "--threads",
    "1",
  ]);
  t.teardown(close);
  const post = (payload: string | Buffer, headers: Record<string, string> = JSON_TYPE) =>
    app.inject({ method: "POST", url: "/invocations", payload, headers });
  const mlflowError = async (
    what: string,
    r: Awaited<ReturnType<typeof post>>,
    status: number,
    code: string,
    message: RegExp,
  ) => {
    t.equal(r.statusCode, status, `${what}: ${status}`);
    t.match(r.headers["content-type"], /^application\/json/, `${what}: JSON`);
    const body = r.json();
    t.same(Object.keys(body).sort(), ["error_code", "message"], `${what}: MLflow's body`);
    t.equal(body.error_code, code, `${what}: ${code}`);
    t.match(body.message, message, `${what}: says why`);
    t.ok(r.headers["x-request-id"], `${what}: the request id in the header`);
  };
  await mlflowError(
    "not JSON",
    await post("this is,,,, not valid json"),
    400,
    "BAD_REQUEST",
    /Failed to parse input from JSON/,
  );
  await mlflowError(
    "both dataframe_split and instances",
    await post(
      JSON.stringify({ dataframe_split: { columns: e.columns, data: [e.rows[0]] }, instances: [e.rows[0]] }),
    ),
    400,
    "BAD_REQUEST",
    /exactly one of the input fields/,
  );
  await mlflowError(
    "a missing column",
    await post(JSON.stringify({ dataframe_records: [{ age: 30 }] })),
    400,
    "INVALID_PARAMETER_VALUE",
    /Model is missing inputs \['income', 'debt_ratio', 'tenure_years', 'score'\]/,
  );
  await mlflowError(
    "11 rows, over MAX_REQUEST_ROWS",
    await post(JSON.stringify({ dataframe_split: { columns: e.columns, data: e.rows.slice(0, 11) } })),
    413,
    "RESOURCE_EXHAUSTED",
    /11 rows in one request; the limit is 10/,
  );
  const csv = await post(`${e.columns.join(",")}\n1,2,3\n`, { "content-type": "text/csv" });
  await mlflowError("a ragged CSV", csv, 400, "BAD_REQUEST", /Error tokenizing data/);
  for (const type of [
    "text/plain",
    "application/json; charset=latin-1",
    "application/json; format=pandas-split",
  ]) {
    const r = await post("{}", { "content-type": type });
    t.equal(r.statusCode, 415, `${type}: 415`);
    t.match(r.headers["content-type"], /^text\/plain/, `${type}: MLflow's text/plain`);
    t.match(
      r.body,
      /content types|only supports UTF-8|Unrecognized content type parameters: format/,
      `${type}: MLflow's words`,
    );
  }
  const none = await app.inject({ method: "POST", url: "/invocations", payload: Buffer.from("{}") });
  t.equal(none.statusCode, 415, "no Content-Type: 415");
  const declared = HTTP_ERRORS.filter((s) => s.code.startsWith("FORESTD_ERR_MLFLOW_")).map((s) => s.code);
  t.same(declared.sort(), [
    "FORESTD_ERR_MLFLOW_BAD_REQUEST",
    "FORESTD_ERR_MLFLOW_INVALID_PARAMETER_VALUE",
    "FORESTD_ERR_MLFLOW_UNSUPPORTED_MEDIA_TYPE",
  ]);

  const ping = await app.inject("/ping");
  t.equal(ping.statusCode, 200, "/ping 200 when ready");
  t.equal(ping.body, "\n");
  t.equal((await app.inject("/health")).statusCode, 200, "/health 200");
  t.equal((await app.inject("/version")).body, "2.11.3", "/version: the MLflow version that saved the model");
  setReady(false);
  t.equal((await app.inject("/ping")).statusCode, 503, "/ping 503 while not ready");
  setReady(true);
});

t.test("a request exactly as Python's requests sends it, over a socket", async (t) => {
  const e = servedFolders(FLAVORS).find((f) => f.folder === "xgboost-classifier-ubj") as MlflowExpected;
  const { app, close } = await testApp(["--model", mlflowFolder(e.folder), "--threads", "1"]);
  t.teardown(close);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as { port: number };
  // requests.post(url, data=json.dumps(payload), headers={"Content-Type": "application/json"})
  const answer = await rawRequest(
    port,
    rawPost("/invocations", e.request_split, {
      "User-Agent": "python-requests/2.31.0",
      "Accept-Encoding": "gzip, deflate",
      Accept: "*/*",
      Connection: "keep-alive",
      "Content-Type": "application/json",
    }),
  );
  t.equal(answer.status, 200);
  t.same(
    JSON.parse(answer.body),
    { predictions: e.predictions },
    "response.json()['predictions'] as MLflow answered",
  );
});

t.test("a plain model file answers /invocations too, by its feature names", async (t) => {
  const { app, close, served } = await testApp(["--threads", "1"]);
  t.teardown(close);
  t.equal(mlflowInfoOf(served.model), null);
  const names = served.model.featureNames;
  const r = await app.inject({
    method: "POST",
    url: "/invocations",
    payload: JSON.stringify({ dataframe_split: { columns: names, data: [[180, 80, 44]] } }),
    headers: JSON_TYPE,
  });
  const predict = await app.inject({
    method: "POST",
    url: "/predict",
    payload: { instances: [[180, 80, 44]] },
  });
  t.equal(r.statusCode, 200);
  t.same(r.json().predictions, predict.json().predictions, "the same answer as /predict");
  t.equal((await app.inject("/version")).statusCode, 200);
});
