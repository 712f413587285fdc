/**
 * Small models built in memory, for what the fixtures do not have yet: inputs with string
 * categories (a column whose vocabulary turns a string into its category), float64 inputs.
 */
import { allocateTree } from "../../model/forest/build.js";
import type { Forest, Precision } from "../../model/forest/forest.js";
import { NodeFlag, Test } from "../../model/forest/forest.js";
import { Model } from "../../model/index.js";

/**
 * reg:squarederror over `color` (categories red, green, blue, as strings) and `size`: 1 for green,
 * else 0 (a missing color too); plus 10 when size ≥ 2.5 or missing (its split compares in `input`
 * precision).
 */
export function colorSizeModel(input: Precision = "f32"): Model {
  const colorTree = allocateTree(3);
  colorTree.left[0] = 1;
  colorTree.right[0] = 2;
  colorTree.feature[0] = 0;
  colorTree.test[0] = Test.NOT_IN_SET;
  colorTree.sets.set(0, Float64Array.of(1));
  colorTree.flags[0] = NodeFlag.DEFAULT_LEFT;
  colorTree.leafValue[1] = 0;
  colorTree.leafValue[2] = 1;
  const sizeTree = allocateTree(3);
  sizeTree.left[0] = 1;
  sizeTree.right[0] = 2;
  sizeTree.feature[0] = 1;
  sizeTree.test[0] = Test.LT;
  sizeTree.threshold[0] = 2.5;
  sizeTree.leafValue[1] = 0;
  sizeTree.leafValue[2] = 10;
  const forest: Forest = {
    provenance: { format: "test", producer: null, details: {} },
    input,
    accumulate: "f32",
    features: [
      { name: "color", kind: "categorical", formatType: null },
      { name: "size", kind: "numeric", formatType: null },
    ],
    inputs: [
      { name: "color", kind: "categorical", vocabulary: ["red", "green", "blue"] },
      { name: "size", kind: "numeric", vocabulary: null },
    ],
    preprocess: [],
    trees: [colorTree, sizeTree],
    treeGroup: new Int32Array(2),
    treeWeight: null,
    numGroups: 1,
    aggregate: { reduce: "sum", init: Float64Array.of(0) },
    head: { family: "xgboost", objective: "reg:squarederror", numClass: 0 } as Forest["head"],
  };
  return new Model(forest);
}
