/**
 * The SIMD kernel's WebAssembly text (model/kernels/simd-scorer.ts runs it; binned-layout.ts is
 * the layout it walks). Written out by code rather than by hand because it is the same few steps
 * unrolled: the top levels of a tree as one expression per level count, the deep walk once per
 * lane, and each of these for 8- and 16-bit bins. `npm run build:kernel` assembles it (with wabt)
 * into model/kernels/simd-kernel-wasm.ts; test/unit/kernel.test.ts holds the two together.
 *
 * Two builds: one with relaxed SIMD's `i8x16.relaxed_laneselect` (one x86 `vpblendvb`) where the
 * top levels choose between two comparisons, one with `v128.bitselect` (three instructions) for
 * engines without relaxed SIMD. The masks chosen by are all-ones or all-zeros per byte, for which
 * both are defined to give the same bits.
 *
 * Memory (byte offsets set once by `setup`; the scorer lays them out):
 *   trees   32 bytes a tree: [top i32][deep i32][leaves i32][steps i32][margin offset i32]
 *           [complete i32][four i32][shares i32]
 *           top: the tree's top nodes; deep: its deep nodes (a complete tree's minus 2^levels
 *           nodes: its positions count from the root); leaves: its leaf values (a complete tree's
 *           minus 2^depth values); steps: deep steps; margin offset: its group's margins within a
 *           block's (group × 16 lanes × value bytes); complete: 1 for a complete tree; four: how
 *           this tree and the next three can walk one row together (1 all complete with the same
 *           steps, 2 all deeper trees, 0 not), or (3 complete with the same steps, 4 deeper, plus
 *           slots << 8) this tree and the three every `slots` trees on, each the first slot of a
 *           vector leaf whose other slots follow it and share its walk; shares: 1 when the tree walks exactly as the
 *           one before it (another slot of a vector leaf): a block's walks end where that tree's
 *           ended (kept in scratch), and only the leaves are this tree's own.
 *   top     8-bit bins: 4 bytes a node [column offset u16 = column × 16][threshold i8][0];
 *           16-bit: 8 bytes [column offset u32 = column × 32][threshold i16][0 ×2].
 *   deep    a complete tree's, 8-bit: 4 bytes a node [threshold i8][0][column offset u16];
 *           16-bit: 8 bytes [threshold i16][0 ×2][column offset u32]. A deeper tree's, 8-bit:
 *           [threshold i8][column u8][left u16]; 16-bit: [threshold i16][column u16][left u32];
 *           left counts from the tree's first deep node.
 *   bins    a block of 16 rows: each column's 16 bins together (16 or 32 bytes), columns in
 *           order, then one spare column that bins of absent missing sides are written to.
 *   margins a block of 16 rows: per output group 16 sums (float32 or float64).
 *   scratch 256 bytes: the 16 walks' positions (i32: where they start, then where they ended when
 *           the next tree shares the walk), then their leaf values.
 *
 * A split sends a row right when its bin (stored biased, minus 128 or 32 768) is greater than the
 * split's threshold (stored biased too): one signed comparison, `i8x16.gt_s` for 16 rows at once.
 */
import { TOP_LEVELS_MAX } from "../../model/compile/quantize.js";
import { ZERO_THRESHOLD } from "../../model/forest/forest.js";

type Width = 8 | 16;
type Precision = "f32" | "f64";

/** Bytes of a top node, a deep node, and a bin. */
const TOP_BYTES = { 8: 4, 16: 8 } as const;
const DEEP_SHIFT = { 8: 2, 16: 3 } as const;
const BIAS = { 8: 128, 16: 32768 } as const;

/** One top node's comparison for the 16 rows of the block at $gp: a mask of bytes, -1 = right. */
function topCompare(w: Width, j: number): string {
  const at = j * TOP_BYTES[w];
  if (w === 8)
    return `(i8x16.gt_s
        (v128.load (i32.add (local.get $gp) (i32.load16_u offset=${at} (local.get $tp))))
        (v128.load8_splat offset=${at + 2} (local.get $tp)))`;
  return `(i8x16.narrow_i16x8_s
        (i16x8.gt_s
          (v128.load (local.tee $a (i32.add (local.get $gp) (i32.load offset=${at} (local.get $tp)))))
          (local.tee $th (v128.load16_splat offset=${at + 4} (local.get $tp))))
        (i16x8.gt_s (v128.load offset=16 (local.get $a)) (local.get $th)))`;
}

/**
 * The top `levels` levels for the block: level k's direction is its 2^k nodes' comparisons, each
 * row's chosen by the directions above it (a tree of selects, highest level last), and the 16
 * positions under the top accumulate in $idx (twice plus one where right).
 */
function topLevels(w: Width, levels: number, select: string): string {
  const choose = (k: number, first: number, size: number, d: number): string => {
    if (size === 1) return topCompare(w, (1 << k) - 1 + first);
    const half = size >> 1;
    return `(${select} ${choose(k, first + half, half, d + 1)} ${choose(k, first, half, d + 1)} (local.get $m${d}))`;
  };
  const out = ["(local.set $idx (v128.const i32x4 0 0 0 0))"];
  for (let k = 0; k < levels; k++) {
    out.push(`(local.set $m${k} ${choose(k, 0, 1 << k, 0)})`);
    out.push(`(local.set $idx (i8x16.sub (i8x16.add (local.get $idx) (local.get $idx)) (local.get $m${k})))`);
  }
  return out.join("\n        ");
}

/**
 * One deep step of the walk whose position is in `p`, from the tree's node base in `base`, for the
 * row whose bins are at $gp + `binOffset`: to the left or the right child. A complete tree's
 * position j goes to 2j or 2j + 1 (1-based, breadth first); a deeper tree's node has its left child.
 */
function walkStep(w: Width, complete: boolean, p: string, base: string, binOffset: number): string {
  const load = w === 8 ? "i32.load8_s" : "i32.load16_s";
  const right = (column: string) =>
    `(i32.shr_u (i32.sub (${load} (local.get $k)) (${load} offset=${binOffset} (i32.add (local.get $gp) ${column}))) (i32.const 31))`;
  const node = `(local.set $k (i32.add (local.get ${base}) (i32.shl (local.get ${p}) (i32.const ${DEEP_SHIFT[w]}))))`;
  if (complete) {
    const column = w === 8 ? `(i32.load16_u offset=2 (local.get $k))` : `(i32.load offset=4 (local.get $k))`;
    return `${node}
                (local.set ${p} (i32.add (i32.add (local.get ${p}) (local.get ${p})) ${right(column)}))`;
  }
  const column =
    w === 8
      ? `(i32.shl (i32.load8_u offset=1 (local.get $k)) (i32.const 4))`
      : `(i32.shl (i32.load16_u offset=2 (local.get $k)) (i32.const 5))`;
  const left = w === 8 ? `(i32.load16_u offset=2 (local.get $k))` : `(i32.load offset=4 (local.get $k))`;
  return `${node}
                (local.set ${p} (i32.add ${left} ${right(column)}))`;
}

/**
 * A deeper tree's walk goes on while a lane moved in its last step: a leaf loops to itself, so once
 * every lane is on a leaf the steps left change nothing (and a fully grown tree's leaves are mostly
 * far above its deepest). Continues `loop` when positions `p`0..n-1 differ from `o`0..n-1.
 */
function moved(loop: string, p: string, o: string, n = 4): string {
  const ne = Array.from({ length: n }, (_, j) => `(i32.ne (local.get ${p}${j}) (local.get ${o}${j}))`);
  let any = ne[0];
  for (let j = 1; j < n; j++) any = `(i32.or ${any} ${ne[j]})`;
  return `(br_if ${loop} ${any})`;
}

/**
 * The deep walks, four lanes at a time with their positions in registers (four independent walks
 * whose loads overlap, and the next four's behind them), each lane's leaf then into scratch.
 */
function deepWalks(w: Width, levels: number, complete: boolean): string {
  const passes = [0, 4, 8, 12];
  const ways = [0, 1, 2, 3];
  const start = complete ? ` (i32.const ${1 << levels})` : "";
  const tag = `${complete ? "c" : "p"}`;
  return passes
    .map(
      (first) => `${ways
        .map((j) =>
          complete
            ? `(local.set $p${j} (i32.add (i32.load offset=${(first + j) * 4} (global.get $scratch))${start}))`
            : `(local.set $p${j} (i32.load offset=${(first + j) * 4} (global.get $scratch)))`,
        )
        .join("\n            ")}
            (local.set $s (local.get $steps))
            (block $walked${tag}${first}
              (loop $eachStep${tag}${first}
                (br_if $walked${tag}${first} (i32.eqz (local.get $s)))
                ${
                  complete
                    ? ""
                    : `${ways.map((j) => `(local.set $o${j} (local.get $p${j}))`).join(" ")}
                `
                }${ways.map((j) => walkStep(w, complete, `$p${j}`, "$deep", (first + j) * (w / 8))).join("\n                ")}
                (local.set $s (i32.sub (local.get $s) (i32.const 1)))
                ${complete ? `(br $eachStep${tag}${first})` : moved(`$eachStep${tag}${first}`, "$p", "$o")}))
            (if (local.get $keep)
              (then
                ${ways.map((j) => `(i32.store offset=${(first + j) * 4} (global.get $scratch) (local.get $p${j}))`).join("\n                ")}))
            (if (local.get $f64)
              (then
                ${ways.map((j) => `(f64.store offset=${64 + (first + j) * 8} (global.get $scratch) (f64.load (i32.add (local.get $leaves) (i32.shl (local.get $p${j}) (i32.const 3)))))`).join("\n                ")})
              (else
                ${ways.map((j) => `(f32.store offset=${64 + (first + j) * 4} (global.get $scratch) (f32.load (i32.add (local.get $leaves) (i32.shl (local.get $p${j}) (i32.const 2)))))`).join("\n                ")}))`,
    )
    .join("\n            ");
}

/** The 16 leaves at the positions in scratch (where the tree before's walks ended) into scratch. */
function sharedLeaves(): string {
  const lanes = Array.from({ length: 16 }, (_, i) => i);
  const load = (p: Precision, i: number) => {
    const shift = p === "f32" ? 2 : 3;
    return `(${p}.store offset=${64 + i * (p === "f32" ? 4 : 8)} (global.get $scratch) (${p}.load (i32.add (local.get $leaves) (i32.shl (i32.load offset=${i * 4} (global.get $scratch)) (i32.const ${shift})))))`;
  };
  return `(if (local.get $f64)
              (then
                ${lanes.map((i) => load("f64", i)).join("\n                ")})
              (else
                ${lanes.map((i) => load("f32", i)).join("\n                ")}))`;
}

/** The 16 leaves (in scratch) added to the block's margins for the tree's group. */
function addLeaves(p: Precision): string {
  const bytes = p === "f32" ? 4 : 8;
  const vector = p === "f32" ? "f32x4" : "f64x2";
  return Array.from({ length: (16 * bytes) / 16 }, (_, i) => {
    const at = i * 16;
    return `(v128.store offset=${at} (local.get $mp)
            (${vector}.add (v128.load offset=${at} (local.get $mp)) (v128.load offset=${64 + at} (global.get $scratch))))`;
  }).join("\n          ");
}

/** score{w}_{levels}: adds trees [t0, t1) to blocks [g0, g1), for forests whose top has `levels` levels. */
function scoreBlocks(w: Width, levels: number, select: string): string {
  const masks = Array.from({ length: levels }, (_, k) => `(local $m${k} v128)`).join(" ");
  return `
  (func (export "score${w}_${levels}")
    (param $g0 i32) (param $g1 i32) (param $t0 i32) (param $t1 i32) (param $f64 i32)
    (local $g i32) (local $gp i32) (local $mp i32) (local $t i32) (local $te i32) (local $tp i32)
    (local $deep i32) (local $leaves i32) (local $steps i32) (local $s i32) (local $k i32) (local $a i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $o0 i32) (local $o1 i32) (local $o2 i32) (local $o3 i32) (local $keep i32)
    (local $idx v128) (local $wide v128) (local $th v128) ${masks}
    (local.set $g (local.get $g0))
    (block $blocksDone
      (loop $eachBlock
        (br_if $blocksDone (i32.ge_u (local.get $g) (local.get $g1)))
        (local.set $gp (i32.add (global.get $bins) (i32.mul (local.get $g) (global.get $blockBins))))
        (local.set $t (local.get $t0))
        (block $treesDone
          (loop $eachTree
            (br_if $treesDone (i32.ge_u (local.get $t) (local.get $t1)))
            (local.set $te (i32.add (global.get $trees) (i32.shl (local.get $t) (i32.const 5))))
            (local.set $tp (i32.load (local.get $te)))
            (local.set $leaves (i32.load offset=8 (local.get $te)))
            ;; keep where the walks end when the next tree (in this call) shares them
            (local.set $keep (i32.and (i32.lt_u (i32.add (local.get $t) (i32.const 1)) (local.get $t1))
              (i32.load offset=60 (local.get $te))))
            (if (i32.and (i32.load offset=28 (local.get $te)) (i32.ne (local.get $t) (local.get $t0)))
              (then
            ;; another slot of the tree before: its walks' ends, this tree's leaves
            ${sharedLeaves()})
              (else
        ${topLevels(w, levels, select)}
            ;; the 16 positions under the top, as i32, are where the deep walks start
            (local.set $wide (i16x8.extend_low_i8x16_u (local.get $idx)))
            (v128.store (global.get $scratch) (i32x4.extend_low_i16x8_u (local.get $wide)))
            (v128.store offset=16 (global.get $scratch) (i32x4.extend_high_i16x8_u (local.get $wide)))
            (local.set $wide (i16x8.extend_high_i8x16_u (local.get $idx)))
            (v128.store offset=32 (global.get $scratch) (i32x4.extend_low_i16x8_u (local.get $wide)))
            (v128.store offset=48 (global.get $scratch) (i32x4.extend_high_i16x8_u (local.get $wide)))
            (local.set $deep (i32.load offset=4 (local.get $te)))
            (local.set $steps (i32.load offset=12 (local.get $te)))
            (if (i32.load offset=20 (local.get $te))
              (then
            ${deepWalks(w, levels, true)})
              (else
            ${deepWalks(w, levels, false)}))))
            (local.set $mp (i32.add (i32.add (global.get $margins) (i32.mul (local.get $g) (global.get $blockMargins)))
              (i32.load offset=16 (local.get $te))))
            (if (local.get $f64)
              (then
          ${addLeaves("f64")})
              (else
          ${addLeaves("f32")}))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $eachTree)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $eachBlock))))`;
}

/**
 * scoreRow{w}: one row (lane 0 of the block at `gp`), trees [t0, t1), walked one node at
 * a time (for a row or two the 16-lane top would do sixteen times the work), four trees
 * interleaved step by step so their loads overlap: four deeper (pointer) trees, which walk the
 * deepest one's steps (a shallower one waits on its leaf, which loops to itself) or stop when all
 * four are on leaves, or four complete trees with the same steps. Others go alone.
 */
function scoreRow(w: Width): string {
  const load = w === 8 ? "i32.load8_s" : "i32.load16_s";
  const topColumn = w === 8 ? "i32.load16_u" : "i32.load";
  const thresholdAt = w === 8 ? 2 : 4;
  const ways = [0, 1, 2, 3];
  /** Tree i's top node j → its child, in $j{i} (from the tree's top nodes at $tp{i}). */
  const topStep = (
    i: number,
  ) => `(local.set $k (i32.add (local.get $tp${i}) (i32.mul (local.get $j${i}) (i32.const ${TOP_BYTES[w]}))))
          (local.set $j${i}
            (i32.add (i32.add (i32.add (local.get $j${i}) (local.get $j${i})) (i32.const 1))
              (i32.shr_u
                (i32.sub (${load} offset=${thresholdAt} (local.get $k)) (${load} (i32.add (local.get $gp) (${topColumn} (local.get $k)))))
                (i32.const 31))))`;
  /** Tree i's leaf added to its group's margin (trees in order: the caller goes 0, 1, 2, 3). */
  const addLeaf = (i: number, p: Precision) => {
    const shift = p === "f32" ? 2 : 3;
    return `(local.set $out (i32.add (local.get $mp) (i32.load offset=16 (local.get $te${i}))))
            (${p}.store (local.get $out)
              (${p}.add (${p}.load (local.get $out))
                (${p}.load (i32.add (i32.load offset=8 (local.get $te${i})) (i32.shl (local.get $j${i}) (i32.const ${shift}))))))`;
  };
  /**
   * Tree i's leaves for every slot of its vector leaf (trees te_i .. te_i + $stride - 1 share its
   * walk), each added to its own group's margin, slots in order.
   */
  const addSlots = (i: number, p: Precision, tag: string) => {
    const shift = p === "f32" ? 2 : 3;
    return `(local.set $e (local.get $te${i}))
            (local.set $end (i32.add (local.get $te${i}) (i32.shl (local.get $stride) (i32.const 5))))
            (loop $slots${tag}${i}${p}
              (local.set $out (i32.add (local.get $mp) (i32.load offset=16 (local.get $e))))
              (${p}.store (local.get $out)
                (${p}.add (${p}.load (local.get $out))
                  (${p}.load (i32.add (i32.load offset=8 (local.get $e)) (i32.shl (local.get $j${i}) (i32.const ${shift}))))))
              (local.set $e (i32.add (local.get $e) (i32.const 32)))
              (br_if $slots${tag}${i}${p} (i32.lt_u (local.get $e) (local.get $end))))`;
  };
  /**
   * Trees $t .. $t + n - 1 (all complete, or none), interleaved; `strided`: trees $t + i × $stride,
   * each walked once for the $stride slots of its vector leaf.
   */
  const walk = (n: number, complete: boolean, strided = false) => {
    const ts = ways.slice(0, n);
    const tag = `${n}${complete ? "c" : "p"}${strided ? "s" : ""}`;
    const index = (i: number) =>
      strided ? `(i32.mul (local.get $stride) (i32.const ${i}))` : `(i32.const ${i})`;
    return `${ts
      .map(
        (
          i,
        ) => `(local.set $te${i} (i32.add (global.get $trees) (i32.shl (i32.add (local.get $t) ${index(i)}) (i32.const 5))))
        (local.set $tp${i} (i32.load (local.get $te${i})))
        (local.set $deep${i} (i32.load offset=4 (local.get $te${i})))
        (local.set $j${i} (i32.const 0))`,
      )
      .join("\n        ")}
        (local.set $s (i32.load offset=12 (local.get $te0)))
        ${ts
          .slice(1)
          .map(
            (i) =>
              `(if (i32.gt_u (i32.load offset=12 (local.get $te${i})) (local.get $s)) (then (local.set $s (i32.load offset=12 (local.get $te${i})))))`,
          )
          .join("\n        ")}
        ;; the top: node j's children are 2j + 1 and 2j + 2
        (local.set $l (global.get $topLevels))
        (loop $eachLevel${tag}
          ${ts.map(topStep).join("\n          ")}
          (local.set $l (i32.sub (local.get $l) (i32.const 1)))
          (br_if $eachLevel${tag} (local.get $l)))
        ;; the position under the top: a slot (0-based), or for a complete tree 1-based from the root
        ${ts.map((i) => (complete ? `(local.set $j${i} (i32.add (local.get $j${i}) (i32.const 1)))` : `(local.set $j${i} (i32.sub (local.get $j${i}) (global.get $topSize)))`)).join("\n        ")}
        (block $walked${tag}
          (loop $eachStep${tag}
            (br_if $walked${tag} (i32.eqz (local.get $s)))
            ${
              complete
                ? ""
                : `${ts.map((i) => `(local.set $o${i} (local.get $j${i}))`).join(" ")}
            `
            }${ts.map((i) => walkStep(w, complete, `$j${i}`, `$deep${i}`, 0)).join("\n            ")}
            (local.set $s (i32.sub (local.get $s) (i32.const 1)))
            ${complete ? `(br $eachStep${tag})` : moved(`$eachStep${tag}`, "$j", "$o", n)}))
        (if (local.get $f64)
          (then
            ${ts.map((i) => (strided ? addSlots(i, "f64", tag) : addLeaf(i, "f64"))).join("\n            ")})
          (else
            ${ts.map((i) => (strided ? addSlots(i, "f32", tag) : addLeaf(i, "f32"))).join("\n            ")}))`;
  };
  const locals = ways
    .map(
      (i) =>
        `(local $te${i} i32) (local $tp${i} i32) (local $deep${i} i32) (local $j${i} i32) (local $o${i} i32)`,
    )
    .join(" ");

  return `
  (func (export "scoreRow${w}") (param $gp i32) (param $mp i32) (param $t0 i32) (param $t1 i32) (param $f64 i32)
    (local $t i32) (local $k i32) (local $s i32) (local $l i32) (local $out i32) (local $kinds i32)
    (local $stride i32) (local $e i32) (local $end i32) ${locals}
    (local.set $t (local.get $t0))
    (block $treesDone
      (loop $eachTree
        (br_if $treesDone (i32.ge_u (local.get $t) (local.get $t1)))
        (if (i32.le_u (i32.add (local.get $t) (i32.const 4)) (local.get $t1))
          (then
            ;; how trees t .. t + 3 can walk together: 1 four complete trees with the same steps,
            ;; 2 four deeper trees, 0 not together (the scorer sets it)
            (local.set $kinds (i32.load offset=24 (i32.add (global.get $trees) (i32.shl (local.get $t) (i32.const 5)))))
            (if (i32.eq (local.get $kinds) (i32.const 1))
              (then
        ${walk(4, true)}
                (local.set $t (i32.add (local.get $t) (i32.const 4)))
                (br $eachTree)))
            (if (i32.eq (local.get $kinds) (i32.const 2))
              (then
        ${walk(4, false)}
                (local.set $t (i32.add (local.get $t) (i32.const 4)))
                (br $eachTree)))
            ;; 3 or 4 (+ slots << 8): trees t, t + slots, t + 2 slots, t + 3 slots, complete with the
            ;; same steps (3) or deeper (4), each followed by the other slots of its vector leaf
            (local.set $stride (i32.shr_u (local.get $kinds) (i32.const 8)))
            (if (i32.le_u (i32.add (local.get $t) (i32.shl (local.get $stride) (i32.const 2))) (local.get $t1))
              (then
                (if (i32.eq (i32.and (local.get $kinds) (i32.const 255)) (i32.const 3))
                  (then
        ${walk(4, true, true)}
                    (local.set $t (i32.add (local.get $t) (i32.shl (local.get $stride) (i32.const 2))))
                    (br $eachTree)))
                (if (i32.eq (i32.and (local.get $kinds) (i32.const 255)) (i32.const 4))
                  (then
        ${walk(4, false, true)}
                    (local.set $t (i32.add (local.get $t) (i32.shl (local.get $stride) (i32.const 2))))
                    (br $eachTree)))))))
        (if (i32.load offset=20 (i32.add (global.get $trees) (i32.shl (local.get $t) (i32.const 5))))
          (then
        ${walk(1, true)})
          (else
        ${walk(1, false)}))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $eachTree))))`;
}

/** Bin descriptors, 64 bytes each (written by the scorer). */
const DESC = {
  source: 0, // byte offset of the feature in a row
  flags: 4, // 1: NaN is 0; 2: |x| <= ZERO_THRESHOLD (float32 1e-35, LightGBM's kZeroThreshold) is missing
  left: 8, // byte offset of the NaN-goes-left column in a block (or the spare column's)
  right: 12, // the NaN-goes-right column's
  cuts: 16, // number of cuts: a missing value's bin in the right column
  table: 20, // address of the bucket table (u8 entries for 8-bit bins, u16 for 16-bit)
  cutsAt: 24, // address of the cuts (input precision), padded with NaN
  steps: 28,
  last: 32, // buckets - 1
  variant: 36, // which binning function: BIN_VARIANTS's index
  lo: 40, // f64 slot (f32 at its start for float32 inputs)
  scale: 48,
} as const;
export const BIN_DESCRIPTOR = DESC;
export const BIN_DESCRIPTOR_BYTES = 64;
/** Halvings written out; a column needing more takes the loop. */
const UNROLLED_STEPS = 4;

/**
 * One value's bin into $bin, from x at $rp. A NaN's bin comes out 0 with no test: (NaN - lo) ×
 * scale truncates to bucket 0, whose start is 0, and NaN passes no cut. With missing rules
 * (flagged), $miss says whether the value is missing.
 */
function binValue(p: Precision, w: Width, steps: number | "loop", flagged: boolean): string {
  const cutBytes = p === "f32" ? 4 : 8;
  const cutShift = p === "f32" ? 2 : 3;
  const x = `(local.get $x${p})`;
  const lines = [`(local.set $x${p} (${p}.load (local.get $rp)))`];
  if (flagged) {
    lines.push(
      `(if (i32.and (local.get $nanAsZero) (${p}.ne ${x} ${x})) (then (local.set $x${p} (${p}.const 0))))`,
      `(local.set $miss (i32.or (${p}.ne ${x} ${x})
          (i32.and (local.get $zeroIsMissing)
            (f64.le (f64.abs ${p === "f32" ? `(f64.promote_f32 ${x})` : x}) (f64.const ${ZERO_THRESHOLD})))))`,
    );
  }
  lines.push(
    `(local.set $b (i32.trunc_sat_${p}_s (${p}.mul (${p}.sub ${x} (local.get $lo${p})) (local.get $scale${p}))))`,
    `(local.set $b (select (i32.const 0) (local.get $b) (i32.lt_s (local.get $b) (i32.const 0))))`,
    `(local.set $b (select (local.get $last) (local.get $b) (i32.gt_s (local.get $b) (local.get $last))))`,
    w === 8
      ? `(local.set $bin (i32.load8_u (i32.add (local.get $table) (local.get $b))))`
      : `(local.set $bin (i32.load16_u (i32.add (local.get $table) (i32.shl (local.get $b) (i32.const 1)))))`,
  );
  const cutAt = (offset: string) =>
    `(${p}.load ${offset}(i32.add (local.get $cutsAt) (i32.shl (local.get $bin) (i32.const ${cutShift}))))`;
  if (steps === "loop") {
    lines.push(
      `(local.set $h (i32.shl (i32.const 1) (i32.sub (local.get $steps) (i32.const 1))))`,
      `(loop $halve
          (local.set $bin (i32.add (local.get $bin)
            (i32.mul (local.get $h)
              (${p}.ge ${x} (${p}.load (i32.add (local.get $cutsAt)
                (i32.shl (i32.sub (i32.add (local.get $bin) (local.get $h)) (i32.const 1)) (i32.const ${cutShift}))))))))
          (local.set $h (i32.shr_u (local.get $h) (i32.const 1)))
          (br_if $halve (local.get $h)))`,
    );
  } else {
    for (let s = steps - 1; s >= 0; s--) {
      const h = 1 << s;
      lines.push(
        `(local.set $bin (i32.add (local.get $bin) (i32.shl (${p}.ge ${x} ${cutAt(`offset=${(h - 1) * cutBytes} `)}) (i32.const ${s}))))`,
      );
    }
  }
  return lines.join("\n        ");
}

/** Rows binned a column at a time: 4 blocks (a few KB of rows, in L1), then the next 64. */
const BIN_ROWS = 64;

/** The binning variants: halvings written out (0..UNROLLED_STEPS) or looped, each plain or with missing rules. */
function binVariants(): { steps: number | "loop"; flagged: boolean; name: string }[] {
  const out: { steps: number | "loop"; flagged: boolean; name: string }[] = [];
  for (const flagged of [false, true]) {
    for (let s = 0; s <= UNROLLED_STEPS; s++)
      out.push({ steps: s, flagged, name: `${flagged ? "m" : "p"}${s}` });
    out.push({ steps: "loop", flagged, name: `${flagged ? "m" : "p"}n` });
  }
  return out;
}

/**
 * $bin{P}{w}_{variant}: one column's bins for `count` rows from `rp` (`rowBytes` apart), written at
 * `out` (the first block's column) and on, block by block. One function a variant, each with few
 * locals, so V8 keeps them in registers.
 */
function binColumn(
  p: Precision,
  w: Width,
  v: { steps: number | "loop"; flagged: boolean; name: string },
): string {
  const store = w === 8 ? "i32.store8" : "i32.store16";
  const binBytes = w / 8;
  const bias = BIAS[w];
  // Missing values: bin 0 on the left (a NaN's bin already is), every cut passed on the right.
  const left = v.flagged
    ? `(select (i32.const ${-bias}) (i32.sub (local.get $bin) (i32.const ${bias})) (local.get $miss))`
    : `(i32.sub (local.get $bin) (i32.const ${bias}))`;
  const missing = v.flagged ? `(local.get $miss)` : `(${p}.ne (local.get $x${p}) (local.get $x${p}))`;
  return `
  (func $bin${p}_${w}_${v.name} (type $binColumn)
    (param $rp i32) (param $rowBytes i32) (param $count i32) (param $out i32) (param $dp i32)
    (local $nanAsZero i32) (local $zeroIsMissing i32) (local $leftAt i32) (local $rightAt i32)
    (local $numCuts i32) (local $table i32) (local $cutsAt i32) (local $steps i32) (local $last i32)
    (local $lo${p} ${p}) (local $scale${p} ${p}) (local $r i32) (local $lanes i32) (local $at i32) (local $end i32)
    (local $blockBins i32) (local $x${p} ${p}) (local $miss i32) (local $b i32) (local $bin i32) (local $h i32)
    (local.set $nanAsZero (i32.and (i32.load offset=${DESC.flags} (local.get $dp)) (i32.const 1)))
    (local.set $zeroIsMissing (i32.shr_u (i32.and (i32.load offset=${DESC.flags} (local.get $dp)) (i32.const 2)) (i32.const 1)))
    (local.set $leftAt (i32.load offset=${DESC.left} (local.get $dp)))
    (local.set $rightAt (i32.load offset=${DESC.right} (local.get $dp)))
    (local.set $numCuts (i32.load offset=${DESC.cuts} (local.get $dp)))
    (local.set $table (i32.load offset=${DESC.table} (local.get $dp)))
    (local.set $cutsAt (i32.load offset=${DESC.cutsAt} (local.get $dp)))
    (local.set $steps (i32.load offset=${DESC.steps} (local.get $dp)))
    (local.set $last (i32.load offset=${DESC.last} (local.get $dp)))
    (local.set $lo${p} (${p}.load offset=${DESC.lo} (local.get $dp)))
    (local.set $scale${p} (${p}.load offset=${DESC.scale} (local.get $dp)))
    (local.set $blockBins (global.get $blockBins))
    (local.set $rp (i32.add (local.get $rp) (i32.load offset=${DESC.source} (local.get $dp))))
    (local.set $r (i32.const 0))
    (loop $eachBlock
      (local.set $lanes (i32.sub (local.get $count) (local.get $r)))
      (if (i32.gt_u (local.get $lanes) (i32.const 16)) (then (local.set $lanes (i32.const 16))))
      (local.set $at (local.get $out))
      (local.set $end (i32.add (local.get $out) (i32.mul (local.get $lanes) (i32.const ${binBytes}))))
      (loop $eachLane
        ${binValue(p, w, v.steps, v.flagged)}
        (${store} (i32.add (local.get $at) (local.get $leftAt)) ${left})
        (${store} (i32.add (local.get $at) (local.get $rightAt))
          (i32.sub (select (local.get $numCuts) (local.get $bin) ${missing}) (i32.const ${bias})))
        (local.set $rp (i32.add (local.get $rp) (local.get $rowBytes)))
        (local.set $at (i32.add (local.get $at) (i32.const ${binBytes})))
        (br_if $eachLane (i32.lt_u (local.get $at) (local.get $end))))
      (local.set $out (i32.add (local.get $out) (local.get $blockBins)))
      (local.set $r (i32.add (local.get $r) (i32.const 16)))
      (br_if $eachBlock (i32.lt_u (local.get $r) (local.get $count)))))`;
}

/**
 * bin{P}{w}: `count` rows (row-major, `rowBytes` apart, float32 or float64) → blocks of bins, 64
 * rows at a time, column by column, each column by its variant's function (a descriptor's field).
 */
function binRows(p: Precision, w: Width, tableBase: number): string {
  return `
  (func (export "bin${p === "f32" ? "F32" : "F64"}_${w}")
    (param $rows i32) (param $rowBytes i32) (param $count i32) (param $descs i32) (param $numDescs i32)
    (local $first i32) (local $n i32) (local $d i32) (local $dp i32) (local $rp i32) (local $out i32)
    (local.set $first (i32.const 0))
    (block $rowsDone
      (loop $eachRun
        (br_if $rowsDone (i32.ge_u (local.get $first) (local.get $count)))
        (local.set $n (i32.sub (local.get $count) (local.get $first)))
        (if (i32.gt_u (local.get $n) (i32.const ${BIN_ROWS})) (then (local.set $n (i32.const ${BIN_ROWS}))))
        (local.set $rp (i32.add (local.get $rows) (i32.mul (local.get $first) (local.get $rowBytes))))
        (local.set $out (i32.add (global.get $bins) (i32.mul (i32.shr_u (local.get $first) (i32.const 4)) (global.get $blockBins))))
        (local.set $d (i32.const 0))
        (block $columnsDone
          (loop $eachColumn
            (br_if $columnsDone (i32.ge_u (local.get $d) (local.get $numDescs)))
            (local.set $dp (i32.add (local.get $descs) (i32.shl (local.get $d) (i32.const 6))))
            (call_indirect (type $binColumn)
              (local.get $rp) (local.get $rowBytes) (local.get $n) (local.get $out) (local.get $dp)
              (i32.add (i32.const ${tableBase}) (i32.load offset=${DESC.variant} (local.get $dp))))
            (local.set $d (i32.add (local.get $d) (i32.const 1)))
            (br $eachColumn)))
        (local.set $first (i32.add (local.get $first) (local.get $n)))
        (br $eachRun))))`;
}

export function simdKernelText(relaxed: boolean): string {
  const select = relaxed ? "i8x16.relaxed_laneselect" : "v128.bitselect";
  const functions: string[] = [];
  const variants = binVariants();
  const table: string[] = [];
  for (const w of [8, 16] as const) {
    for (let levels = 1; levels <= TOP_LEVELS_MAX; levels++) functions.push(scoreBlocks(w, levels, select));
    functions.push(scoreRow(w));
    for (const p of ["f32", "f64"] as const) {
      functions.push(binRows(p, w, table.length));
      for (const v of variants) {
        functions.push(binColumn(p, w, v));
        table.push(`$bin${p}_${w}_${v.name}`);
      }
    }
  }
  return `;; Generated by scripts/kernels/simd-kernel.ts (${relaxed ? "relaxed SIMD" : "SIMD"} build). See there.
(module
  (import "env" "memory" (memory 1 65536 shared))
  (global $trees (mut i32) (i32.const 0))
  (global $bins (mut i32) (i32.const 0))
  (global $blockBins (mut i32) (i32.const 0))
  (global $margins (mut i32) (i32.const 0))
  (global $blockMargins (mut i32) (i32.const 0))
  (global $scratch (mut i32) (i32.const 0))
  (global $topLevels (mut i32) (i32.const 0))
  (global $topSize (mut i32) (i32.const 0))
  (type $binColumn (func (param i32 i32 i32 i32 i32)))
  (table ${table.length} funcref)
  (elem (i32.const 0) ${table.join(" ")})

  (func (export "setup")
    (param $trees i32) (param $bins i32) (param $blockBins i32) (param $margins i32) (param $blockMargins i32)
    (param $scratch i32) (param $topLevels i32)
    (global.set $trees (local.get $trees))
    (global.set $bins (local.get $bins))
    (global.set $blockBins (local.get $blockBins))
    (global.set $margins (local.get $margins))
    (global.set $blockMargins (local.get $blockMargins))
    (global.set $scratch (local.get $scratch))
    (global.set $topLevels (local.get $topLevels))
    (global.set $topSize (i32.sub (i32.shl (i32.const 1) (local.get $topLevels)) (i32.const 1))))
${functions.join("\n")})
`;
}
