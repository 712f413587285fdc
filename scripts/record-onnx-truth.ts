/**
 * Records onnxruntime-node's outputs for every ONNX fixture into its `<name>.expected.json`
 * (field "onnxruntime"), the ground truth the ONNX parity tests hold forestd to.
 *
 *   npm run fixtures:onnx   # = the two make_onnx_*fixtures.py scripts, build, then this script
 *
 * test/fixtures/onnx/*.onnx have one float input and rows as arrays. test/fixtures/onnx/graphs/
 * (scripts/make_onnx_graph_fixtures.py) list their graph inputs (name, element type, width) and give
 * rows as arrays (one numeric input) or objects by input name (several inputs, strings, int64s):
 * each input becomes its own tensor of its own type. Rows onnxruntime refuses (`error_rows`) are run
 * one at a time and its error recorded (`onnxruntime_errors`).
 *
 * onnxruntime runs with one intra-op thread: with several, it splits a row's trees across threads
 * and adds the partial sums (tree_ensemble_common.h, sections B and D), so its float32 sums depend
 * on the thread count. One thread adds trees in model order, as forestd does.
 *
 * ZipMap outputs (sequences of maps) cannot cross into JavaScript; ZipMap only repackages the
 * ensemble's probability tensor, so for those the recorder asks onnxruntime for the label alone
 * and takes the probabilities from the twin make_onnx_fixtures.py writes to $TMPDIR: the same
 * ensemble attributes, with its `probabilities` tensor as the output.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { packageRoot } from "../model/default-model.js";
import { scriptArgs } from "./script-args.js";

const DIR = join(packageRoot(), "test", "fixtures", "onnx");
const GRAPHS = join(DIR, "graphs");
/** Where make_onnx_fixtures.py leaves the ZipMap-free twins of ZipMap models. */
const TWINS = join(tmpdir(), "forestd-onnx-truth");

type Cell = number | string | null | (number | string | null)[];
type Row = Cell[] | Record<string, Cell>;
type Truth = Record<string, { dims: number[]; data: (number | string)[] }>;

export interface GraphInput {
  name: string;
  type: "float" | "double" | "int64" | "string";
  width: number;
}

/** One graph input's tensor for `rows`: a row's cells by input name (or, one input, the row itself). */
export function inputTensor(input: GraphInput, rows: Row[], only: boolean): ort.Tensor {
  const values: Cell[] = [];
  for (const row of rows) {
    const cell = Array.isArray(row) && only ? row : (row as Record<string, Cell>)[input.name];
    const cells = Array.isArray(cell) ? cell : [cell];
    if (cells.length !== input.width)
      throw new Error(
        `input ${input.name}: a row gives ${cells.length} values, the graph wants ${input.width}`,
      );
    values.push(...cells);
  }
  const dims = [rows.length, input.width];
  const number = (v: Cell) => (v === null ? Number.NaN : (v as number));
  switch (input.type) {
    case "float":
      return new ort.Tensor("float32", Float32Array.from(values, number), dims);
    case "double":
      return new ort.Tensor("float64", Float64Array.from(values, number), dims);
    case "int64":
      return new ort.Tensor(
        "int64",
        BigInt64Array.from(values, (v) => BigInt(v as number)),
        dims,
      );
    case "string":
      return new ort.Tensor(
        "string",
        values.map((v) => String(v)),
        dims,
      );
  }
}

async function runGraph(
  model: Uint8Array,
  inputs: GraphInput[],
  rows: Row[],
  outputNames?: string[],
  optimized = false,
): Promise<Truth> {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: optimized ? "all" : "disabled",
  });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of inputs) feeds[input.name] = inputTensor(input, rows, inputs.length === 1);
    const results = await session.run(feeds, outputNames ?? [...session.outputNames]);
    const out: Truth = {};
    for (const [name, tensor] of Object.entries(results)) {
      const t = tensor as ort.Tensor;
      const data = Array.from(t.data as ArrayLike<number | string | bigint>, (v) =>
        typeof v === "bigint" ? Number(v) : v,
      );
      out[name] = { dims: [...t.dims], data };
    }
    return out;
  } finally {
    await session.release();
  }
}

async function recordGraphs(): Promise<void> {
  const names = readdirSync(GRAPHS)
    .filter((f) => f.endsWith(".onnx"))
    .map((f) => f.slice(0, -5));
  for (const name of names) {
    const bytes = readFileSync(join(GRAPHS, `${name}.onnx`));
    const expectedPath = join(GRAPHS, `${name}.expected.json`);
    const expected = JSON.parse(readFileSync(expectedPath, "utf8")) as {
      inputs: GraphInput[];
      rows: Row[];
      error_rows?: Row[];
      [key: string]: unknown;
    };
    const probe = await ort.InferenceSession.create(bytes);
    const outputs = [...probe.outputNames];
    await probe.release();
    const twinPath = join(TWINS, "graphs", `${name}.onnx`);
    const zipmapped = existsSync(twinPath);
    let truth: Truth;
    if (zipmapped) {
      // The graph's own tensor outputs, then what its ZipMap packages, from the twin.
      const own = await runGraph(
        bytes,
        expected.inputs,
        expected.rows,
        outputs.filter((o) => o.includes("label")),
      );
      const twin = await runGraph(readFileSync(twinPath), expected.inputs, expected.rows);
      truth = { ...twin, ...own };
    } else truth = await runGraph(bytes, expected.inputs, expected.rows);
    // A server runs with graph optimisations on: they must not change a bit.
    const optimized = await runGraph(
      zipmapped ? readFileSync(twinPath) : bytes,
      expected.inputs,
      expected.rows,
      undefined,
      true,
    );
    for (const [output, { data }] of Object.entries(optimized))
      if (truth[output] && data.some((v, i) => !Object.is(v, truth[output].data[i])))
        throw new Error(`${name}: output ${output} differs with graph optimisations on`);
    expected.onnxruntime = truth;
    if (expected.error_rows) {
      const errors: string[] = [];
      for (const row of expected.error_rows) {
        try {
          await runGraph(bytes, expected.inputs, [row]);
          errors.push("");
        } catch (e) {
          errors.push(e instanceof Error ? e.message : String(e));
        }
      }
      expected.onnxruntime_errors = errors;
    }
    expected.onnxruntime_version = ort.env.versions.common;
    writeFileSync(expectedPath, JSON.stringify(expected));
    console.log(`graphs/${name}: ${Object.keys(truth).join(", ")}`);
  }
}

interface Expected {
  rows: (number | null)[][];
  onnxruntime?: Record<string, { dims: number[]; data: (number | string)[] }>;
  [key: string]: unknown;
}

export async function runOnnxruntime(
  model: Uint8Array,
  rows: (number | null)[][],
  outputNames?: string[],
): Promise<Record<string, { dims: number[]; data: (number | string)[] }>> {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "disabled",
  });
  const width = rows[0].length;
  const values = Float32Array.from(rows.flat(), (v) => (v === null ? Number.NaN : v));
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", values, [rows.length, width]) };
  const results = await session.run(feeds, outputNames ?? [...session.outputNames]);
  const out: Record<string, { dims: number[]; data: (number | string)[] }> = {};
  for (const [name, tensor] of Object.entries(results)) {
    const t = tensor as ort.Tensor;
    const data = Array.from(t.data as ArrayLike<number | string | bigint>, (v) =>
      typeof v === "bigint" ? Number(v) : v,
    );
    out[name] = { dims: [...t.dims], data };
  }
  await session.release();
  return out;
}

async function main(): Promise<void> {
  // --graphs: only test/fixtures/onnx/graphs (make_onnx_graph_fixtures.py's).
  if (process.argv.includes("--graphs")) return recordGraphs();
  const names = readdirSync(DIR)
    .filter((f) => f.endsWith(".onnx"))
    .map((f) => f.slice(0, -5));
  for (const name of names) {
    const bytes = readFileSync(join(DIR, `${name}.onnx`));
    const expectedPath = join(DIR, `${name}.expected.json`);
    const expected = JSON.parse(readFileSync(expectedPath, "utf8")) as Expected;
    const session = await ort.InferenceSession.create(bytes);
    const zipmapped = session.outputNames.includes("output_probability");
    await session.release();
    let truth: Expected["onnxruntime"];
    if (zipmapped) {
      const label = await runOnnxruntime(bytes, expected.rows, ["output_label"]);
      const probs = await runOnnxruntime(readFileSync(join(TWINS, `${name}.onnx`)), expected.rows);
      truth = { output_label: label.output_label, output_probability: probs.probabilities };
    } else truth = await runOnnxruntime(bytes, expected.rows);
    expected.onnxruntime = truth;
    expected.onnxruntime_version = ort.env.versions.common;
    writeFileSync(expectedPath, JSON.stringify(expected));
    console.log(`${name}: ${Object.keys(truth ?? {}).join(", ")}`);
  }
  await recordGraphs();
}

if (process.argv[1]?.endsWith("record-onnx-truth.js")) {
  scriptArgs(
    "npm run fixtures:onnx (or node dist/scripts/record-onnx-truth.js [--graphs])\n  Adds onnxruntime-node's outputs to every test/fixtures/onnx/*.expected.json and graphs/*.expected.json;\n  --graphs: only test/fixtures/onnx/graphs.",
    { options: { graphs: { type: "boolean" } } },
  );
  await main();
}
