/** What an estimator reader hands back: the forest's parts, before a Pipeline adds its steps. */
import type { MutableTree } from "../../../forest/build.js";
import { NodeFlag, type Precision, Test } from "../../../forest/forest.js";
import type { SklearnHeadSpec } from "../../../heads/sklearn.js";
import { NodeSlab, type SklearnTree } from "./tree.js";

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
 *
 * The tree's columns become the ForestTree's (left, right, feature, threshold; the weighted
 * sample counts its covers), rewritten in place where the Forest says otherwise (a leaf's right
 * child -1, its feature, threshold 0; covers at least 0), rather than copied: a copy of every
 * node of a fully grown forest is garbage the load's peak would carry. `t` is spent after this.
 * The tests, flags and leaf values come from `slab` (readTree's, see NodeSlab).
 */
export function forestTree(
  t: SklearnTree,
  width: number,
  leaf: (node: number, out: Float64Array, at: number) => void,
  featureMap: ArrayLike<number> | null = null,
  slab: NodeSlab = new NodeSlab(0),
): MutableTree {
  const n = t.numNodes;
  const { left, right, feature, threshold } = t;
  const cover = t.weightedNodeSamples;
  const test = slab.uint8(n);
  const flags = slab.uint8(n);
  const leafValue = slab.float64(n * width);
  for (let node = 0; node < n; node++) {
    cover[node] = Math.max(0, cover[node]);
    if (left[node] === -1) {
      leaf(node, leafValue, node * width);
      right[node] = -1;
      feature[node] = 0;
      threshold[node] = 0;
      continue;
    }
    if (featureMap) feature[node] = featureMap[feature[node]];
    test[node] = Test.LE;
    flags[node] = t.missingLeft?.[node] ? NodeFlag.DEFAULT_LEFT : 0;
  }
  return {
    numNodes: n,
    left,
    right,
    feature,
    test,
    threshold,
    flags,
    sets: new Map(),
    leafWidth: width,
    leafValue,
    cover,
    leafId: null,
  };
}
