/** What an estimator reader hands back: the forest's parts, before a Pipeline adds its steps. */
import { allocateTree, type MutableTree } from "../../../forest/build.js";
import { NodeFlag, type Precision, Test } from "../../../forest/forest.js";
import type { SklearnHeadSpec } from "../../../heads/sklearn.js";
import type { SklearnTree } from "./tree.js";

export interface EstimatorModel {
  readonly trees: MutableTree[];
  readonly treeGroup: Int32Array;
  readonly treeWeight: Float64Array | null;
  readonly numGroups: number;
  readonly init: Float64Array;
  /** f32: trees compare float32(x) <= double t; f64: HistGradientBoosting compares doubles. */
  readonly input: Precision;
  readonly numFeatures: number;
  readonly featureNames: string[] | null;
  readonly categorical: readonly boolean[] | null;
  readonly head: SklearnHeadSpec;
  readonly details: Record<string, unknown>;
}

export function headSpec(
  fields: Partial<SklearnHeadSpec> & Pick<SklearnHeadSpec, "estimator" | "kind">,
): SklearnHeadSpec {
  return {
    family: "sklearn",
    classes: [],
    divisor: null,
    outputs: 1,
    link: "identity",
    softmax: "logsumexp",
    offset: 0,
    denominator: 0,
    ...fields,
  };
}

/**
 * A scikit-learn Tree as a ForestTree: x <= threshold goes left; NaN follows missing_go_to_left
 * where the record has it (1.3+), else right (the comparison is false). `leaf` writes a leaf's
 * `width` values; `featureMap` maps a tree's feature to the estimator's (IsolationForest's
 * feature subsets).
 */
export function forestTree(
  t: SklearnTree,
  width: number,
  leaf: (node: number, out: Float64Array, at: number) => void,
  featureMap: ArrayLike<number> | null = null,
): MutableTree {
  const tree = allocateTree(t.numNodes, { leafWidth: width, cover: true });
  for (let n = 0; n < t.numNodes; n++) {
    tree.cover![n] = Math.max(0, t.weightedNodeSamples[n]);
    if (t.left[n] === -1) {
      leaf(n, tree.leafValue, n * width);
      continue;
    }
    tree.left[n] = t.left[n];
    tree.right[n] = t.right[n];
    tree.feature[n] = featureMap ? featureMap[t.feature[n]] : t.feature[n];
    tree.test[n] = Test.LE;
    tree.threshold[n] = t.threshold[n];
    tree.flags[n] = t.missingLeft?.[n] ? NodeFlag.DEFAULT_LEFT : 0;
  }
  return tree;
}
