/**
 * Checks a Forest before anything compiles it: whatever format it came from (a file from a
 * bucket is input too), a forest that passes is safe to compile and score. Every refusal names the
 * tree and node. Readers check their own format's fields; this checks what every format shares:
 * shapes, indices, that each tree is a tree (every node reached once from the root: no cycles, no
 * shared children), groups, sets, preprocessing widths, and the size limits.
 */
import { invalidModel as invalid, modelTooLarge as tooLarge } from "../errors.js";
import type { Forest, ForestTree, PreprocessStep } from "./forest.js";
import { Test } from "./forest.js";

/** Bounds that keep a hostile file from asking for absurd memory or time. */
export const LIMITS = {
  maxTrees: 1_000_000,
  maxNodesPerTree: 1 << 24,
  maxTotalNodes: 1 << 27,
  maxFeatures: 1 << 20,
  maxOutputs: 1 << 16,
  /** Largest category a set may name (XGBoost's bound: the largest integer a float32 holds exactly). */
  maxCategory: 2 ** 24,
  /** Values in all MEMBER / category sets together. */
  maxSetValues: 1 << 24,
  maxPreprocessSteps: 1024,
} as const;

const LAST_TEST = Test.NOT_IN_SET;

/** Throws a ModelError naming the first problem; returns the forest's node count. */
export function checkForest(forest: Forest): number {
  const numFeature = forest.features.length;
  if (numFeature > LIMITS.maxFeatures)
    tooLarge(`the model has ${numFeature} features; the limit is ${LIMITS.maxFeatures}`);
  const groups = forest.numGroups;
  if (!Number.isInteger(groups) || groups < 1) invalid(`the model has ${groups} output groups`);
  if (groups > LIMITS.maxOutputs)
    tooLarge(`the model has ${groups} outputs; the limit is ${LIMITS.maxOutputs}`);
  const numTrees = forest.trees.length;
  if (numTrees > LIMITS.maxTrees)
    tooLarge(`the model has ${numTrees} trees; the limit is ${LIMITS.maxTrees}`);
  if (forest.treeGroup.length !== numTrees)
    invalid(`the model has ${numTrees} trees but ${forest.treeGroup.length} tree groups`);
  if (forest.treeWeight && forest.treeWeight.length !== numTrees)
    invalid(`the model has ${numTrees} trees but ${forest.treeWeight.length} tree weights`);
  if (forest.aggregate.init.length !== groups)
    invalid(`the model has ${groups} output groups but ${forest.aggregate.init.length} initial values`);
  for (let g = 0; g < groups; g++)
    if (!Number.isFinite(forest.aggregate.init[g]))
      invalid(`the initial value of group ${g} is ${forest.aggregate.init[g]}`);

  let totalNodes = 0;
  let setValues = 0;
  forest.trees.forEach((tree, t) => {
    const group = forest.treeGroup[t];
    if (!Number.isInteger(group) || group < 0 || group + tree.leafWidth > groups)
      invalid(`tree ${t} feeds groups ${group}..${group + tree.leafWidth - 1}, but the model has ${groups}`);
    const weight = forest.treeWeight?.[t] ?? 1;
    if (!Number.isFinite(weight)) invalid(`tree ${t} has weight ${weight}`);
    totalNodes += tree.numNodes;
    if (totalNodes > LIMITS.maxTotalNodes) tooLarge(`the model has more than ${LIMITS.maxTotalNodes} nodes`);
    setValues += checkTree(tree, t, numFeature);
    if (setValues > LIMITS.maxSetValues)
      tooLarge(`the model's category and member sets hold more than ${LIMITS.maxSetValues} values`);
  });
  checkPreprocess(forest);
  checkInputTensors(forest);
  return totalNodes;
}

/** Checks one tree; returns how many set values it holds. */
function checkTree(tree: ForestTree, t: number, numFeature: number): number {
  const n = tree.numNodes;
  if (!Number.isInteger(n) || n < 1) invalid(`tree ${t} has ${n} nodes`);
  if (n > LIMITS.maxNodesPerTree)
    tooLarge(`tree ${t} has ${n} nodes; the limit is ${LIMITS.maxNodesPerTree}`);
  const width = tree.leafWidth;
  if (!Number.isInteger(width) || width < 1) invalid(`tree ${t} has leaf width ${width}`);
  const arrays: [string, { length: number }, number][] = [
    ["left", tree.left, n],
    ["right", tree.right, n],
    ["feature", tree.feature, n],
    ["test", tree.test, n],
    ["threshold", tree.threshold, n],
    ["flags", tree.flags, n],
    ["leafValue", tree.leafValue, n * width],
  ];
  if (tree.cover) arrays.push(["cover", tree.cover, n]);
  if (tree.leafId) arrays.push(["leafId", tree.leafId, n]);
  for (const [name, array, length] of arrays)
    if (array.length !== length)
      invalid(`tree ${t}: ${name} has ${array.length} entries; expected ${length}`);

  // Every node reached exactly once from the root, breadth first.
  const seen = new Uint8Array(n);
  const queue = new Int32Array(n);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  seen[0] = 1;
  let setValues = 0;
  while (head < tail) {
    const node = queue[head++];
    const l = tree.left[node];
    const r = tree.right[node];
    if (l === -1 && r === -1) {
      for (let k = 0; k < width; k++) {
        const v = tree.leafValue[node * width + k];
        if (!Number.isFinite(v)) invalid(`tree ${t} leaf ${node} has a non-finite value ${v}`);
      }
      continue;
    }
    for (const child of [l, r]) {
      if (!Number.isInteger(child) || child <= 0 || child >= n)
        invalid(`tree ${t} node ${node} has child ${child}, outside 1..${n - 1}`);
      if (seen[child]) invalid(`tree ${t} node ${child} is reached twice (a cycle or a shared child)`);
      seen[child] = 1;
      queue[tail++] = child;
    }
    const f = tree.feature[node];
    if (!Number.isInteger(f) || f < 0 || f >= numFeature)
      invalid(`tree ${t} node ${node} splits on feature ${f}, but the model has ${numFeature} features`);
    const test = tree.test[node];
    if (test > LAST_TEST) invalid(`tree ${t} node ${node} has test code ${test}`);
    if (test === Test.MEMBER || test === Test.IN_SET || test === Test.NOT_IN_SET) {
      const set = tree.sets.get(node);
      if (!set) invalid(`tree ${t} node ${node} tests a set but has none`);
      setValues += set.length;
      for (let i = 0; i < set.length; i++) {
        const v = set[i];
        if (i > 0 && !(v > set[i - 1])) invalid(`tree ${t} node ${node}: its set is not sorted and distinct`);
        if (test !== Test.MEMBER && (!Number.isInteger(v) || v < 0 || v >= LIMITS.maxCategory))
          invalid(`tree ${t} node ${node}: category ${v} is out of range [0, 2^24)`);
        if (test === Test.MEMBER && Number.isNaN(v)) invalid(`tree ${t} node ${node}: its set holds NaN`);
      }
    }
    if (tree.cover && !(tree.cover[node] >= 0))
      invalid(`tree ${t} node ${node} has cover ${tree.cover[node]}`);
  }
  // Nodes the root never reaches are allowed (XGBoost keeps deleted nodes); they are never compiled.
  return setValues;
}

/** Named input tensors (Provenance.inputTensors) must cover a row's columns exactly, once each. */
function checkInputTensors(forest: Forest): void {
  const tensors = forest.provenance.inputTensors;
  if (tensors === undefined) return;
  const columns = (forest.inputs ?? forest.features).length;
  let width = 0;
  const names = new Set<string>();
  tensors.forEach((tensor, i) => {
    if (!Number.isInteger(tensor.width) || tensor.width < 1)
      invalid(`input tensor ${i} ("${tensor.name.slice(0, 80)}") has ${tensor.width} columns`);
    if (names.has(tensor.name)) invalid(`input tensor ${i} ("${tensor.name.slice(0, 80)}") is named twice`);
    names.add(tensor.name);
    width += tensor.width;
  });
  if (width !== columns) invalid(`the input tensors hold ${width} columns, but a row has ${columns}`);
}

/** Widths through the preprocessing steps must end at the forest's feature count. */
function checkPreprocess(forest: Forest): void {
  const steps = forest.preprocess;
  if (steps.length > LIMITS.maxPreprocessSteps)
    tooLarge(`the model has ${steps.length} preprocessing steps; the limit is ${LIMITS.maxPreprocessSteps}`);
  if (forest.inputs === null) {
    if (steps.length > 0) invalid("the model has preprocessing steps but no inputs");
    return;
  }
  if (forest.inputs.length > LIMITS.maxFeatures)
    tooLarge(`the model has ${forest.inputs.length} inputs; the limit is ${LIMITS.maxFeatures}`);
  let width = forest.inputs.length;
  steps.forEach((step, i) => {
    width = widthAfter(step, width, i);
    if (width > LIMITS.maxFeatures) tooLarge(`preprocessing step ${i} makes ${width} columns`);
  });
  if (width !== forest.features.length)
    invalid(`preprocessing makes ${width} columns, but the forest reads ${forest.features.length} features`);
}

/** The width a step leaves, checking its indices against the width it gets. */
export function widthAfter(step: PreprocessStep, width: number, i: number): number {
  const where = `preprocessing step ${i} (${step.kind})`;
  const column = (c: number) => {
    if (!Number.isInteger(c) || c < 0 || c >= width) invalid(`${where} reads column ${c} of ${width}`);
  };
  switch (step.kind) {
    case "elementwise":
      for (const { operand } of step.ops)
        if (operand.length !== width) invalid(`${where} has ${operand.length} operands for ${width} columns`);
      return width;
    case "impute":
      if (step.values.length !== width)
        invalid(`${where} has ${step.values.length} values for ${width} columns`);
      return width;
    case "select":
      for (const c of step.columns) column(c);
      return step.columns.length;
    case "oneHot":
      column(step.column);
      return width - 1 + step.categories.length;
    case "lookup":
      column(step.column);
      return width;
    case "normalize":
    case "binarize":
    case "cast":
      if (step.span) {
        const { from, count } = step.span;
        if (
          !Number.isInteger(from) ||
          !Number.isInteger(count) ||
          from < 0 ||
          count < 1 ||
          from + count > width
        )
          invalid(`${where} spans columns ${from}..${from + count - 1} of ${width}`);
      }
      if (step.kind === "normalize" && step.formula === "onnxruntime" && step.precision !== "f32")
        invalid(`${where}: onnxruntime's normalizer computes in float32`);
      return width;
  }
}
