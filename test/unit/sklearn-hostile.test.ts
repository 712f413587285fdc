/**
 * The hostile scikit-learn files (scripts/make_sklearn_fixtures.py writes them from raw opcodes):
 * each refused with the right FORESTD_ERR_MODEL_* code and a message naming what and where, in
 * bounded time, with nothing executed: the file the attacks would create never appears. A
 * `__proto__` / `constructor` key in an estimator's state is only data: the model loads and
 * answers as scikit-learn did, and no prototype changes.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { ModelError } from "../../model/errors.js";
import { evaluateForest } from "../../model/forest/evaluate.js";
import { sklearnFormat } from "../../model/formats/sklearn/index.js";
import { sklearnHead } from "../../model/heads/sklearn.js";
import { rowsToFloat64, SKLEARN_HOSTILE, type SklearnExpected } from "../helpers/sklearn-fixtures.js";

/** The file every command in the hostile set would create (the fixture script's PWNED). */
const PWNED = "/tmp/forestd-sklearn-pwned";

/** Generous: the slowest refusal (the gzip bomb) takes well under a second; this only catches hangs. */
const HANG_MS = 20_000;

const cases: [file: string, code: string, message: RegExp][] = [
  [
    "os_system.pkl",
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /names os\.system \(byte 0\).*not on forestd's allow-list/,
  ],
  ["eval.pkl", "FORESTD_ERR_MODEL_UNSUPPORTED", /names builtins\.eval \(byte \d+\)/],
  ["subprocess.pkl", "FORESTD_ERR_MODEL_UNSUPPORTED", /names subprocess\.check_call \(byte 2\)/],
  ["posix_system_reduce.pkl", "FORESTD_ERR_MODEL_UNSUPPORTED", /names posix\.system/],
  [
    "nested_os_system.joblib",
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /GLOBAL at byte \d+ \(in an object array's nested pickle\): the pickle names posix\.system \(byte \d+\)/,
  ],
  ["custom_class.pkl", "FORESTD_ERR_MODEL_UNSUPPORTED", /names mypackage\.models\.MyForest/],
  ["shape_2_40.pkl", "FORESTD_ERR_MODEL_TOO_LARGE", /BUILD at byte \d+: an array of shape \(1099511627776\)/],
  ["wrapper_2_40.joblib", "FORESTD_ERR_MODEL_TOO_LARGE", /shape \(1099511627776\) has more than/],
  [
    "bomb.joblib.gz",
    "FORESTD_ERR_MODEL_TOO_LARGE",
    /gzip-compressed file \(\d+ bytes\) decompresses to more than \d+ bytes: refused as a compression bomb/,
  ],
  [
    "bomb.joblib.bz2",
    "FORESTD_ERR_MODEL_TOO_LARGE",
    /bz2-compressed file \(\d+ bytes\) decompresses to more than \d+ bytes: refused as a compression bomb/,
  ],
  [
    "nested_lists.pkl",
    "FORESTD_ERR_MODEL_TOO_LARGE",
    /EMPTY_LIST at byte \d+: the pickle stack holds more than 65536 values/,
  ],
  ["memo_out_of_range.pkl", "FORESTD_ERR_MODEL_SYNTAX", /BINGET at byte 5: memo index 200 was never stored/],
  ["unknown_opcode.pkl", "FORESTD_ERR_MODEL_SYNTAX", /at byte 3: unknown opcode 0xff/],
  ["truncated.pkl", "FORESTD_ERR_MODEL_SYNTAX", /SHORT_BINUNICODE at byte 2: needs 16 bytes/],
  ["persid.pkl", "FORESTD_ERR_MODEL_UNSUPPORTED", /PERSID at byte 2: persistent ids/],
  ["ext1.pkl", "FORESTD_ERR_MODEL_UNSUPPORTED", /EXT1 at byte 2: extension codes/],
  ["next_buffer.pkl", "FORESTD_ERR_MODEL_UNSUPPORTED", /NEXT_BUFFER at byte 2: out-of-band buffers/],
  [
    "tree_cycle.joblib",
    "FORESTD_ERR_MODEL_INVALID",
    /DecisionTreeClassifier\.tree_ node \d+: its left child 0 is outside 1\.\.\d+|reached twice/,
  ],
  [
    "children_out_of_range.joblib",
    "FORESTD_ERR_MODEL_INVALID",
    /DecisionTreeClassifier\.tree_ node 0: its right child 1000000 is outside 1\.\.\d+/,
  ],
  [
    "negative_feature.joblib",
    "FORESTD_ERR_MODEL_INVALID",
    /DecisionTreeClassifier\.tree_ node 0 splits on feature -5, but the estimator has 3 features/,
  ],
  [
    "values_mismatch.joblib",
    "FORESTD_ERR_MODEL_INVALID",
    /DecisionTreeClassifier\.tree_\.values has shape \(\d+, 1, 2\); \d+ nodes/,
  ],
  [
    "node_count_mismatch.joblib",
    "FORESTD_ERR_MODEL_INVALID",
    /DecisionTreeClassifier\.tree_: node_count is \d+ but the node array holds \d+ nodes/,
  ],
  [
    "skops_os_system.skops",
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /names os\.system \(byte 0\).*not on forestd's allow-list/,
  ],
  [
    "skops_function_node.skops",
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /skops schema: schema \(os\.system\) uses loader FunctionNode/,
  ],
  [
    "skops_bomb.skops",
    "FORESTD_ERR_MODEL_TOO_LARGE",
    /zip: the entries decompress to more than \d+ bytes: refused as a compression bomb/,
  ],
  [
    "logistic_regression.joblib",
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /scikit-learn's LogisticRegression .*forestd does not score; it reads DecisionTreeClassifier, .*RandomForestClassifier/,
  ],
  ["pipeline_logistic.joblib", "FORESTD_ERR_MODEL_UNSUPPORTED", /LogisticRegression/],
  [
    "svc.joblib",
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /scikit-learn's SVC \(sklearn\.svm\._classes\.SVC, byte \d+\), which forestd does not score; it reads/,
  ],
  [
    "pipeline_column_transformer.joblib",
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /scikit-learn's ColumnTransformer .*which forestd does not score; it reads .*Pipelines of StandardScaler/,
  ],
];

t.notOk(
  existsSync(PWNED),
  `${PWNED} does not exist before the test (remove it if a previous run of something else left it)`,
);

for (const [file, code, message] of cases) {
  t.test(file, async (t) => {
    const bytes = new Uint8Array(readFileSync(join(SKLEARN_HOSTILE, file)));
    const started = performance.now();
    let error: unknown = null;
    try {
      sklearnFormat.read(bytes);
    } catch (e) {
      error = e;
    }
    const ms = performance.now() - started;
    t.ok(error instanceof ModelError, `refused with a ModelError (got ${String(error)})`);
    t.equal((error as ModelError).code, code, "the code");
    t.match((error as Error).message, message, "the message names what and where");
    t.ok(ms < HANG_MS, `refused in ${ms.toFixed(0)} ms`);
    t.notOk(existsSync(PWNED), "nothing ran: the attack's file does not exist");
  });
}

t.test("__proto__ and constructor keys in an estimator's state are plain data", async (t) => {
  const expected = JSON.parse(
    readFileSync(join(SKLEARN_HOSTILE, "proto_keys.expected.json"), "utf8"),
  ) as SklearnExpected;
  const forest = sklearnFormat.read(new Uint8Array(readFileSync(join(SKLEARN_HOSTILE, expected.model))));
  const head = sklearnHead(forest, forest.head);
  const n = expected.rows.length;
  const margins = head.finish(evaluateForest(forest, rowsToFloat64(expected.rows), n), n);
  const proba = new Float64Array(n * head.numOutputs);
  head.predict(margins, n, proba);
  t.same([...proba], expected.predict_proba!.flat(), "answers as scikit-learn did");
  t.equal(({} as Record<string, unknown>).polluted, undefined, "Object.prototype untouched");
  t.equal(Object.getPrototypeOf({}), Object.prototype);
});

t.test("sniff tells scikit-learn files from others", async (t) => {
  t.ok(sklearnFormat.sniff(new Uint8Array([0x80, 0x04, 0x95])), "pickle protocol 4");
  t.ok(sklearnFormat.sniff(new TextEncoder().encode("cos\nsystem\n")), "protocol 0 GLOBAL");
  t.ok(sklearnFormat.sniff(new Uint8Array([0x1f, 0x8b, 8])), "gzip");
  t.notOk(sklearnFormat.sniff(new TextEncoder().encode('{"learner": {}}')), "XGBoost JSON");
  t.notOk(sklearnFormat.sniff(new Uint8Array([0x08, 0x07, 0x12])), "ONNX protobuf");
});
