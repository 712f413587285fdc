/**
 * Records onnxruntime-node's outputs for every ONNX fixture into its `<name>.expected.json`
 * (field "onnxruntime"), the ground truth test/unit/onnx-parity.test.ts holds forestd to.
 *
 *   npm run fixtures:onnx   # = /usr/bin/python3 scripts/make_onnx_fixtures.py, build, then this script
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
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { packageRoot } from "../model/default-model.js";
import { scriptArgs } from "./script-args.js";

const DIR = join(packageRoot(), "test", "fixtures", "onnx");
/** Where make_onnx_fixtures.py leaves the ZipMap-free twins of ZipMap models. */
const TWINS = join(tmpdir(), "forestd-onnx-truth");

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
}

if (process.argv[1]?.endsWith("record-onnx-truth.js")) {
  scriptArgs(
    "npm run fixtures:onnx (or node dist/scripts/record-onnx-truth.js)\n  Adds onnxruntime-node's outputs to every test/fixtures/onnx/*.expected.json; no options.",
    { options: {} },
  );
  await main();
}
