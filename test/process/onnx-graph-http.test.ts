/**
 * ONNX graph fixtures served: /predict with rows by name (strings for string inputs, several graph
 * inputs side by side), ?output=proba / label, OIP infer for one-input graphs (FP32 / FP64) and
 * for several inputs (one tensor per graph input, in its own datatype, BYTES for strings), /model
 * and the CLI (predict with rows by name, inspect) describing inputs, preprocessing nodes,
 * categorical features and what follows the ensemble — every answer equal to onnxruntime-node's
 * recorded outputs on the same file.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { testApp } from "../helpers/app.js";
import { ROOT } from "../helpers/fixtures.js";
import { type GraphFixture, graphFixtures, rowByName } from "../helpers/onnx-graph-fixtures.js";

const CLI = join(ROOT, "dist", "cli", "forestd.js");
const json = (body: string) => JSON.parse(body) as Record<string, unknown>;
const byName = new Map(graphFixtures().map((f) => [f.name, f]));

/** onnxruntime's scores as one entry per row (a row array when several columns). */
function truthRows(f: GraphFixture): (number | string)[][] {
  const { dims, data } = f.expected.onnxruntime[f.scoresOutput];
  const width = dims[1] ?? 1;
  return Array.from({ length: dims[0] }, (_, r) => data.slice(r * width, (r + 1) * width));
}

for (const name of [
  "coltrans_num_str",
  "coltrans_ordinal_int64",
  "lgbm_multiclass_cat_many",
  "rf_regressor_double",
  "post_softmax",
  "v5_member_double",
  "gb_binary_double",
]) {
  const f = byName.get(name)!;
  t.test(`HTTP: ${name}`, async (t) => {
    const { app, close } = await testApp([], { MODEL_PATH: f.path, MODEL_NAME: "m", WORKER_THREADS: "1" });
    t.teardown(close);
    const rows = f.expected.rows.map(rowByName);
    const post = (url: string, payload: unknown) =>
      app.inject({
        method: "POST",
        url,
        payload: JSON.stringify(payload),
        headers: { "content-type": "application/json" },
      });
    const scores = truthRows(f);
    const classifier = f.labelOutput !== null;

    if (classifier) {
      const proba = await post("/predict?output=proba", { instances: rows });
      t.equal(proba.statusCode, 200, proba.body.slice(0, 200));
      t.same(json(proba.body).predictions, scores, "?output=proba: onnxruntime's probabilities, bit for bit");
      const label = await post("/predict?output=label", { instances: rows });
      t.same(
        json(label.body).predictions,
        f.expected.onnxruntime[f.labelOutput!].data,
        "?output=label: onnxruntime's labels",
      );
    }
    const plain = await post("/predict", { instances: rows });
    t.equal(plain.statusCode, 200, plain.body.slice(0, 200));
    const expected = scores.map((s) => (classifier && s.length === 2 ? s[1] : s.length === 1 ? s[0] : s));
    t.same(json(plain.body).predictions, expected, "/predict by name: onnxruntime's scores");
    if (!Array.isArray(rows[0])) {
      const single = await post("/predict", rows[0]);
      t.same(json(single.body).prediction, expected[0], "a bare row by name");
    }

    if (f.expected.inputs.length === 1 && f.expected.inputs[0].type !== "string") {
      const input = f.expected.inputs[0];
      const flat = (f.expected.rows as (number | null)[][]).flat();
      const infer = await post("/v2/models/m/infer", {
        inputs: [
          {
            name: input.name,
            shape: [rows.length, input.width],
            datatype: input.type === "double" ? "FP64" : "FP32",
            data: flat,
          },
        ],
      });
      t.equal(infer.statusCode, 200, infer.body.slice(0, 200));
      const outputs = json(infer.body).outputs as { name: string; data: unknown[] }[];
      for (const o of outputs)
        t.same(o.data, f.expected.onnxruntime[o.name].data, `OIP ${o.name}: onnxruntime's data`);
    }

    const model = json((await app.inject({ method: "GET", url: "/model" })).body);
    t.equal(model.format, "onnx");
    const onnx = model.onnx as { inputs: { name: string }[]; preprocessing: string[] };
    t.same(
      onnx.inputs.map((i) => i.name),
      f.expected.inputs.map((i) => i.name),
      "/model lists the graph inputs",
    );
  });
}

/** The OIP datatype onnxruntime's tensor type is sent as. */
const DATATYPE = { float: "FP32", double: "FP64", int64: "INT64", string: "BYTES" } as const;

/** One OIP tensor per graph input, [N, width], data flat; `nested`: a row's values as an array. */
function graphTensors(f: GraphFixture, nested = false) {
  const rows = f.expected.rows as Record<string, unknown>[];
  return f.expected.inputs.map((input) => {
    const column = rows.map((r) => r[input.name]);
    return {
      name: input.name,
      datatype: DATATYPE[input.type],
      shape: [rows.length, input.width],
      data: nested ? column.map((v) => (Array.isArray(v) ? v : [v])) : column.flat(),
    };
  });
}

t.test("OIP: one tensor per graph input, each in its own datatype (BYTES for strings)", async (t) => {
  const several = graphFixtures().filter((f) => f.expected.inputs.length > 1);
  t.ok(several.length >= 3, `${several.length} fixtures with several graph inputs`);
  for (const f of several) {
    const { app, close } = await testApp([], { MODEL_PATH: f.path, MODEL_NAME: "m", WORKER_THREADS: "1" });
    const post = (payload: unknown) =>
      app.inject({
        method: "POST",
        url: "/v2/models/m/infer",
        payload: JSON.stringify(payload),
        headers: { "content-type": "application/json" },
      });
    const meta = json((await app.inject({ method: "GET", url: "/v2/models/m" })).body);
    t.same(
      meta.inputs,
      f.expected.inputs.map((i) => ({ name: i.name, datatype: DATATYPE[i.type], shape: [-1, i.width] })),
      `${f.name}: /v2/models/m lists the graph's inputs, their datatypes and shapes`,
    );
    const truthNames = Object.keys(f.expected.onnxruntime).sort();
    for (const [how, inputs] of [
      ["in the graph's order", graphTensors(f)],
      ["reversed, rows nested", graphTensors(f, true).reverse()],
    ] as const) {
      const r = await post({ id: "g", inputs });
      t.equal(r.statusCode, 200, `${f.name} ${how}: ${r.body.slice(0, 300)}`);
      const outputs = json(r.body).outputs as { name: string; shape: number[]; data: unknown[] }[];
      t.same(outputs.map((o) => o.name).sort(), truthNames, `${f.name} ${how}: the graph's outputs`);
      for (const o of outputs)
        t.same(o.data, f.expected.onnxruntime[o.name].data, `${f.name} ${how}: ${o.name} is onnxruntime's`);
    }
    const one = graphTensors(f).slice(0, 1);
    const asked = await post({ inputs: graphTensors(f), outputs: [{ name: f.scoresOutput }] });
    t.same(
      (json(asked.body).outputs as { name: string }[]).map((o) => o.name),
      [f.scoresOutput],
      `${f.name}: outputs asked for by name`,
    );
    // Refused with a 400 naming the input: a type onnxruntime would not take, a wrong width.
    for (const [what, change] of [
      [
        "another datatype",
        (x: (typeof one)[number]) => ({ ...x, datatype: x.datatype === "BYTES" ? "FP32" : "BYTES" }),
      ],
      ["another width", (x: (typeof one)[number]) => ({ ...x, shape: [x.shape[0], x.shape[1] + 1] })],
    ] as const) {
      const bad = await post({ inputs: [change(graphTensors(f)[0]), ...graphTensors(f).slice(1)] });
      t.equal(bad.statusCode, 400, `${f.name}, ${what}: 400`);
      t.match(json(bad.body), {
        code: "FORESTD_ERR_INVALID_INPUT",
        error: new RegExp(`"${f.expected.inputs[0].name}"`),
      });
    }
    const twice = await post({ inputs: [...graphTensors(f), graphTensors(f)[0]] });
    t.equal(twice.statusCode, 400, `${f.name}: an input sent twice: 400`);
    await close();
  }
});

t.test("OIP metadata of one-input graphs: the graph input, its type and width", async (t) => {
  for (const f of graphFixtures().filter((g) => g.expected.inputs.length === 1)) {
    const { app, close } = await testApp([], { MODEL_PATH: f.path, MODEL_NAME: "m", WORKER_THREADS: "1" });
    const meta = json((await app.inject({ method: "GET", url: "/v2/models/m" })).body);
    const [input] = f.expected.inputs;
    t.same(
      meta.inputs,
      [{ name: input.name, datatype: DATATYPE[input.type], shape: [-1, input.width] }],
      f.name,
    );
    await close();
  }
});

t.test(
  "/model and inspect describe the graph: inputs, preprocessing, categorical features, nodes after",
  async (t) => {
    const f = byName.get("coltrans_num_str")!;
    const { app, close } = await testApp([], { MODEL_PATH: f.path, MODEL_NAME: "m", WORKER_THREADS: "1" });
    t.teardown(close);
    const model = json((await app.inject({ method: "GET", url: "/model" })).body);
    t.match(model, {
      inputs: [
        { name: "age", kind: "numeric" },
        { name: "income", kind: "numeric" },
        { name: "city", kind: "categorical", categories: 5 },
        { name: "color", kind: "categorical", categories: 3 },
      ],
      onnx: {
        inputs: [
          { name: "age", type: "float", width: 1 },
          { name: "income", type: "float", width: 1 },
          { name: "city", type: "string", width: 1 },
          { name: "color", type: "string", width: 1 },
        ],
        preprocessing: [
          "Concat",
          "Imputer",
          "Scaler",
          "OneHotEncoder",
          "OneHotEncoder",
          "Concat",
          "Reshape",
          "Concat",
        ].map((op) => new RegExp(`^${op}`)),
      },
    });
    const run = (args: string[], input = "") =>
      spawnSync(process.execPath, [CLI, ...args], { input, encoding: "utf8" });
    const inspect = run(["inspect", f.path]);
    t.equal(inspect.status, 0, inspect.stderr);
    t.match(
      inspect.stdout,
      /inputs: +"age" \(float, 1 columns\), "income" \(float, 1 columns\), "city" \(string, 1 columns\)/,
    );
    t.match(inspect.stdout, /pre nodes: +Concat .*→ Imputer .*→ Scaler .*→ OneHotEncoder/);
    const lgbm = run(["inspect", byName.get("lgbm_binary_cat_few")!.path]);
    t.match(lgbm.stdout, /categorical: +features 3/);
    const softmax = run(["inspect", byName.get("post_softmax")!.path]);
    t.match(softmax.stdout, /post nodes: +graph\.node\[1\] .*Softmax/);
  },
);

t.test("CLI predict: rows by name with strings, doubles, several inputs", async (t) => {
  const run = (args: string[], input = "") =>
    spawnSync(process.execPath, [CLI, ...args], { input, encoding: "utf8" });
  for (const name of [
    "coltrans_num_str",
    "coltrans_ordinal_int64",
    "pipe_double_scaler_rf",
    "v5_member_float",
    "post_normalizer_l2",
  ]) {
    const f = byName.get(name)!;
    const rows = f.expected.rows.map(rowByName);
    const out = run(
      ["predict", "-m", f.path, "--output", f.labelOutput ? "proba" : "prediction"],
      JSON.stringify(rows),
    );
    t.equal(out.status, 0, `${name}: exit 0 ${out.stderr}`);
    const got = (JSON.parse(out.stdout) as (number | number[])[]).flat();
    t.same(got, f.expected.onnxruntime[f.scoresOutput].data, `${name}: CLI output equals onnxruntime's`);
  }
});
