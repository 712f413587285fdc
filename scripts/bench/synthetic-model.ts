/**
 * A synthetic XGBoost JSON model, written deterministically on demand instead of committed: the
 * overload experiment's scoring-bound shape (2000 full trees of depth 10 on 8 features) is ~100 MB
 * of JSON, and what matters for it is only how long scoring takes, not what the trees predict.
 *
 * Every tree is full (2^depth leaves, children of node i at 2i+1 and 2i+2), so every row walks
 * exactly `depth` splits per tree whatever its values: scoring time per row is fixed by the shape.
 * Thresholds fall in [0, 200), the range of the bench's rows (scripts/bench/scenarios.ts makeRows).
 */
import { closeSync, openSync, writeSync } from "node:fs";

export interface SyntheticShape {
  trees: number;
  depth: number;
  features: number;
  /** Seed of the PRNG: the same shape and seed give the same bytes. */
  seed?: number;
}

export const SCORING_BOUND: SyntheticShape = { trees: 2000, depth: 10, features: 8 };

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function treeJson(id: number, shape: SyntheticShape, next: () => number): string {
  const internal = 2 ** shape.depth - 1;
  const nodes = 2 * internal + 1;
  const left: number[] = [];
  const right: number[] = [];
  const split: number[] = [];
  const cond: number[] = [];
  const defaultLeft: number[] = [];
  for (let i = 0; i < nodes; i++) {
    if (i < internal) {
      left.push(2 * i + 1);
      right.push(2 * i + 2);
      split.push(Math.floor(next() * shape.features));
      cond.push(Math.round(next() * 2000) / 10);
      defaultLeft.push(next() < 0.5 ? 1 : 0);
    } else {
      left.push(-1);
      right.push(-1);
      split.push(0);
      cond.push(Math.round((next() - 0.5) * 2000) / 1e5); // the leaf value
      defaultLeft.push(0);
    }
  }
  return JSON.stringify({
    id,
    tree_param: { num_nodes: String(nodes), num_feature: String(shape.features), size_leaf_vector: "0" },
    left_children: left,
    right_children: right,
    split_indices: split,
    split_conditions: cond,
    default_left: defaultLeft,
  });
}

/** Writes the model to `path` (tree by tree, so the whole text is never held in memory). */
export function writeSyntheticModel(path: string, shape: SyntheticShape = SCORING_BOUND): void {
  const next = prng(shape.seed ?? 15);
  const fd = openSync(path, "w");
  try {
    const head = {
      version: [2, 1, 0],
      learner: {
        attributes: {},
        feature_names: [],
        feature_types: [],
        objective: { name: "reg:squarederror", reg_loss_param: { scale_pos_weight: "1" } },
        learner_model_param: {
          base_score: "5E-1",
          boost_from_average: "1",
          num_class: "0",
          num_feature: String(shape.features),
          num_target: "1",
        },
        gradient_booster: {
          name: "gbtree",
          model: {
            gbtree_model_param: {
              num_parallel_tree: "1",
              num_trees: String(shape.trees),
              size_leaf_vector: "0",
            },
            tree_info: new Array(shape.trees).fill(0),
            trees: "@TREES@",
          },
        },
      },
    };
    const [before, after] = JSON.stringify(head).split('"@TREES@"');
    writeSync(fd, `${before}[`);
    for (let id = 0; id < shape.trees; id++) writeSync(fd, (id > 0 ? "," : "") + treeJson(id, shape, next));
    writeSync(fd, `]${after}`);
  } finally {
    closeSync(fd);
  }
}
