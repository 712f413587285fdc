/**
 * Provenance.inputTensors, what OIP reads an ONNX graph's inputs by: the reader records every graph
 * fixture's inputs (names, element types, widths) in the graph's order, and checkForest refuses
 * tensors that do not cover a row's columns exactly once.
 */
import { readFileSync } from "node:fs";
import t from "tap";
import { checkForest } from "../../model/forest/check.js";
import { readForest } from "../../model/index.js";
import { graphFixtures } from "../helpers/onnx-graph-fixtures.js";

const all = graphFixtures();
t.ok(all.length >= 25, `${all.length} ONNX graph fixtures`);

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
