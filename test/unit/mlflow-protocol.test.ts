/**
 * MLflow's scoring protocol as pure functions (workers/http/mlflow/): the Content-Type rules, the
 * four JSON forms and CSV read into the model's rows (columns matched, extras dropped, values
 * converted as MLflow's schema enforcement converts them), the pyfunc's answer, and MLflow's
 * errors for everything it refuses — the cases of MLflow's own tests/pyfunc/test_scoring_server.py
 * among them. Every fixture folder's answers are its flavor's own, through every form.
 */

import { join } from "node:path";
import t from "tap";
import { loadModel, loadServable } from "../../model/index.js";
import { pyfuncAnswers } from "../../workers/http/mlflow/answers.js";
import { invocationsMediaType } from "../../workers/http/mlflow/content-type.js";
import {
  type InvocationsModel,
  invocationsModel,
  invocationsRows,
} from "../../workers/http/mlflow/invocations.js";
import { rewritePythonNumbers } from "../../workers/http/mlflow/json-input.js";
import { MlflowContentTypeError, MlflowInputError } from "../../workers/http/mlflow/protocol.js";
import { FLAVORS, type MlflowExpected, mlflowFolder, servedFolders } from "../helpers/mlflow-fixtures.js";

const JSON_TYPE = "application/json";

function served(folder: string): InvocationsModel {
  return invocationsModel(loadServable(mlflowFolder(folder)).model);
}

/** /invocations' answer for a body, as the route computes it (scoring in this thread). */
function invoke(s: InvocationsModel, body: string, contentType = JSON_TYPE): unknown[] {
  const { values, rows } = invocationsRows(Buffer.from(body), contentType, s, JSON.parse);
  return pyfuncAnswers(s.model, s.answer, s.model.predictBatch(values, rows), rows);
}

function refusal(run: () => unknown): { kind: string; code?: string; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof MlflowInputError)
      return { kind: "input", code: error.errorCode, message: error.message };
    if (error instanceof MlflowContentTypeError) return { kind: "415", message: error.message };
    throw error;
  }
  return { kind: "none", message: "" };
}

/** The same rows in each of the protocol's forms (columns shuffled only where names match them). */
function forms(e: MlflowExpected, byName: boolean): Record<string, string> {
  const { columns, rows } = e;
  const records = rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
  const byColumn = Object.fromEntries(columns.map((c, i) => [c, rows.map((r) => r[i])]));
  return {
    dataframe_split: JSON.stringify({ dataframe_split: { columns, data: rows } }),
    ...(byName
      ? {
          "dataframe_split, columns shuffled": JSON.stringify({
            dataframe_split: {
              columns: [...columns].reverse(),
              data: rows.map((r) => [...r].reverse()),
              index: rows.map((_, i) => i),
            },
          }),
        }
      : {}),
    dataframe_records: JSON.stringify({ dataframe_records: records }),
    "instances (records)": JSON.stringify({ instances: records }),
    "inputs (columns)": JSON.stringify({ inputs: byColumn }),
    "inputs (rows)": JSON.stringify({ inputs: rows }),
    "Python client's dataframe_split (NaN)": e.request_split,
  };
}

t.test("every folder answers its flavor's pyfunc in every form", async (t) => {
  const folders = servedFolders(FLAVORS);
  t.ok(folders.length >= 5, `${folders.length} folders`);
  for (const e of folders) {
    const s = served(e.folder);
    for (const [form, body] of Object.entries(forms(e, s.inputs.match === "names")))
      t.same(invoke(s, body), e.predictions, `${e.folder}: ${form}`);
    t.same(invoke(s, e.request_csv, "text/csv"), e.predictions, `${e.folder}: text/csv`);
    // df.to_csv() writes the index as an unnamed first column: dropped where a signature names
    // the columns (without one, the library refuses it, in MLflow and here).
    if (s.inputs.match === "names" && s.inputs.from === "signature")
      t.same(
        invoke(s, e.request_csv_with_index, "text/csv; charset=utf-8"),
        e.predictions,
        `${e.folder}: CSV with the index column`,
      );
  }
});

t.test("Content-Type as MLflow's scoring server reads it", async (t) => {
  const ok: [string, string][] = [
    ["application/json", JSON_TYPE],
    ["application/json; charset=UTF-8", JSON_TYPE],
    ["application/json;charset=utf-8", JSON_TYPE],
    ["text/csv", "text/csv"],
  ];
  for (const [header, media] of ok) t.equal(invocationsMediaType(header), media, header);
  const refused: [string | undefined, RegExp][] = [
    [
      "not_a_supported_content_type",
      /only supports the following content types: Types: \['text\/csv', 'application\/json'\]\. Got 'not_a_supported_content_type'\./,
    ],
    [
      "application/json; something=something",
      /Unrecognized content type parameters: something\. IMPORTANT: The MLflow Model scoring protocol/,
    ],
    ["application/json; charset=latin-1", /^The scoring server only supports UTF-8$/],
    ["text/plain", /Got 'text\/plain'/],
    ["Application/JSON", /Got 'Application\/JSON'/],
    [undefined, /Got 'None'/],
  ];
  for (const [header, message] of refused)
    t.throws(() => invocationsMediaType(header), { name: "MlflowContentTypeError", message }, String(header));
});

t.test("bodies MLflow refuses are refused with its error code and words", async (t) => {
  const s = served("xgboost-booster-binary");
  const e = servedFolders(FLAVORS).find((f) => f.folder === "xgboost-booster-binary") as MlflowExpected;
  const row = e.rows[0];
  const cases: [string, string, string, "BAD_REQUEST" | "INVALID_PARAMETER_VALUE", RegExp][] = [
    [
      "malformed JSON",
      "this is,,,, not valid json",
      JSON_TYPE,
      "BAD_REQUEST",
      /^Failed to parse input from JSON\. Ensure that input is a valid JSON formatted string\./,
    ],
    ["an empty body", "", JSON_TYPE, "BAD_REQUEST", /Failed to parse input from JSON/],
    [
      "a number",
      "1",
      JSON_TYPE,
      "BAD_REQUEST",
      /exactly one of the input fields .*Received unexpected input type '<class 'int'>'/,
    ],
    ["a string", '"1"', JSON_TYPE, "BAD_REQUEST", /exactly one of the input fields/],
    ["a list", "[1]", JSON_TYPE, "BAD_REQUEST", /exactly one of the input fields .*Received a list/],
    [
      "no input field",
      '{"not": "a serialized dataframe"}',
      JSON_TYPE,
      "BAD_REQUEST",
      /exactly one of the input fields .*Received dictionary with input fields: \[\]/,
    ],
    [
      "a typo in the field",
      '{"dataframe_splitt": {"columns": [], "data": []}}',
      JSON_TYPE,
      "BAD_REQUEST",
      /Received dictionary with input fields: \[\]/,
    ],
    [
      "two input fields",
      JSON.stringify({ dataframe_records: [], dataframe_split: { data: [] } }),
      JSON_TYPE,
      "BAD_REQUEST",
      /Received dictionary with input fields: \['dataframe_split', 'dataframe_records'\]\. IMPORTANT/,
    ],
    [
      "dataframe_split and instances",
      JSON.stringify({ dataframe_split: { columns: e.columns, data: [row] }, instances: [row] }),
      JSON_TYPE,
      "BAD_REQUEST",
      /Received dictionary with input fields: \['dataframe_split', 'instances'\]/,
    ],
    [
      "records where split belongs",
      JSON.stringify({ dataframe_split: [{ a: 1 }] }),
      JSON_TYPE,
      "BAD_REQUEST",
      /Dataframe split format must be a dictionary\. Got list\./,
    ],
    [
      "split where records belong",
      JSON.stringify({ dataframe_records: { columns: ["a"], data: [[1]] } }),
      JSON_TYPE,
      "BAD_REQUEST",
      /Dataframe records format must be a list of records\. Got dictionary\./,
    ],
    [
      "an index longer than the data",
      JSON.stringify({ dataframe_split: { index: [1, 2], data: [[1], [2], [3]] } }),
      JSON_TYPE,
      "BAD_REQUEST",
      /Provided dataframe_split field is not a valid dataframe representation in 'split' format/,
    ],
    [
      "an unknown key in dataframe_split",
      JSON.stringify({ dataframe_split: { columns: e.columns, data: [row], dtype: "x" } }),
      JSON_TYPE,
      "BAD_REQUEST",
      /must have 'data' field and optionally 'columns' and 'index' fields\. Got \{'columns', 'data', 'dtype'\}/,
    ],
    [
      "a ragged row",
      JSON.stringify({ dataframe_split: { columns: e.columns, data: [row, row.slice(1)] } }),
      JSON_TYPE,
      "BAD_REQUEST",
      /5 columns passed, passed data had 4 columns \(row 1\)/,
    ],
    [
      "a missing column",
      JSON.stringify({ dataframe_split: { columns: e.columns.slice(1), data: [row.slice(1)] } }),
      JSON_TYPE,
      "INVALID_PARAMETER_VALUE",
      /Failed to enforce schema of data '1 rows x 4 columns' with schema '\['age': long \(required\).*Error: Model is missing inputs \['age'\]\.$/,
    ],
    [
      "a misspelt column",
      JSON.stringify({ dataframe_split: { columns: ["agee", ...e.columns.slice(1)], data: [row] } }),
      JSON_TYPE,
      "INVALID_PARAMETER_VALUE",
      /Model is missing inputs \['age'\]\. Note that there were extra inputs: \['agee'\]/,
    ],
    [
      "text in a double column",
      JSON.stringify({
        dataframe_records: [{ ...Object.fromEntries(e.columns.map((c, i) => [c, row[i]])), income: "a lot" }],
      }),
      JSON_TYPE,
      "BAD_REQUEST",
      /Data is not compatible with model signature\. Failed to convert column income to type 'float64'\. Error: 'could not convert string to float: 'a lot''/,
    ],
    [
      "null in a long column",
      JSON.stringify({ dataframe_split: { columns: e.columns, data: [[null, ...row.slice(1)]] } }),
      JSON_TYPE,
      "BAD_REQUEST",
      /Failed to convert column age to type 'int64'.*Cannot convert non-finite values/,
    ],
    [
      "Infinity",
      `{"dataframe_split": {"columns": ${JSON.stringify(e.columns)}, "data": [[30, Infinity, 1, 1, 600]]}}`,
      JSON_TYPE,
      "BAD_REQUEST",
      /column income to type 'float64'.*infinity/,
    ],
    [
      "CSV: nothing",
      "",
      "text/csv",
      "BAD_REQUEST",
      /Failed to parse input as a Pandas DataFrame\..*No columns to parse from file/,
    ],
    [
      "CSV: a ragged row",
      `${e.columns.join(",")}\n1,2,3,4,5\n1,2,3,4,5,6\n`,
      "text/csv",
      "BAD_REQUEST",
      /Error tokenizing data\. Expected 5 fields in line 3, saw 6/,
    ],
    [
      "CSV: a short row",
      `${e.columns.join(",")}\n1,2,3,4\n`,
      "text/csv",
      "BAD_REQUEST",
      /Expected 5 fields in line 2, saw 4/,
    ],
    [
      "CSV: no header",
      "30,20000,0.5,1,600\n40,30000,0.2,2,700\n",
      "text/csv",
      "INVALID_PARAMETER_VALUE",
      /Model is missing inputs \['age', 'income', 'debt_ratio', 'tenure_years', 'score'\]\. Note that there were extra inputs: \['30', '20000', '0\.5', '1', '600'\] The CSV's first line must name the columns/,
    ],
    [
      "CSV: 1.5 in a long column",
      `${e.columns.join(",")}\n1.5,2,3,4,5\n`,
      "text/csv",
      "BAD_REQUEST",
      /column 'age' \(int64\): invalid literal for an integer: '1\.5'/,
    ],
    [
      "CSV: an unclosed quote",
      `${e.columns.join(",")}\n"1,2,3,4,5\n`,
      "text/csv",
      "BAD_REQUEST",
      /Quote Not Closed/,
    ],
    ["not UTF-8", "\u00ff", "text/csv", "BAD_REQUEST", /not UTF-8/],
  ];
  for (const [what, body, type, code, message] of cases) {
    const bytes = what === "not UTF-8" ? Buffer.from([0xff, 0xfe]) : Buffer.from(body);
    const r = refusal(() => invocationsRows(bytes, type, s, JSON.parse));
    t.equal(r.code, code, `${what}: ${code}`);
    t.match(r.message, message, `${what}: says why`);
  }
});

t.test("extra columns are dropped, as MLflow drops them; 10 000 of them too", async (t) => {
  const e = servedFolders(FLAVORS).find((f) => f.folder === "xgboost-booster-binary") as MlflowExpected;
  const s = served(e.folder);
  const extra = Array.from({ length: 10_000 }, (_, i) => `extra_${i}`);
  const body = JSON.stringify({
    dataframe_split: {
      columns: [...extra, ...e.columns],
      data: e.rows.map((r) => [...extra.map((_, i) => i), ...r]),
    },
  });
  t.same(invoke(s, body), e.predictions, "10 000 extra columns, the signature's found among them");
  const missing = JSON.stringify({ dataframe_split: { columns: extra, data: [extra.map(() => 1)] } });
  const r = refusal(() => invocationsRows(Buffer.from(missing), JSON_TYPE, s, JSON.parse));
  t.equal(r.code, "INVALID_PARAMETER_VALUE");
  t.match(
    r.message,
    /Model is missing inputs \['age', 'income', 'debt_ratio', 'tenure_years', 'score'\]\. Note that there were extra inputs: \['extra_0', .* \.\.\. 9980 more\]/,
  );
  t.ok(r.message.length < 3000, `the message stays short (${r.message.length} characters)`);
});

t.test("values are converted as MLflow's schema enforcement converts them", async (t) => {
  const s = served("xgboost-booster-binary");
  const rows = (body: string, type = JSON_TYPE) =>
    Array.from(invocationsRows(Buffer.from(body), type, s, JSON.parse).values);
  const split = (data: unknown[][]) =>
    JSON.stringify({
      dataframe_split: { columns: ["age", "income", "debt_ratio", "tenure_years", "score"], data },
    });
  const f = Math.fround;
  t.same(
    rows(split([[41.9, "20000.5", true, null, " 1_000 "]])),
    [41, f(20000.5), 1, Number.NaN, 1000],
    "long truncates, numeric strings read as Python's float(), true is 1, null is missing",
  );
  t.same(
    rows(split([["-7", 1e3, false, "nan", "1e-3"]])),
    [-7, 1000, 0, Number.NaN, f(0.001)],
    "an integer string, nan",
  );
  t.same(
    rows(
      `{"dataframe_split": {"columns": ["age", "income", "debt_ratio", "tenure_years", "score"], "data": [[1, NaN, 2, NaN, 3]]}}`,
    ),
    [1, Number.NaN, 2, Number.NaN, 3],
    "Python's NaN token",
  );
  t.same(
    rows("age,income,debt_ratio,tenure_years,score\n 3 ,NA,,nan,1e2\n", "text/csv"),
    [3, Number.NaN, Number.NaN, Number.NaN, 100],
    "CSV: pandas' NA spellings",
  );
  t.same(
    rows(JSON.stringify({ inputs: { age: 5, income: 1, debt_ratio: 2, tenure_years: 3, score: 4 } })),
    [5, 1, 2, 3, 4],
    "inputs as one record of scalars is one row",
  );
  t.same(
    rewritePythonNumbers('{"a": "NaN Infinity", "b": [NaN, -Infinity, Infinity]}'),
    '{"a": "NaN Infinity", "b": [null, -1e999, 1e999]}',
    "NaN and Infinity outside strings only",
  );
});

t.test("positional rows for a tensor signature and a model without names", async (t) => {
  const tensor = served("xgboost-booster-tensor");
  const e = servedFolders(FLAVORS).find((f) => f.folder === "xgboost-booster-tensor") as MlflowExpected;
  t.same(invoke(tensor, JSON.stringify({ inputs: e.rows })), e.predictions, "inputs as a (-1, 5) array");
  const narrow = refusal(() =>
    invocationsRows(
      Buffer.from(JSON.stringify({ inputs: e.rows.map((r) => r.slice(1)) })),
      JSON_TYPE,
      tensor,
      JSON.parse,
    ),
  );
  t.equal(narrow.code, "INVALID_PARAMETER_VALUE");
  t.match(narrow.message, /the input DataFrame passed had 4 columns and an input shape of \(-1, 5\)/);
  const noSig = served("xgboost-regressor-nosig");
  const extra = refusal(() =>
    invocationsRows(
      Buffer.from(
        JSON.stringify({
          dataframe_records: [{ age: 1, income: 1, debt_ratio: 1, tenure_years: 1, score: 1, zip: 2 }],
        }),
      ),
      JSON_TYPE,
      noSig,
      JSON.parse,
    ),
  );
  t.equal(
    extra.code,
    "BAD_REQUEST",
    "without a signature the library refuses a column it was not trained on",
  );
  t.match(
    extra.message,
    /^Encountered an unexpected error while evaluating the model\. .*no input named \['zip'\]/,
  );
});

t.test("a plain model file answers /invocations by its own feature names", async (t) => {
  const plain = invocationsModel(loadModel(join(mlflowFolder("xgboost-regressor-nosig"), "model.json")));
  t.equal(plain.answer, "prediction");
  t.same(
    plain.inputs.columns.map((c) => c.name),
    ["age", "income", "debt_ratio", "tenure_years", "score"],
  );
});
