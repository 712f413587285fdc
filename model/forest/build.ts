/**
 * Helpers readers build Forest trees with: typed arrays of the right sizes, filled as "leaf" until
 * a reader writes a split. Readers stay about their format; sizes and defaults live here.
 */
import type { ForestTree } from "./forest.js";

/** A ForestTree whose arrays a reader may still write (sets is a Map it may add to). */
export interface MutableTree extends ForestTree {
  readonly sets: Map<number, Float64Array>;
}

export interface TreeOptions {
  /** Values per leaf (default 1). */
  leafWidth?: number;
  /** Allocate per-node covers (for TreeSHAP). */
  cover?: boolean;
  /** Allocate per-node leaf ids (for a format whose pred_leaf is not the node index). */
  leafId?: boolean;
}

/** A tree of `numNodes` nodes, every one a leaf with value 0 until the reader says otherwise. */
export function allocateTree(numNodes: number, options: TreeOptions = {}): MutableTree {
  const leafWidth = options.leafWidth ?? 1;
  return {
    numNodes,
    left: new Int32Array(numNodes).fill(-1),
    right: new Int32Array(numNodes).fill(-1),
    feature: new Int32Array(numNodes),
    test: new Uint8Array(numNodes),
    threshold: new Float64Array(numNodes),
    flags: new Uint8Array(numNodes),
    sets: new Map(),
    leafWidth,
    leafValue: new Float64Array(numNodes * leafWidth),
    cover: options.cover ? new Float64Array(numNodes) : null,
    leafId: options.leafId ? new Int32Array(numNodes) : null,
  };
}

/** Whether node n of `tree` is a leaf. */
export function isLeaf(tree: ForestTree, n: number): boolean {
  return tree.left[n] === -1;
}
