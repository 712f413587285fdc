/**
 * MLflow model folders: MLmodel read as MLflow 2.11 writes it, the flavor forestd serves chosen as
 * `mlflow models serve` would load it, the signature held against the model, and everything
 * forestd cannot serve refused at load with a ModelError naming it. Hostile MLmodel files and
 * bundles: a ModelError, never another exception.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import t from "tap";
import { loadModel, loadServable, ModelError, mlflowInfoOf } from "../../model/index.js";
import {
  isMlflowBundle,
  loadMlflowBundle,
  packMlflowBundle,
  packMlflowFolderSync,
  parseMLmodel,
  planFlavor,
  unpackMlflowBundle,
} from "../../model/mlflow/index.js";
import { rowsArray } from "../../model/rows.js";
import { pyfuncAnswers } from "../../workers/http/mlflow/answers.js";
import { FLAVORS, mlflowFolder, refusedFolders, servedFolders } from "../helpers/mlflow-fixtures.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const mlmodelText = (folder: string) => readFileSync(join(mlflowFolder(folder), "MLmodel"), "utf8");

t.test("MLmodel as MLflow 2.11 writes it", async (t) => {
  const m = parseMLmodel(mlmodelText("xgboost-booster-binary"));
  t.equal(m.mlflowVersion, "2.11.3");
  t.match(m.runId, /^[0-9a-f]{32}$/);
  t.equal(m.artifactPath, "model");
  t.equal(m.utcTimeCreated, "2024-04-02 09:30:15.123456", "a quoted timestamp stays the string MLflow wrote");
  t.same(Object.keys(m.flavors).sort(), ["python_function", "xgboost"]);
  t.same(m.inputExample, { artifactPath: "input_example.json", type: "dataframe", pandasOrient: "split" });
  const inputs = m.signature?.inputs;
  t.equal(inputs?.kind, "columns");
  t.same(
    inputs?.specs.map((s) => [s.name, s.kind === "column" ? s.type : s.dtype]),
    [
      ["age", "long"],
      ["income", "double"],
      ["debt_ratio", "double"],
      ["tenure_years", "double"],
      ["score", "double"],
    ],
  );
  t.equal(m.signature?.outputs?.kind, "tensors");
  t.equal(m.signature?.params, null);
  t.same(parseMLmodel(mlmodelText("xgboost-booster-multiclass-json")).metadata, {
    team: "risk",
    stage: "canary",
  });
  const tensor = parseMLmodel(mlmodelText("xgboost-booster-tensor"));
  t.same(tensor.signature?.inputs?.specs, [{ kind: "tensor", name: null, dtype: "float64", shape: [-1, 5] }]);
  t.equal(tensor.inputExample?.type, "ndarray");
});

t.test("the flavor `mlflow models serve` would load, and its model file", async (t) => {
  const plans: Record<string, [string, string, string]> = {
    "xgboost-booster-binary": ["xgboost", "model.xgb", "predictions"],
    "xgboost-booster-multiclass-json": ["xgboost", "model.json", "predictions"],
    "xgboost-classifier-ubj": ["xgboost", "model.ubj", "class-indices"],
    "xgboost-regressor-nosig": ["xgboost", "model.json", "predictions"],
    "sklearn-pipeline-cloudpickle": ["sklearn", "model.pkl", "prediction"],
    "sklearn-forest-pickle": ["sklearn", "model.pkl", "prediction"],
    "sklearn-forest-proba": ["sklearn", "model.pkl", "probabilities"],
    "lightgbm-booster-binary": ["lightgbm", "model.lgb", "predictions"],
  };
  for (const [folder, [flavor, file, answer]] of Object.entries(plans)) {
    const plan = planFlavor(parseMLmodel(mlmodelText(folder)));
    t.same([plan.flavor, plan.dataFile, plan.answer], [flavor, file, answer], folder);
  }
  const sk = planFlavor(parseMLmodel(mlmodelText("sklearn-pipeline-cloudpickle")));
  t.same(sk.details, {
    serialization_format: "cloudpickle",
    predict_fn: "predict",
    sklearn_version: "1.2.1",
  });
  t.ok(planFlavor(parseMLmodel(mlmodelText("xgboost-classifier-ubj"))).bestIterationOnly);
});

t.test("every folder loads and scores as its flavor's pyfunc did", async (t) => {
  const folders = servedFolders(FLAVORS);
  t.ok(folders.length >= 8, `${folders.length} folders`);
  for (const e of folders) {
    const { model, mlflow } = loadServable(mlflowFolder(e.folder));
    const rows = e.rows.length;
    // Rows in the signature's order, in the array type the model takes (float64 for scikit-learn).
    const values = rowsArray(model, rows * model.numFeature);
    e.rows.flat().forEach((v, i) => {
      values[i] = v === null ? Number.NaN : v;
    });
    const answers = pyfuncAnswers(
      model,
      mlflow?.answer ?? "prediction",
      model.predictBatch(values, rows),
      rows,
    );
    t.same(
      answers,
      e.predictions,
      `${e.folder}: ${rows} answers as ${e.flavor} gave them (${mlflow?.answer})`,
    );
    if (mlflow?.answer === "class-indices")
      t.equal(mlflow.bestIteration, e.best_iteration, `${e.folder}: best iteration`);
    t.equal(mlflow?.runId, parseMLmodel(mlmodelText(e.folder)).runId, `${e.folder}: run id`);
  }
  const clf = loadServable(mlflowFolder("xgboost-classifier-ubj"));
  const all = loadModel(join(mlflowFolder("xgboost-classifier-ubj"), "model.ubj"));
  t.ok(
    clf.model.numTrees < all.numTrees,
    `the classifier keeps ${clf.model.numTrees} of ${all.numTrees} trees (early stopping)`,
  );
  t.same(
    loadServable(mlflowFolder("xgboost-booster-binary")).mlflow?.inputs.columns.map((c) => c.name),
    ["age", "income", "debt_ratio", "tenure_years", "score"],
    "a binary file keeps no names: the signature names the columns",
  );
  t.same(loadServable(mlflowFolder("xgboost-booster-tensor")).mlflow?.inputs.match, "positions");
  // The facts ride in the Forest's provenance: plain data, cloned to threads as it is.
  const carried = loadModel(mlflowFolder("sklearn-pipeline-cloudpickle"));
  t.same(
    mlflowInfoOf(carried),
    loadServable(mlflowFolder("sklearn-pipeline-cloudpickle")).mlflow,
    "the model carries its facts",
  );
  t.same(structuredClone(carried.packaging), carried.packaging, "as data a structured clone keeps");
  t.same(loadServable(mlflowFolder("xgboost-regressor-nosig")).mlflow?.inputs.from, "model");
});

t.test("folders forestd cannot serve are refused, by name", async (t) => {
  const shown = refusedFolders();
  t.ok(shown.length >= 5, `${shown.length} folders`);
  for (const r of shown) {
    const error = (() => {
      try {
        loadServable(mlflowFolder(r.folder));
      } catch (e) {
        return e as ModelError;
      }
      return null;
    })();
    t.ok(error instanceof ModelError, `${r.folder}: a ModelError`);
    t.equal(error?.code, "FORESTD_ERR_MODEL_UNSUPPORTED", `${r.folder}: unsupported`);
    for (const word of r.refused) t.match(error?.message, word, `${r.folder}: names ${word}`);
  }
});

/** The XGBoost binary folder with its MLmodel edited. */
function withMLmodel(edit: (text: string) => string, folder = "xgboost-booster-binary"): Uint8Array {
  const dir = mlflowFolder(folder);
  const plan = planFlavor(parseMLmodel(mlmodelText(folder)));
  return packMlflowBundle([
    ["MLmodel", new TextEncoder().encode(edit(mlmodelText(folder)))],
    [plan.dataFile, readFileSync(join(dir, plan.dataFile))],
  ]);
}

const SIG = '\'[{"type": "long", "name": "age", "required": true}';

t.test("bad MLmodel files and disagreeing signatures are refused, naming what and where", async (t) => {
  const cases: [string, () => unknown, string, RegExp][] = [
    [
      "not YAML",
      () => parseMLmodel("flavors: [xgboost\n  data: x"),
      "FORESTD_ERR_MODEL_SYNTAX",
      /MLmodel is not YAML at line \d+, column \d+/,
    ],
    [
      "not UTF-8",
      () => parseMLmodel(new Uint8Array([0x66, 0xff, 0xfe])),
      "FORESTD_ERR_MODEL_SYNTAX",
      /not UTF-8/,
    ],
    [
      "a list, not a mapping",
      () => parseMLmodel("- a\n- b\n"),
      "FORESTD_ERR_MODEL_INVALID",
      /must be a YAML mapping/,
    ],
    [
      "no flavors",
      () => parseMLmodel("run_id: abc\n"),
      "FORESTD_ERR_MODEL_INVALID",
      /flavors must be a mapping/,
    ],
    [
      "too large",
      () => parseMLmodel(`a: ${"x".repeat(1 << 20)}`),
      "FORESTD_ERR_MODEL_TOO_LARGE",
      /at most 1048576/,
    ],
    [
      "an alias bomb",
      () =>
        parseMLmodel(
          `a: &a [x, x, x, x, x, x, x, x]\n${Array.from({ length: 80 }, (_, i) => `b${i}: [*a, *a, *a, *a]`).join("\n")}\nflavors: {}`,
        ),
      "FORESTD_ERR_MODEL_SYNTAX",
      /alias/i,
    ],
    [
      "a signature that is not JSON",
      () => loadMlflowBundle(withMLmodel((s) => s.replace(/inputs: '\[/, "inputs: '[[oops "))),
      "FORESTD_ERR_MODEL_SYNTAX",
      /signature\.inputs is not JSON/,
    ],
    [
      "an unknown column type",
      () => loadMlflowBundle(withMLmodel((s) => s.replace('"type": "long"', '"type": "decimal"'))),
      "FORESTD_ERR_MODEL_INVALID",
      /signature\.inputs\[0\]: type must be one of/,
    ],
    [
      "a signature with a column the model lacks",
      () =>
        loadMlflowBundle(
          withMLmodel((s) => s.replace(SIG, `${SIG}, {"type": "double", "name": "zip", "required": true}`)),
        ),
      "FORESTD_ERR_MODEL_INVALID",
      /the MLflow signature has 6 input columns .*but the model takes 5/,
    ],
    [
      "a signature naming other features than the model's",
      () =>
        loadMlflowBundle(
          withMLmodel((s) => s.replace('"name": "income"', '"name": "salary"'), "xgboost-classifier-ubj"),
        ),
      "FORESTD_ERR_MODEL_INVALID",
      /disagrees with the model's features: input 1 is "salary" in the signature, "income" in the model/,
    ],
    [
      "a string column where the model reads numbers",
      () => loadMlflowBundle(withMLmodel((s) => s.replace('"type": "long"', '"type": "string"'))),
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      /declares input "age" as string, but the model reads numbers/,
    ],
    [
      "a datetime column",
      () => loadMlflowBundle(withMLmodel((s) => s.replace('"type": "long"', '"type": "datetime"'))),
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      /declares input "age" as datetime/,
    ],
    [
      "a tensor of the wrong width",
      () => loadMlflowBundle(withMLmodel((s) => s.replace("[-1, 5]", "[-1, 7]"), "xgboost-booster-tensor")),
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      /one unnamed tensor of shape \(-1, 5\)/,
    ],
    [
      "a tensor of strings",
      () =>
        loadMlflowBundle(
          withMLmodel(
            (s) => s.replace('"dtype": "float64", "shape": [-1, 5]', '"dtype": "str", "shape": [-1, 5]'),
            "xgboost-booster-tensor",
          ),
        ),
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      /input tensor is of dtype str/,
    ],
    [
      "declared params",
      () =>
        loadMlflowBundle(
          withMLmodel((s) =>
            s.replace(
              "params: null",
              `params: '[{"name": "k", "type": "long", "default": 1, "shape": null}]'`,
            ),
          ),
        ),
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      /declares params/,
    ],
    [
      "a model file outside the folder",
      () =>
        planFlavor(
          parseMLmodel(
            mlmodelText("xgboost-booster-binary").replaceAll("data: model.xgb", "data: ../../etc/passwd"),
          ),
        ),
      "FORESTD_ERR_MODEL_INVALID",
      /flavors\.xgboost\.data "\.\.\/\.\.\/etc\/passwd" is not a path inside the model folder/,
    ],
    [
      "a model file the folder lacks",
      () => loadMlflowBundle(withMLmodel((s) => s.replaceAll("data: model.xgb", "data: model2.xgb"))),
      "FORESTD_ERR_MODEL_READ",
      /names model2\.xgb, which the model folder does not hold/,
    ],
    [
      "an XGBoost model_class forestd does not serve",
      () =>
        planFlavor(
          parseMLmodel(
            mlmodelText("xgboost-booster-binary").replace(
              "xgboost.core.Booster",
              "xgboost.dask.DaskXGBClassifier",
            ),
          ),
        ),
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      /model_class is xgboost\.dask\.DaskXGBClassifier/,
    ],
    [
      "a LightGBM scikit-learn model",
      () =>
        planFlavor(
          parseMLmodel(
            mlmodelText("lightgbm-booster-binary").replace(
              "lightgbm.basic.Booster",
              "lightgbm.sklearn.LGBMClassifier",
            ),
          ),
        ),
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      /lightgbm\.sklearn\.LGBMClassifier.*mlflow\.lightgbm\.log_model\(model\.booster_/,
    ],
    [
      "a predict_fn forestd does not answer",
      () =>
        planFlavor(
          parseMLmodel(
            mlmodelText("sklearn-pipeline-cloudpickle").replace("predict_fn: predict", "predict_fn: score"),
          ),
        ),
      "FORESTD_ERR_MODEL_UNSUPPORTED",
      /pyfunc calls score; forestd answers predict and predict_proba/,
    ],
    [
      "an XGBoost flavor holding a JSON file of another kind",
      () =>
        loadMlflowBundle(
          packMlflowBundle([
            ["MLmodel", new TextEncoder().encode(mlmodelText("xgboost-booster-binary"))],
            ["model.xgb", new TextEncoder().encode('{"a": 1}')],
          ]),
        ),
      "FORESTD_ERR_MODEL_INVALID",
      /^model\.xgb \(the xgboost flavor's model\): learner\.learner is missing|model\.xgb \(the xgboost flavor's model\): model\.learner is missing/,
    ],
  ];
  for (const [what, run, code, message] of cases) t.throws(run, { name: "ModelError", code, message }, what);
});

t.test(
  "a bundle holds MLmodel and the model file, nothing else, and packs the same every time",
  async (t) => {
    const dir = mlflowFolder("xgboost-classifier-ubj");
    const bundle = packMlflowFolderSync(dir);
    t.ok(isMlflowBundle(bundle));
    t.same(
      [...unpackMlflowBundle(bundle).keys()],
      ["MLmodel", "model.ubj"],
      "no input example, no conda.yaml",
    );
    t.same(packMlflowFolderSync(dir), bundle, "deterministic");
    t.equal(
      loadModel(bundle).numTrees,
      loadServable(dir).model.numTrees,
      "loadModel reads a bundle as the folder",
    );
    const hostile: [string, Uint8Array, RegExp][] = [
      ["cut short", bundle.subarray(0, 40), /claims \d+ bytes|cut short/],
      [
        "a name length of 2^31",
        (() => {
          const b = Uint8Array.from(bundle);
          new DataView(b.buffer).setUint32(8, 2 ** 31, true);
          return b;
        })(),
        /the name at byte 8 claims 2147483648 bytes/,
      ],
      [
        "a file claiming 2^40 bytes",
        (() => {
          const b = Uint8Array.from(bundle);
          new DataView(b.buffer).setUint32(8 + 4 + 7, 256, true);
          return b;
        })(),
        /"MLmodel" claims 10995116\d+ bytes at byte 19, more than remain/,
      ],
      [
        "the same file twice",
        packMlflowBundle([
          ["MLmodel", new Uint8Array(1)],
          ["MLmodel", new Uint8Array(1)],
        ]),
        /"MLmodel" appears twice/,
      ],
    ];
    for (const [what, bytes, message] of hostile)
      t.throws(
        () => loadMlflowBundle(bytes),
        { name: "ModelError", code: "FORESTD_ERR_MODEL_SYNTAX", message },
        what,
      );
  },
);

t.test(`${RUNS} mutated MLmodel files: a ModelError or a servable model, nothing else`, async (t) => {
  const folders = [
    "xgboost-booster-binary",
    "xgboost-classifier-ubj",
    "xgboost-booster-tensor",
    "sklearn-forest-proba",
  ];
  const texts = folders.map(mlmodelText);
  const unit = fc.integer({ min: 0, max: 999_999 }).map((n) => n / 1_000_000);
  const edit = fc.oneof(
    fc.record({
      kind: fc.constant("flip" as const),
      at: unit,
      char: fc.constantFrom(":", "-", "[", "{", "'", '"', " ", "\n", "\t", "&", "*", "!", "x", "0"),
    }),
    fc.record({ kind: fc.constant("cut" as const), at: unit }),
    fc.record({ kind: fc.constant("dropLine" as const), at: unit }),
  );
  let refused = 0;
  let served = 0;
  await fc.assert(
    fc.property(
      fc.nat({ max: texts.length - 1 }),
      fc.array(edit, { minLength: 1, maxLength: 3 }),
      (which, edits) => {
        let text = texts[which];
        for (const e of edits) {
          const at = Math.floor(e.at * text.length);
          if (e.kind === "flip") text = text.slice(0, at) + e.char + text.slice(at + 1);
          else if (e.kind === "cut") text = text.slice(0, at);
          else {
            const lines = text.split("\n");
            lines.splice(Math.floor(e.at * lines.length), 1);
            text = lines.join("\n");
          }
        }
        try {
          const plan = planFlavor(parseMLmodel(text));
          if (plan.flavor === "xgboost") loadMlflowBundle(withMLmodel(() => text, folders[which]));
          served++;
        } catch (error) {
          if (!(error instanceof ModelError)) throw error;
          refused++;
        }
        return true;
      },
    ),
    { numRuns: RUNS },
  );
  t.ok(refused > 0 && served > 0, `${refused} refused, ${served} planned or loaded`);
});
