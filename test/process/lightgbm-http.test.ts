import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { testApp } from "../helpers/app.js";
import { forestdAsync as forestd } from "../helpers/cli.js";
import {
  type LightGbmExpected,
  type LightGbmFixture,
  lightgbmFixtures,
} from "../helpers/lightgbm-fixtures.js";

const json = (body: string) => JSON.parse(body) as Record<string, unknown>;
const byName = new Map(lightgbmFixtures().map((f) => [f.name, f]));

/** LightGBM's per-row answer as forestd writes it: a number, or an array when several per row. */
function perRow(values: readonly number[], width: number): (number | number[])[] {
  return Array.from({ length: values.length / width }, (_, r) =>
    width === 1 ? values[r] : values.slice(r * width, (r + 1) * width),
  );
}

/** The fixture's model as a file (the large one is committed gzipped). */
function modelPath(f: LightGbmFixture): string {
  if (!f.path.endsWith(".gz")) return f.path;
  const file = join(mkdtempSync(join(tmpdir(), "forestd-lgb-")), "model.txt");
  writeFileSync(file, f.bytes());
  return file;
}

function classesOf(e: LightGbmExpected): number[] {
  const w = e.predict_width;
  return perRow(e.predict, w).map((p) =>
    typeof p === "number" ? (p > 0.5 ? 1 : 0) : p.indexOf(Math.max(...p)),
  );
}

for (const name of [...byName.keys()].filter((n) => n !== "linear_tree" && n !== "pandas_categorical")) {
  const f = byName.get(name)!;
  const e = f.expected;
  t.test(`HTTP: ${name}`, async (t) => {
    const { app, close } = await testApp([], {
      MODEL_PATH: modelPath(f),
      MODEL_NAME: "m",
      WORKER_THREADS: "1",
    });
    t.teardown(close);
    const post = (url: string, payload: unknown) =>
      app.inject({
        method: "POST",
        url,
        payload: JSON.stringify(payload),
        headers: { "content-type": "application/json" },
      });
    const rows = e.rows;
    const width = e.predict_width;

    const plain = await post("/predict", { instances: rows });
    t.equal(plain.statusCode, 200);
    t.same(
      json(plain.body).predictions,
      perRow(e.predict, width),
      "/predict: LightGBM's predict, bit for bit",
    );
    const margin = await post("/predict?output=margin", { instances: rows });
    t.same(
      json(margin.body).predictions,
      perRow(e.raw_score, width),
      "?output=margin: raw_score, bit for bit",
    );
    const leaf = await post("/predict?output=leaf", { instances: rows });
    t.equal(leaf.statusCode, 200);
    t.same((json(leaf.body).predictions as number[][]).flat(), e.pred_leaf, "?output=leaf: pred_leaf");
    const model = json((await app.inject({ method: "GET", url: "/model" })).body);
    const names = model.features as string[];
    const bare = Object.fromEntries(names.map((n, i) => [n, rows[3][i]]));
    const single = await post("/predict", bare);
    t.same(json(single.body).prediction, perRow(e.predict, width)[3], "a bare row by name");

    const classifier = e.objective?.startsWith("binary") || e.objective?.startsWith("multiclass");
    const proba = await post("/predict?output=proba", { instances: rows });
    const label = await post("/predict?output=label", { instances: rows });
    if (classifier) {
      const expectedProba = width === 1 ? e.predict.map((p) => [1 - p, p]) : perRow(e.predict, width);
      t.same(json(proba.body).predictions, expectedProba, "?output=proba: every class's probability");
      t.same(json(label.body).predictions, classesOf(e), "?output=label: LGBMClassifier.predict's classes");
    } else {
      t.equal(proba.statusCode, 400, "?output=proba on a regressor or ranker: 400");
      t.equal(label.statusCode, 400, "?output=label too");
    }
    // SHAP contributions (the 500-tree model's first 40 rows: its TreeSHAP walk is plain JavaScript).
    const explained = name === "large_500x63" ? 40 : rows.length;
    const contribWidth = e.pred_contrib!.length / rows.length;
    const truthContribs = e.pred_contrib!.slice(0, explained * contribWidth);
    const contribs = await post("/predict?output=contribs", { instances: rows.slice(0, explained) });
    t.equal(contribs.statusCode, 200, contribs.body.slice(0, 200));
    t.same(
      (json(contribs.body).predictions as (number[] | number[][])[]).flat(2),
      truthContribs,
      "?output=contribs: LightGBM's pred_contrib, bit for bit (float64)",
    );
    const interactions = await post("/predict?output=interactions", { instances: rows.slice(0, 1) });
    t.equal(interactions.statusCode, 400, "?output=interactions: LightGBM has none");

    const numFeatures = rows[0].length;
    const infer = await post("/v2/models/m/infer", {
      inputs: [{ name: "x", shape: [rows.length, numFeatures], datatype: "FP64", data: rows.flat() }],
    });
    t.equal(infer.statusCode, 200);
    const [output] = json(infer.body).outputs as {
      name: string;
      datatype: string;
      shape: number[];
      data: number[];
    }[];
    t.equal(output.datatype, "FP64", "OIP answers FP64");
    t.same(output.data, e.predict, "OIP predict: LightGBM's predict, bit for bit");
    const oipMargin = await post("/v2/models/m/infer", {
      inputs: [{ name: "x", shape: [rows.length, numFeatures], datatype: "FP64", data: rows.flat() }],
      parameters: { output: "margin" },
    });
    t.same(
      (json(oipMargin.body).outputs as { data: number[] }[])[0].data,
      e.raw_score,
      "OIP margin: raw_score",
    );
    const oipContribs = await post("/v2/models/m/infer", {
      inputs: [
        {
          name: "x",
          shape: [explained, numFeatures],
          datatype: "FP64",
          data: rows.slice(0, explained).flat(),
        },
      ],
      outputs: [{ name: "contribs" }, { name: "margin" }],
    });
    t.equal(oipContribs.statusCode, 200, oipContribs.body.slice(0, 200));
    const [contribsTensor, marginTensor] = json(oipContribs.body).outputs as {
      name: string;
      datatype: string;
      shape: number[];
      data: number[];
    }[];
    t.match(contribsTensor, { name: "contribs", datatype: "FP64" }, "OIP contribs: an FP64 tensor");
    t.same(
      contribsTensor.shape,
      [explained, ...(width > 1 ? [width] : []), numFeatures + 1],
      "[N, classes, features + 1]",
    );
    t.same(contribsTensor.data, truthContribs, "OIP contribs: LightGBM's pred_contrib, bit for bit");
    t.same(marginTensor.data, e.raw_score.slice(0, explained * width), "beside the margins");

    t.equal(model.format, "lightgbm");
    t.equal(model.trees, e.num_trees);
    t.match(model.lightgbm, { version: /^v[34]$/, objective: e.objective });
    const meta = json((await app.inject({ method: "GET", url: "/v2/models/m" })).body);
    t.match(meta, { platform: "lightgbm", inputs: [{ datatype: "FP64", shape: [-1, numFeatures] }] });
    t.match(
      (meta.outputs as { name: string }[]).find((o) => o.name === "contribs"),
      { datatype: "FP64", shape: [-1, ...(width > 1 ? [width] : []), numFeatures + 1] },
      "/v2/models/m lists contribs as FP64",
    );
  });
}

t.test("HTTP: pandas_categorical, rows by name with category strings", async (t) => {
  const f = byName.get("pandas_categorical")!;
  const { app, close } = await testApp([], { MODEL_PATH: f.path, MODEL_NAME: "m", WORKER_THREADS: "1" });
  t.teardown(close);
  const r = await app.inject({
    method: "POST",
    url: "/predict",
    payload: JSON.stringify({ instances: f.expected.rows_by_name }),
    headers: { "content-type": "application/json" },
  });
  t.equal(r.statusCode, 200, r.body);
  t.same(
    json(r.body).predictions,
    f.expected.predict,
    "LightGBM's DataFrame predictions, unseen strings as NaN",
  );
  const model = json((await app.inject({ method: "GET", url: "/model" })).body);
  t.match(model.inputs, [
    { name: "height", kind: "numeric", categories: 0 },
    { name: "color", kind: "categorical", categories: 6 },
    { name: "weight", kind: "numeric", categories: 0 },
    { name: "size", kind: "categorical", categories: 4 },
  ]);
});

t.test("HTTP: a linear-tree model is refused at start-up, by name", async (t) => {
  const f = byName.get("linear_tree")!;
  // The model table reports a version it cannot load by its reason (the engine's message).
  await t.rejects(testApp([], { MODEL_PATH: f.path }), {
    message: /cannot load linear_tree\.txt: tree 0 is a linear tree .*forestd does not serve linear trees/,
  });
});

t.test("CLI: predict on every LightGBM fixture equals LightGBM", async (t) => {
  const queue = [...byName.values()].filter((f) => f.name !== "linear_tree");
  const next = async (): Promise<void> => {
    const f = queue.shift();
    if (!f) return;
    const file = modelPath(f);
    const input = JSON.stringify(f.expected.rows);
    const plain = await forestd(["predict", "-m", file], input);
    t.equal(plain.code, 0, `${f.name}: exit 0 ${plain.stderr}`);
    t.same((JSON.parse(plain.stdout) as number[]).flat(), f.expected.predict, `${f.name}: predict`);
    // Margins, leaves and contributions on a sample: each run is mostly Node's start-up.
    if (["binary", "multiclass", "categorical_many", "rf_multiclass", "cli_binary"].includes(f.name)) {
      const [margin, leaf] = await Promise.all([
        forestd(["predict", "-m", file, "--margin"], input),
        forestd(["predict", "-m", file, "-o", "leaf"], input),
      ]);
      t.same((JSON.parse(margin.stdout) as number[]).flat(), f.expected.raw_score, `${f.name}: raw_score`);
      t.same((JSON.parse(leaf.stdout) as number[][]).flat(), f.expected.pred_leaf, `${f.name}: pred_leaf`);
      const contribs = await forestd(["predict", "-m", file, "-o", "contribs"], input);
      t.equal(contribs.code, 0, contribs.stderr);
      t.same(
        (JSON.parse(contribs.stdout) as number[][]).flat(2),
        f.expected.pred_contrib,
        `${f.name}: pred_contrib`,
      );
    }
    return next();
  };
  await Promise.all([next(), next()]);
});

t.test("CLI: inspect a LightGBM file, and refuse a linear one", async (t) => {
  const f = byName.get("pandas_categorical")!;
  const text = await forestd(["inspect", f.path]);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /format: +LightGBM text model .*, written by LightGBM \(model format v4\)/);
  t.match(text.stdout, /objective: +binary sigmoid:1 \(binary\)/);
  t.match(text.stdout, /classes: +2/);
  t.match(text.stdout, /features: +4: height, color, weight, size/);
  t.match(text.stdout, /lightgbm: +model format v4, boosting gbdt/);
  t.match(text.stdout, /iterations: +12 × 1 tree/);
  t.match(text.stdout, /categorical: +color, size/);
  t.match(text.stdout, /pandas: +2 category columns: rows may give their strings/);
  const rf = await forestd(["inspect", "--json", byName.get("rf_multiclass")!.path]);
  t.match(JSON.parse(rf.stdout), {
    format: "lightgbm",
    task: "multiclass",
    classLabels: [0, 1, 2],
    precision: { input: "f64", accumulate: "f64" },
    lightgbm: { boosting: "rf", averageOutput: true, numTreePerIteration: 3, numIterations: 6 },
  });
  const linear = await forestd(["predict", "-m", byName.get("linear_tree")!.path], "[[1,2,3,4,5,6]]");
  t.not(linear.code, 0, "a linear-tree model: non-zero exit");
  t.match(linear.stderr, /linear tree/);
});
