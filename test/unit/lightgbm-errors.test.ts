/**
 * Hostile and corrupt LightGBM model files (real fixtures, edited the ways the issue lists and
 * more) are refused at load with a ModelError naming the tree, the field and the index, in bounded
 * time and memory; linear trees are refused by name. Each edit keeps the file otherwise valid
 * (tree_sizes recomputed) so the refusal is the edit's, not a side effect's.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { lightgbmFormat } from "../../model/formats/lightgbm/index.js";
import { loadModel } from "../../model/index.js";
import { LIGHTGBM_FIXTURES } from "../helpers/lightgbm-fixtures.js";

const text = (name: string) => readFileSync(join(LIGHTGBM_FIXTURES, `${name}.txt`), "utf8");
const encode = (s: string) => new TextEncoder().encode(s);

/** tree_sizes recomputed from the blocks, as LightGBM would write them for the edited trees. */
function resized(model: string): string {
  const start = model.indexOf("\nTree=0\n") + 1;
  const end = model.indexOf("end of trees\n");
  const blocks = model.slice(start, end).split(/(?=^Tree=\d+\n)/m);
  const sizes = blocks.map((b) => new TextEncoder().encode(b).length).join(" ");
  return model.replace(/^tree_sizes=.*$/m, `tree_sizes=${sizes}`);
}

/** The `key=` line of tree `t`, edited by `edit`. */
function editTree(model: string, tree: number, key: string, edit: (value: string) => string): string {
  const at = model.indexOf(`\nTree=${tree}\n`);
  const lineStart = model.indexOf(`\n${key}=`, at) + 1;
  const lineEnd = model.indexOf("\n", lineStart);
  const value = model.slice(lineStart + key.length + 1, lineEnd);
  return `${model.slice(0, lineStart)}${key}=${edit(value)}${model.slice(lineEnd)}`;
}

const values = (v: string) => v.split(" ");
const setAt = (i: number, x: string) => (v: string) =>
  values(v)
    .map((s, j) => (j === i ? x : s))
    .join(" ");

function refuses(t: Test, model: string | Uint8Array, code: string, pattern: RegExp, what: string): void {
  const bytes = typeof model === "string" ? encode(model) : model;
  t.throws(
    () => loadModel(bytes),
    { name: "ModelError", code: `FORESTD_ERR_MODEL_${code}`, message: pattern },
    what,
  );
}

t.test("the fixtures these edits start from load", async (t) => {
  for (const name of ["regression", "categorical_few", "multiclass"])
    t.ok(loadModel(encode(text(name))).numTrees > 0, name);
});

t.test("tree_sizes", async (t) => {
  const m = text("regression");
  refuses(
    t,
    m.replace(/^(tree_sizes=.*) \d+$/m, "$1"),
    "INVALID",
    /tree_sizes has 11 entries, but the file holds 12 trees/,
    "a missing tree_sizes entry",
  );
  refuses(
    t,
    m.replace(/^tree_sizes=(\d+)/m, (_, n) => `tree_sizes=${Number(n) + 1}`),
    "INVALID",
    /tree_sizes\[0\] = "\d+", but tree 0 \(line 12\) is \d+ bytes/,
    "a tree_sizes entry that disagrees",
  );
  refuses(
    t,
    editTree(m, 3, "leaf_value", (v) => `${v} 0.5`),
    "INVALID",
    /tree_sizes\[3\] = "\d+", but tree 3 \(line \d+\) is \d+ bytes/,
    "a tree edited without its tree_sizes",
  );
  t.ok(
    lightgbmFormat.read(encode(m.replace(/^tree_sizes=.*\n/m, ""))),
    "a file without tree_sizes is read tree by tree, as LightGBM does",
  );
});

t.test("counts that disagree, named by tree, field and index", async (t) => {
  const m = text("regression");
  refuses(
    t,
    resized(editTree(m, 2, "leaf_value", (v) => values(v).slice(1).join(" "))),
    "SYNTAX",
    /tree 2 field leaf_value holds 6 values; it must hold 7/,
    "a leaf_value short by one",
  );
  refuses(
    t,
    resized(editTree(m, 2, "threshold", (v) => `${v} 1.5`)),
    "SYNTAX",
    /tree 2 field threshold holds more than the 6 values it must/,
    "a threshold too many",
  );
  refuses(
    t,
    resized(editTree(m, 0, "num_leaves", () => "8")),
    "SYNTAX",
    /tree 0 field leaf_value holds 7 values; it must hold 8/,
    "num_leaves larger than the lists",
  );
  refuses(
    t,
    resized(editTree(m, 5, "leaf_count", (v) => values(v).slice(2).join(" "))),
    "SYNTAX",
    /tree 5 field leaf_count holds 5 values; it must hold 7/,
    "leaf_count short",
  );
  refuses(
    t,
    resized(editTree(m, 1, "internal_weight", (v) => values(v).slice(1).join(" "))),
    "SYNTAX",
    /tree 1 field internal_weight holds 5 values; it must hold 6/,
    "an unused field's count is checked too",
  );
  refuses(
    t,
    resized(editTree(m, 4, "left_child", setAt(2, "x"))),
    "SYNTAX",
    /tree 4 field left_child\[2\] is "x", not an integer/,
    "a non-number",
  );
  refuses(
    t,
    resized(m.replace(/^num_leaves=7\n/m, "")),
    "INVALID",
    /tree 0 \(line 12\) has no num_leaves line/,
    "a missing num_leaves",
  );
  refuses(
    t,
    resized(editTree(m, 0, "num_leaves", () => "-3")),
    "INVALID",
    /tree 0: num_leaves is "-3", not a positive integer/,
    "a negative num_leaves",
  );
});

t.test("indices outside the model", async (t) => {
  const m = text("regression");
  refuses(
    t,
    resized(editTree(m, 1, "split_feature", setAt(3, "1000000000"))),
    "INVALID",
    /tree 1 field split_feature\[3\] = 1000000000, but the model has 6 features \(max_feature_idx=5\)/,
    "a split on feature 10^9",
  );
  refuses(
    t,
    resized(editTree(m, 1, "split_feature", setAt(0, "-1"))),
    "SYNTAX",
    /tree 1 field split_feature\[0\] is "-1", not an integer in \[0, /,
    "a negative feature",
  );
  refuses(
    t,
    resized(editTree(m, 0, "left_child", setAt(0, "9"))),
    "SYNTAX",
    /tree 0 field left_child\[0\] is "9", not an integer in \[-7, 5\]/,
    "a child past the last split",
  );
  refuses(
    t,
    resized(editTree(m, 0, "right_child", setAt(0, "-8"))),
    "SYNTAX",
    /tree 0 field right_child\[0\] is "-8", not an integer in \[-7, 5\]/,
    "a child past the last leaf",
  );
});

t.test("cycles and shared nodes through left_child / right_child", async (t) => {
  const m = text("regression");
  const left = values(/^left_child=(.*)$/m.exec(m.slice(m.indexOf("Tree=0")))![1]);
  const split = left.findIndex((c) => Number(c) > 0); // a split whose left child is a split
  refuses(
    t,
    resized(editTree(m, 0, "left_child", setAt(split, "0"))),
    "INVALID",
    new RegExp(
      `tree 0 field left_child\\[${split}\\] = 0 leads to split 0 again \\(a cycle or a shared child\\)`,
    ),
    "a child pointing back at the root",
  );
  refuses(
    t,
    resized(editTree(m, 0, "right_child", setAt(0, left[0]))),
    "INVALID",
    /tree 0 field (left|right)_child\[\d+\] = -?\d+ leads to (split|leaf) -?\d+ again/,
    "two parents for one child",
  );
  refuses(
    t,
    resized(editTree(m, 0, "left_child", setAt(0, "-1")).replace(/^(right_child=)(\S+)/m, "$1-2")),
    "INVALID",
    /tree 0: split 1 is never reached from the root/,
    "an orphaned subtree",
  );
});

t.test("thresholds, decision types and leaf values", async (t) => {
  const m = text("regression");
  refuses(
    t,
    resized(editTree(m, 3, "threshold", setAt(2, "nan"))),
    "INVALID",
    /tree 3 field threshold\[2\] is NaN/,
    "a NaN threshold",
  );
  refuses(
    t,
    resized(editTree(m, 3, "threshold", setAt(2, "1.5.2"))),
    "SYNTAX",
    /tree 3 field threshold\[2\] is "1.5.2", not a number/,
    "a malformed threshold",
  );
  refuses(
    t,
    resized(editTree(m, 3, "leaf_value", setAt(1, "inf"))),
    "INVALID",
    /tree 3 field leaf_value\[1\] is Infinity/,
    "an infinite leaf",
  );
  refuses(
    t,
    resized(editTree(m, 3, "decision_type", setAt(0, "14"))),
    "INVALID",
    /tree 3 field decision_type\[0\] = 14: missing type 3 is not None, Zero or NaN/,
    "missing type 3",
  );
  refuses(
    t,
    resized(editTree(m, 3, "decision_type", setAt(0, "18"))),
    "INVALID",
    /tree 3 field decision_type\[0\] = 18: LightGBM's decision types use bits 0-3 only/,
    "a bit past the missing type",
  );
  refuses(
    t,
    resized(editTree(m, 3, "decision_type", setAt(0, "1"))),
    "INVALID",
    /tree 3 field decision_type\[0\] is categorical, but num_cat is 0/,
    "a categorical split without bitsets",
  );
});

t.test("categorical bitsets", async (t) => {
  const m = text("categorical_few");
  const tree = m.slice(m.indexOf("\nTree=0\n")).match(/^num_cat=(\d+)$/m)![1];
  const numCat = Number(tree);
  t.ok(numCat >= 2, `tree 0 has ${numCat} bitsets`);
  refuses(
    t,
    resized(
      editTree(m, 0, "cat_boundaries", (v) =>
        values(v)
          .map((b, i) => (i === numCat ? String(Number(b) + 5) : b))
          .join(" "),
      ),
    ),
    "SYNTAX",
    /tree 0 field cat_threshold holds fewer than the \d+ values it must/,
    "a bitset boundary past the words",
  );
  refuses(
    t,
    resized(editTree(m, 0, "cat_boundaries", setAt(1, "99"))),
    "INVALID",
    /tree 0 field cat_boundaries\[2\] = \d+ is before cat_boundaries\[1\] = 99/,
    "boundaries out of order",
  );
  refuses(
    t,
    resized(editTree(m, 0, "cat_boundaries", setAt(0, "1"))),
    "INVALID",
    /tree 0 field cat_boundaries\[0\] = 1; the first bitset starts at 0/,
    "a first boundary past 0",
  );
  const decisions = values(/^decision_type=(.*)$/m.exec(m.slice(m.indexOf("Tree=0")))![1]);
  const cat = decisions.findIndex((d) => Number(d) & 1);
  refuses(
    t,
    resized(editTree(m, 0, "threshold", setAt(cat, String(numCat)))),
    "INVALID",
    new RegExp(
      `tree 0 field threshold\\[${cat}\\] = ${numCat} names bitset ${numCat}, but the tree has num_cat=${numCat} bitsets`,
    ),
    "a split naming a bitset past num_cat",
  );
  refuses(
    t,
    resized(editTree(m, 0, "cat_threshold", setAt(0, "4294967296"))),
    "SYNTAX",
    /tree 0 field cat_threshold\[0\] is "4294967296", not an integer in \[0, 4294967295\]/,
    "a word past 32 bits",
  );
  refuses(
    t,
    resized(m.replace(/^cat_boundaries=.*\n/m, "")),
    "INVALID",
    /tree 0 has num_cat=\d+ but no cat_boundaries line/,
    "bitsets without boundaries",
  );
  // A category at 2^24 or beyond (forestd's largest): its word is refused before anything is built.
  const far = `${"0 ".repeat(2 ** 19)}1`;
  const huge = resized(
    editTree(
      editTree(m, 0, "cat_boundaries", (v) =>
        values(v)
          .map((b, i) => (i === 0 ? "0" : String(Number(b) + 2 ** 19)))
          .join(" "),
      ),
      0,
      "cat_threshold",
      (v) => `${far} ${values(v).slice(1).join(" ")}`,
    ),
  );
  refuses(
    t,
    huge,
    "TOO_LARGE",
    /tree 0 field cat_threshold\[524288\] \(bitset 0, word 524288\) names categories from 16777216; forestd's largest is 2\^24 - 1/,
    "a category past 2^24",
  );
});

t.test("the header", async (t) => {
  const m = text("multiclass");
  refuses(
    t,
    m.replace("objective=multiclass num_class:4", "objective=magic"),
    "UNSUPPORTED",
    /objective "magic" \(header line objective="magic"\) is not one LightGBM predicts with/,
    "an unknown objective",
  );
  refuses(
    t,
    m.replace("objective=multiclass num_class:4", "objective=multiclass num_class:3"),
    "INVALID",
    /objective "multiclass num_class:3" makes 3 outputs, but the header says num_class=4 and num_tree_per_iteration=4/,
    "num_class that disagrees",
  );
  refuses(
    t,
    m.replace("objective=multiclass num_class:4", "objective=multiclass"),
    "INVALID",
    /objective multiclass needs num_class/,
    "multiclass without num_class",
  );
  refuses(
    t,
    text("binary").replace("objective=binary sigmoid:1", "objective=binary sigmoid:-2"),
    "INVALID",
    /objective binary needs sigmoid > 0/,
    "a negative sigmoid",
  );
  refuses(
    t,
    m.replace("version=v4", "version=v2"),
    "UNSUPPORTED",
    /LightGBM model version "v2": forestd reads versions v3 \(LightGBM 2.3-3.3\) and v4/,
    "version v2",
  );
  refuses(t, m.replace(/^num_class=4\n/m, ""), "INVALID", /the header has no num_class line/, "no num_class");
  refuses(
    t,
    m.replace(/^max_feature_idx=5$/m, "max_feature_idx=6"),
    "INVALID",
    /feature_names holds 6 names, but max_feature_idx=6 makes 7 features/,
    "max_feature_idx that disagrees with the names",
  );
  refuses(
    t,
    m.replace(/^max_feature_idx=5$/m, "max_feature_idx=4000000000"),
    "INVALID",
    /header max_feature_idx="4000000000" is not an integer in \[0, 1048575\]/,
    "absurd max_feature_idx",
  );
  refuses(
    t,
    m.replace(/^feature_infos=.*\n/m, ""),
    "INVALID",
    /the header has no feature_infos line/,
    "no feature_infos",
  );
  refuses(
    t,
    m.replace(/^num_class=4$/m, "num_class=4\nnum_class=4"),
    "INVALID",
    /header line \d+ repeats "num_class"/,
    "a repeated header line",
  );
  refuses(
    t,
    resized(m.replace(/^Tree=8$/m, "Tree=80")),
    "INVALID",
    /line \d+ says Tree=80, but it is tree 8/,
    "a tree numbered out of order",
  );
  refuses(
    t,
    m.replace(/^(tree_sizes=(?:\d+ ){4}\d+) .*$/m, "$1").replace(/^Tree=5\n[\s\S]*(?=end of trees)/m, ""),
    "INVALID",
    /the file holds 5 trees, not a whole number of iterations of 4/,
    "trees short of an iteration",
  );
});

t.test("truncated, not text, not LightGBM", async (t) => {
  const m = text("regression");
  refuses(
    t,
    m.slice(0, m.indexOf("end of trees")),
    "SYNTAX",
    /the file ends before "end of trees" \(after 12 trees\)/,
    "cut before end of trees",
  );
  refuses(t, m.slice(0, m.indexOf("Tree=5") + 40), "SYNTAX", /tree 5|ends before/, "cut inside a tree");
  const bytes = encode(m);
  bytes[bytes.indexOf(0x30, 400)] = 0xff; // a byte that is not UTF-8
  refuses(t, bytes, "SYNTAX", /not UTF-8 text/, "not UTF-8");
  t.equal(lightgbmFormat.sniff(encode("tree\nversion=v4\n")), true, "sniffed by its first two lines");
  t.equal(lightgbmFormat.sniff(encode("tree\r\nversion=v3\r\n")), true, "with CRLF too");
  t.equal(lightgbmFormat.sniff(encode("tree\nnum_class=1\n")), false, "not without a version line");
  t.equal(lightgbmFormat.sniff(encode('{"learner":')), false, "not XGBoost JSON");
});

t.test("linear trees are refused by name", async (t) => {
  refuses(
    t,
    text("linear_tree"),
    "UNSUPPORTED",
    /tree 0 is a linear tree \(is_linear=1: the model was trained with linear_tree=true, a linear model in each leaf\); forestd does not serve linear trees/,
    "linear_tree=true",
  );
});

t.test("pandas_categorical", async (t) => {
  const m = text("pandas_categorical");
  refuses(
    t,
    m.replace(/^pandas_categorical:.*$/m, 'pandas_categorical:[["a"'),
    "SYNTAX",
    /pandas_categorical is not JSON/,
    "broken JSON",
  );
  refuses(
    t,
    m.replace(/^pandas_categorical:.*$/m, 'pandas_categorical:[{"a":1}]'),
    "INVALID",
    /pandas_categorical\[0\] is not a list of categories/,
    "not lists",
  );
  refuses(
    t,
    m.replace(/^pandas_categorical:.*$/m, 'pandas_categorical:[["a","a"],[1]]'),
    "INVALID",
    /pandas_categorical\[0\] names category "a" twice/,
    "a repeated category",
  );
  const model = loadModel(encode(m.replace(/^pandas_categorical:.*$/m, 'pandas_categorical:[["a","b"]]')));
  t.equal(
    model.inputs.every((c) => c.vocabulary === null),
    true,
    "a list count that does not match the categorical features: no strings accepted",
  );
  t.match(
    model.info().details.pandasCategorical,
    { mapped: false, note: /lists 1 category columns but the model has 2 categorical features/ },
    "and /model says why",
  );
});

t.test("bounded memory: sizes are checked before anything is allocated", async (t) => {
  const m = text("regression");
  const before = process.memoryUsage().arrayBuffers;
  refuses(
    t,
    resized(editTree(m, 0, "num_leaves", () => "8000000")),
    "SYNTAX",
    /tree 0 field leaf_value holds fewer than the 8000000 values it must \(\d+ characters\)/,
    "a huge num_leaves with a short line",
  );
  refuses(
    t,
    resized(editTree(m, 0, "num_leaves", () => "100000000")),
    "TOO_LARGE",
    /tree 0 has 100000000 leaves; the limit is 8388608/,
    "num_leaves past the limit",
  );
  refuses(
    t,
    resized(editTree(m, 0, "num_cat", () => "6").replace(/^(num_cat=6\n)/m, "$1")),
    "INVALID",
    /tree 0 has num_cat=6 but no cat_boundaries line/,
    "num_cat without bitsets",
  );
  const grown = process.memoryUsage().arrayBuffers - before;
  t.ok(grown < 16 << 20, `array buffers grew ${(grown / 2 ** 20).toFixed(1)} MiB`);
});
