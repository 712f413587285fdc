/**
 * Every ONNX graph fixture (test/fixtures/onnx/graphs: LightGBM categorical models as onnxmltools
 * converts them, opset-5 member sets, double-precision ensembles, MIN/MAX aggregates, Normalizer
 * and Softmax after the ensemble, skl2onnx Pipelines and ColumnTransformers with string inputs)
 * scored through loadModel and held to onnxruntime-node's recorded outputs: bit-identical scores,
 * identical labels, batch and row by row, rows by name; rows onnxruntime refuses are refused. The
 * Forest the reader makes passes checkForest, and the reference evaluator agrees with the engine.
 */

import { readFileSync } from "node:fs";
import t from "tap";
import { checkForest } from "../../model/forest/check.js";
import { evaluateForest } from "../../model/forest/evaluate.js";
import { loadModel, PredictInputError, readForest, rowsToArray } from "../../model/index.js";
import { graphFixtures, rowByName } from "../helpers/onnx-graph-fixtures.js";

const all = graphFixtures();
t.ok(all.length >= 25, `found ${all.length} ONNX graph fixtures`);

for (const { name, path, expected, scoresOutput, labelOutput } of all) {
  t.test(name, async (t) => {
    const model = loadModel(path);
    const rows = expected.rows.map(rowByName);
    const n = rows.length;
    const values = rowsToArray(model, rows);
    const truth = expected.onnxruntime[scoresOutput];
    t.equal(model.numOutputs, truth.dims[1] ?? 1, "output width as onnxruntime's");

    const margins = model.predictBatch(values, n, { margin: true });
    const outputs = model.transform(margins, n);
    const mismatches = [...outputs].flatMap((v, i) =>
      Object.is(v, truth.data[i]) ? [] : [[i, v, truth.data[i]]],
    );
    t.same(
      mismatches.slice(0, 10),
      [],
      `${outputs.length} outputs bit-identical to onnxruntime's (${mismatches.length} differ)`,
    );

    if (labelOutput) {
      const labels = model.labels(margins, n);
      const wrong = labels.flatMap((l, i) =>
        l === expected.onnxruntime[labelOutput].data[i] ? [] : [[i, l]],
      );
      t.same(wrong.slice(0, 10), [], "labels identical to onnxruntime's");
    }

    let single = 0;
    for (let r = 0; r < n; r++) {
      const one = model.predictBatch(values.subarray(r * model.numFeature, (r + 1) * model.numFeature), 1);
      for (let k = 0; k < model.numOutputs; k++)
        if (!Object.is(one[k], outputs[r * model.numOutputs + k])) single++;
    }
    t.equal(single, 0, "rows scored one by one equal the batch");

    // The reader's Forest: shared checks pass, and the reference evaluator's sums are the engine's.
    const forest = readForest(readFileSync(path));
    checkForest(forest);
    const sums = evaluateForest(forest, Float64Array.from(values), n);
    const engine = model.predictBatch(values, n, { margin: true });
    // Margins are sums finished by the head (base values, averaging): finish the reference's too.
    const finished = model.head.finish(sums, n);
    const differ = [...engine].filter((v, i) => !Object.is(v, finished[i])).length;
    t.equal(differ, 0, "reference evaluator's margins equal the engine's");

    for (const [i, row] of (expected.error_rows ?? []).entries()) {
      t.match(expected.onnxruntime_errors?.[i] ?? "", /\S/, `onnxruntime refused error row ${i}`);
      t.throws(
        () => model.predictBatch(rowsToArray(model, [rowByName(row)]), 1),
        PredictInputError,
        `error row ${i} refused as onnxruntime refuses it`,
      );
    }
  });
}

t.test(
  "input tensors: the graph's inputs, covering a row's columns once; checkForest refuses others",
  async (t) => {
    for (const { name, path, expected } of all) {
      const forest = readForest(readFileSync(path));
      t.same(
        forest.provenance.inputTensors,
        expected.inputs.map((i) => ({ name: i.name, type: i.type, width: i.width })),
        `${name}: the graph's inputs, types and widths`,
      );
    }
    const forest = readForest(readFileSync(all.find((f) => f.name === "coltrans_ordinal_int64")!.path));
    const tensors = forest.provenance.inputTensors!;
    const withTensors = (inputTensors: typeof tensors) => ({
      ...forest,
      provenance: { ...forest.provenance, inputTensors },
    });
    t.throws(() => checkForest(withTensors(tensors.slice(1))), {
      code: "FORESTD_ERR_MODEL_INVALID",
      message: /the input tensors hold 2 columns, but a row has 4/,
    });
    t.throws(() => checkForest(withTensors([...tensors.slice(0, 2), { ...tensors[1], width: 1 }])), {
      message: /input tensor 2 \("count"\) is named twice/,
    });
    t.throws(() => checkForest(withTensors([{ ...tensors[0], width: 0 }, ...tensors.slice(1)])), {
      message: /input tensor 0 \("labels"\) has 0 columns/,
    });
  },
);
