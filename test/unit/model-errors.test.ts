/**
 * Hostile and corrupt model files are refused at load with a ModelError that names the problem:
 * never a hang, a crash, or a model that loads and answers wrongly later.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { defaultModelPath, loadModel, ModelError } from "../../model/index.js";
import { FIXTURES } from "../helpers/fixtures.js";

// biome-ignore lint/suspicious/noExplicitAny: test documents are mutated freely, field by field
type Doc = Record<string, any>;

const base = (): Doc => JSON.parse(readFileSync(defaultModelPath(), "utf8"));
const bytes = (doc: unknown) => new TextEncoder().encode(JSON.stringify(doc));
const tree0 = (doc: Doc) => doc.learner.gradient_booster.model.trees[0];

function refuses(t: Test, input: Uint8Array | string, code: string, pattern: RegExp, what: string): void {
  t.throws(() => loadModel(input), { name: "ModelError", code, message: pattern }, what);
}

type Mutation = [string, (d: Doc) => void, string, RegExp];

const mutations: Mutation[] = [
  [
    "a JSON array, not an object",
    (d) => Object.assign(d, { learner: [] }),
    "FORESTD_ERR_MODEL_INVALID",
    /learner must be an object/,
  ],
  ["no learner", (d) => delete d.learner, "FORESTD_ERR_MODEL_INVALID", /model\.learner is missing/],
  [
    "unknown objective",
    (d) => (d.learner.objective.name = "reg:magic"),
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /unknown objective "reg:magic"/,
  ],
  [
    "objective name of the wrong type",
    (d) => (d.learner.objective.name = 7),
    "FORESTD_ERR_MODEL_INVALID",
    /objective\.name must be a string/,
  ],
  [
    "gblinear",
    (d) => (d.learner.gradient_booster = { name: "gblinear", model: { weights: [1, 2] } }),
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /gblinear models are not supported/,
  ],
  [
    "unknown booster",
    (d) => (d.learner.gradient_booster.name = "gbforest"),
    "FORESTD_ERR_MODEL_INVALID",
    /unknown booster "gbforest"/,
  ],
  [
    "split_indices of the wrong type",
    (d) => (tree0(d).split_indices = "0,1,2"),
    "FORESTD_ERR_MODEL_INVALID",
    /split_indices must be an array/,
  ],
  [
    "a string inside split_conditions",
    (d) => (tree0(d).split_conditions[0] = "5"),
    "FORESTD_ERR_MODEL_INVALID",
    /split_conditions\[0\] must be a number/,
  ],
  [
    "a fractional child index",
    (d) => (tree0(d).left_children[0] = 1.5),
    "FORESTD_ERR_MODEL_INVALID",
    /left_children\[0\] must be an integer/,
  ],
  [
    "num_nodes not a number",
    (d) => (tree0(d).tree_param.num_nodes = "many"),
    "FORESTD_ERR_MODEL_INVALID",
    /num_nodes must be an integer/,
  ],
  [
    "arrays shorter than num_nodes",
    (d) => tree0(d).left_children.pop(),
    "FORESTD_ERR_MODEL_INVALID",
    /left_children has \d+ entries; num_nodes says/,
  ],
  [
    "a child index out of range",
    (d) => (tree0(d).left_children[0] = 9999),
    "FORESTD_ERR_MODEL_INVALID",
    /tree 0 node 0 has child 9999/,
  ],
  [
    "a negative child index on a split",
    (d) => (tree0(d).right_children[0] = -5),
    "FORESTD_ERR_MODEL_INVALID",
    /tree 0 node 0 has child -5/,
  ],
  [
    "a cycle back to the root",
    (d) => {
      const t = tree0(d);
      const n = t.left_children.findIndex((l: number, i: number) => i > 0 && l !== -1);
      t.left_children[n] = 0;
    },
    "FORESTD_ERR_MODEL_INVALID",
    /outside 1\.\.|reached twice/,
  ],
  [
    "a cycle between siblings",
    (d) => {
      const t = tree0(d);
      const l = t.left_children[0];
      t.left_children[l] = l;
      t.right_children[l] = t.right_children[0];
    },
    "FORESTD_ERR_MODEL_INVALID",
    /reached twice/,
  ],
  [
    "a node shared by two parents",
    (d) => {
      const t = tree0(d);
      const l = t.left_children[0];
      const r = t.right_children[0];
      t.left_children[r] = t.left_children[l];
      t.right_children[r] = t.right_children[l];
    },
    "FORESTD_ERR_MODEL_INVALID",
    /reached twice/,
  ],
  [
    "a split on a feature the model lacks",
    (d) => (tree0(d).split_indices[0] = 3),
    "FORESTD_ERR_MODEL_INVALID",
    /splits on feature 3, but the model has 3 features/,
  ],
  [
    "a NaN leaf",
    (d) => {
      const t = tree0(d);
      const leaf = t.left_children.indexOf(-1);
      t.split_conditions[leaf] = null;
    },
    "FORESTD_ERR_MODEL_INVALID",
    /leaf \d+ has a non-finite value/,
  ],
  [
    "an absurd num_nodes",
    (d) => (tree0(d).tree_param.num_nodes = "4000000000"),
    "FORESTD_ERR_MODEL_TOO_LARGE",
    /num_nodes is 4000000000/,
  ],
  [
    "an absurd num_trees",
    (d) => (d.learner.gradient_booster.model.gbtree_model_param.num_trees = "99999999999"),
    "FORESTD_ERR_MODEL_TOO_LARGE",
    /num_trees is 99999999999/,
  ],
  [
    "num_trees disagreeing with trees",
    (d) => (d.learner.gradient_booster.model.gbtree_model_param.num_trees = "3"),
    "FORESTD_ERR_MODEL_INVALID",
    /trees has 50 trees; num_trees says 3/,
  ],
  [
    "a tree_info group out of range",
    (d) => (d.learner.gradient_booster.model.tree_info[4] = 2),
    "FORESTD_ERR_MODEL_INVALID",
    /tree_info\[4\] = 2/,
  ],
  [
    "two trees with one id",
    (d) => (d.learner.gradient_booster.model.trees[1].id = 0),
    "FORESTD_ERR_MODEL_INVALID",
    /id 0 is used twice/,
  ],
  [
    "a tree id past the end",
    (d) => (d.learner.gradient_booster.model.trees[1].id = 50),
    "FORESTD_ERR_MODEL_INVALID",
    /id is 50, but there are 50 trees/,
  ],
  [
    "base_score that is not a number",
    (d) => (d.learner.learner_model_param.base_score = "half"),
    "FORESTD_ERR_MODEL_INVALID",
    /base_score "half" is not a number/,
  ],
  [
    "base_score outside (0, 1) for logistic",
    (d) => (d.learner.learner_model_param.base_score = "1.5"),
    "FORESTD_ERR_MODEL_INVALID",
    /base_score 1\.5 is out of range for binary:logistic/,
  ],
  [
    "base_score vector of the wrong length",
    (d) => (d.learner.learner_model_param.base_score = "[0.5,0.5]"),
    "FORESTD_ERR_MODEL_INVALID",
    /base_score has 2 values; expected 1 or 1/,
  ],
  [
    "feature_names of the wrong length",
    (d) => d.learner.feature_names.pop(),
    "FORESTD_ERR_MODEL_INVALID",
    /feature_names has 2 names; num_feature is 3/,
  ],
  [
    "duplicate feature names",
    (d) => (d.learner.feature_names[1] = "height"),
    "FORESTD_ERR_MODEL_INVALID",
    /"height" twice/,
  ],
  [
    "multiclass without num_class",
    (d) => (d.learner.objective.name = "multi:softprob"),
    "FORESTD_ERR_MODEL_INVALID",
    /needs num_class >= 2/,
  ],
  [
    "a multi-target tree",
    (d) => (tree0(d).tree_param.size_leaf_vector = "3"),
    "FORESTD_ERR_MODEL_UNSUPPORTED",
    /multi-target tree/,
  ],
  [
    "a split_type other than 0 or 1",
    (d) => (tree0(d).split_type[0] = 7),
    "FORESTD_ERR_MODEL_INVALID",
    /split_type\[0\] is 7/,
  ],
  [
    "categories for a numerical node",
    (d) =>
      Object.assign(tree0(d), {
        categories_nodes: [0],
        categories_segments: [0],
        categories_sizes: [1],
        categories: [1],
      }),
    "FORESTD_ERR_MODEL_INVALID",
    /not a categorical split node/,
  ],
  [
    "categories beyond 2^24",
    (d) => {
      const t = tree0(d);
      t.split_type[0] = 1;
      Object.assign(t, {
        categories_nodes: [0],
        categories_segments: [0],
        categories_sizes: [1],
        categories: [2 ** 25],
      });
    },
    "FORESTD_ERR_MODEL_INVALID",
    /category 33554432 is out of range/,
  ],
  [
    "a category segment past the end",
    (d) => {
      const t = tree0(d);
      t.split_type[0] = 1;
      Object.assign(t, {
        categories_nodes: [0],
        categories_segments: [5],
        categories_sizes: [4],
        categories: [1],
      });
    },
    "FORESTD_ERR_MODEL_INVALID",
    /lie outside the categories array/,
  ],
  [
    "dart without weight_drop",
    (d) => (d.learner.gradient_booster = { name: "dart", gbtree: d.learner.gradient_booster }),
    "FORESTD_ERR_MODEL_INVALID",
    /weight_drop is missing/,
  ],
  [
    "dart with too few weights",
    (d) =>
      (d.learner.gradient_booster = { name: "dart", gbtree: d.learner.gradient_booster, weight_drop: [1] }),
    "FORESTD_ERR_MODEL_INVALID",
    /weight_drop has 1 entries; num_trees says 50/,
  ],
];

for (const [what, mutate, code, pattern] of mutations) {
  const doc = base();
  mutate(doc);
  refuses(t, bytes(doc), code, pattern, what);
}

t.test("unparseable bytes", async (t) => {
  const json = readFileSync(defaultModelPath());
  const ubj = readFileSync(join(FIXTURES, "default_body.ubj"));
  refuses(t, new Uint8Array(0), "FORESTD_ERR_MODEL_SYNTAX", /empty/, "an empty file");
  refuses(
    t,
    json.subarray(0, json.length >> 1),
    "FORESTD_ERR_MODEL_SYNTAX",
    /not valid JSON/,
    "truncated JSON",
  );
  refuses(t, ubj.subarray(0, ubj.length >> 1), "FORESTD_ERR_MODEL_SYNTAX", /truncated/, "truncated UBJSON");
  refuses(
    t,
    new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    "FORESTD_ERR_MODEL_SYNTAX",
    /JSON but not valid UTF-8/,
    "invalid UTF-8 JSON",
  );
  refuses(
    t,
    "/nonexistent/forestd/model.json",
    "FORESTD_ERR_MODEL_READ",
    /cannot read model file/,
    "a missing file",
  );
  refuses(t, FIXTURES, "FORESTD_ERR_MODEL_READ", /cannot read model file/, "a directory");
  // A typed array claiming 2^40 float32s: refused before anything is allocated.
  const huge = new Uint8Array([
    0x7b, 0x69, 0x01, 0x61, 0x5b, 0x24, 0x64, 0x23, 0x4c, 0, 0, 0x01, 0, 0, 0, 0, 0,
  ]);
  refuses(t, huge, "FORESTD_ERR_MODEL_SYNTAX", /claims \d+ elements/, "an absurd UBJSON count");
  const deep = new Uint8Array(100_000).fill(0x5b); // {"a": [[[[...
  deep.set([0x7b, 0x69, 0x01, 0x61]);
  refuses(t, deep, "FORESTD_ERR_MODEL_SYNTAX", /nesting deeper than 128/, "absurd nesting");
  refuses(
    t,
    new Uint8Array([0x7b, 0x4c, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    "FORESTD_ERR_MODEL_SYNTAX",
    /negative length/,
    "a negative key length",
  );
  refuses(
    t,
    new Uint8Array([0x7b, 0x69, 0x01, 0x61, 0x71, 0x7d]),
    "FORESTD_ERR_MODEL_SYNTAX",
    /unknown type marker 0x71/,
    "an unknown marker",
  );
  refuses(
    t,
    new Uint8Array([0x7b, 0x69, 0x01, 0x61, 0x53, 0x69, 0x02, 0xc3, 0x28, 0x7d]),
    "FORESTD_ERR_MODEL_SYNTAX",
    /not valid UTF-8/,
    "a UBJSON string of invalid UTF-8",
  );
});

t.test("keys named __proto__ stay data", async (t) => {
  const text = readFileSync(defaultModelPath(), "utf8").replace(
    '"learner":',
    '"__proto__":{"polluted":true},"learner":',
  );
  const model = loadModel(new TextEncoder().encode(text));
  t.equal(model.numTrees, 50, "the model still loads");
  t.equal(({} as Record<string, unknown>).polluted, undefined, "Object.prototype untouched");
});

t.test("random corruption never escapes as anything but a ModelError", async (t) => {
  // A cheap, deterministic fuzz: flipped bytes and truncations of both formats.
  let seed = 99;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  let refused = 0;
  let loaded = 0;
  for (const file of [
    defaultModelPath(),
    join(FIXTURES, "categorical_partition.ubj"),
    join(FIXTURES, "dart_multi.ubj"),
  ]) {
    const original = readFileSync(file);
    for (let i = 0; i < 150; i++) {
      const corrupt = Uint8Array.from(original);
      const flips = 1 + rand(4);
      for (let f = 0; f < flips; f++) corrupt[rand(corrupt.length)] = rand(256);
      const input = i % 5 === 0 ? corrupt.subarray(0, rand(corrupt.length)) : corrupt;
      try {
        const model = loadModel(input);
        const out = model.predictBatch(new Float32Array(model.numFeature * 3).fill(0.5), 3);
        if (out.length !== 3 * model.numOutputs) t.fail("wrong output size");
        loaded++;
      } catch (error) {
        if (!(error instanceof ModelError)) {
          t.fail(`escaped as ${(error as Error).name}: ${(error as Error).message}`);
          return;
        }
        refused++;
      }
    }
  }
  t.ok(refused > 100, `${refused} corruptions refused with a ModelError (${loaded} were harmless)`);
});
