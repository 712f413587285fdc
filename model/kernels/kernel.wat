;; forestd's scoring kernel: margins for one block of rows, for a range of trees.
;;
;; A template of two kernels: {{L}} is the type leaves and margins are added in (f32 for XGBoost
;; and ONNX float models, f64 for scikit-learn and LightGBM, which sum in double) and {{LS}} its
;; byte shift (2 or 3). Source of model/kernels/kernel-wasm.ts (run `npm run build:kernel` after
;; editing; a test checks they agree). WebAssembly rather than JavaScript because the inner step
;; is a handful of loads and an f32 comparison: without typed-array bounds checks and
;; float32→float64 conversions it runs about twice as fast, and f32.ge / {{L}}.add are exactly the
;; format's comparison (after the compiler's lowering) and addition.
;;
;; The memory is shared (a SharedArrayBuffer): a worker lays a model's nodes, leaves, trees and
;; category sets out in it once, and each thread that scores the model instantiates this module on
;; the same memory with scratch of its own (pos, its rows and margins) grown past the image
;; (wasm-scorer.ts). Only the image is read by several threads, and nobody writes it after setup:
;; no atomics are needed.
;;
;; Memory layout (byte offsets set once per instance by `setup`):
;;   nodes  : 16 bytes per node, one of
;;            numeric split  [column i32 >= 0][threshold f32][left i32][missingRight i32]
;;            set split      [-1 - column i32 < 0][first word i32][left i32][missingRight | words << 1 i32]
;;            leaf           [0][NaN][left = itself][0]: a self-loop, so every row may take exactly
;;                           `depth` steps
;;            the right child is left + 1.
;;   leaves : 4 or 8 bytes per node   the leaf value ({{L}}) of leaf nodes
;;   trees  : 16 bytes per tree  [root i32][depth i32][group i32][flags i32]
;;            flags: 1 = the tree has set splits; 2 = it is unbalanced (its leaves' mean depth is
;;            well short of its depth: LightGBM's leaf-wise trees), so a single row's walk stops on
;;            its leaf rather than taking `depth` steps
;;   sets   : u32 words, the category bitsets of set splits (a set's words from its first word on)
;;   pos    : 4 bytes per row of a block: each row's current node
;;
;; One numeric step, for every row of the block in turn (rows are independent, so the CPU overlaps
;; them):
;;   right = (x >= threshold) | (missingRight & (x != x))   ;; NaN: default direction
;;   node  = left + right
;; A set step (`$setStep`, model/kernels/score.ts's categoricalStep) tests the category's bit.
;; Trees without set splits (flag 1 clear) are walked by loops that never look for one, so numeric
;; models pay nothing for them; in a tree with set splits every step branches on the sign of its
;; node's first word, and only set nodes take the branch.
;;
;; Blocks walk every tree for its full depth (a leaf loops to itself): of 64 rows one nearly always
;; goes that deep (12.8 of a tree's 13.2 levels on lgbm500.onnx's bench rows), and the row loop needs
;; no exit test; walking rows four at a time to their leaves instead measured slower. A single row walks a balanced tree (XGBoost's
;; depth-wise ones) for its depth too, a counted loop the CPU predicts; an unbalanced one (flag 2)
;; until its leaf (a leaf's left child is itself): on lgbm500.onnx's bench rows a lone walk takes
;; 7.3 steps a tree rather than 13.2.
(module
  (import "env" "memory" (memory 1 65536 shared))
  (global $nodes (mut i32) (i32.const 0))
  (global $leaves (mut i32) (i32.const 0))
  (global $trees (mut i32) (i32.const 0))
  (global $sets (mut i32) (i32.const 0))
  (global $pos (mut i32) (i32.const 0))

  (func (export "setup")
    (param $nodes i32) (param $leaves i32) (param $trees i32) (param $sets i32) (param $pos i32)
    (global.set $nodes (local.get $nodes))
    (global.set $leaves (local.get $leaves))
    (global.set $trees (local.get $trees))
    (global.set $sets (local.get $sets))
    (global.set $pos (local.get $pos)))

  ;; The node after set split `k` (its byte address) for a row whose value in the split's column is
  ;; `x`: exactly categoricalStep's answer. NaN goes by missingRight; a value below 0 or at or past
  ;; MAX_CATEGORY (2^24) goes left; otherwise the category is x truncated (x is a float32 below 2^24:
  ;; trunc is exact and cannot trap), and it goes right when its bit is set (a word past the set's
  ;; last goes left).
  (func $setStep (param $k i32) (param $x f32) (result i32)
    (local $left i32) (local $category i32) (local $word i32)
    (local.set $left (i32.load offset=8 (local.get $k)))
    (if (f32.ne (local.get $x) (local.get $x))
      (then (return (i32.add (local.get $left) (i32.and (i32.load offset=12 (local.get $k)) (i32.const 1))))))
    (if (i32.eqz (i32.and (f32.ge (local.get $x) (f32.const 0)) (f32.lt (local.get $x) (f32.const 16777216))))
      (then (return (local.get $left))))
    (local.set $category (i32.trunc_f32_u (local.get $x)))
    (local.set $word (i32.shr_u (local.get $category) (i32.const 5)))
    (if (i32.ge_u (local.get $word) (i32.shr_u (i32.load offset=12 (local.get $k)) (i32.const 1)))
      (then (return (local.get $left))))
    ;; i32.shr_u shifts by the category modulo 32: its bit within the word
    (i32.add (local.get $left)
      (i32.and
        (i32.shr_u
          (i32.load (i32.add (global.get $sets)
            (i32.shl (i32.add (i32.load offset=4 (local.get $k)) (local.get $word)) (i32.const 2))))
          (local.get $category))
        (i32.const 1))))

  ;; Adds trees [t0, t1) to the margins of `m` rows starting at byte `values`
  ;; (`nf` f32 features per row); margins at byte `margins`, `groups` {{L}} per row.
  ;; `dense` = 1 promises the block has no NaN, which saves the missing-value test.
  (func (export "scoreBlock")
    (param $values i32) (param $m i32) (param $nf i32) (param $t0 i32) (param $t1 i32)
    (param $margins i32) (param $groups i32) (param $dense i32)
    (local $t i32) (local $tp i32) (local $root i32) (local $depth i32) (local $group i32)
    (local $i i32) (local $d i32) (local $p i32) (local $k i32) (local $x f32) (local $f i32)
    (local $row i32) (local $rowBytes i32) (local $posEnd i32) (local $out i32) (local $outStride i32)
    (local $hasSets i32)
    (local.set $rowBytes (i32.shl (local.get $nf) (i32.const 2)))
    (local.set $outStride (i32.shl (local.get $groups) (i32.const {{LS}})))
    (local.set $posEnd (i32.add (global.get $pos) (i32.shl (local.get $m) (i32.const 2))))
    (local.set $t (local.get $t0))
    (block $treesDone
      (loop $eachTree
        (br_if $treesDone (i32.ge_u (local.get $t) (local.get $t1)))
        (local.set $tp (i32.add (global.get $trees) (i32.shl (local.get $t) (i32.const 4))))
        (local.set $root (i32.load (local.get $tp)))
        (local.set $depth (i32.load offset=4 (local.get $tp)))
        (local.set $group (i32.load offset=8 (local.get $tp)))
        (local.set $hasSets (i32.and (i32.load offset=12 (local.get $tp)) (i32.const 1)))
        ;; every row starts at the root
        (local.set $p (global.get $pos))
        (block $initDone
          (loop $init
            (br_if $initDone (i32.ge_u (local.get $p) (local.get $posEnd)))
            (i32.store (local.get $p) (local.get $root))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (br $init)))
        ;; one level at a time, every row one step down
        (local.set $d (i32.const 0))
        (block $levelsDone
          (loop $eachLevel
            (br_if $levelsDone (i32.ge_u (local.get $d) (local.get $depth)))
            (local.set $p (global.get $pos))
            (local.set $row (local.get $values))
            (if (local.get $hasSets)
              (then
                (if (local.get $dense)
                  (then
                ;; set splits in this tree: each step looks at its node's kind
                (block $denseSetRowsDone
                  (loop $eachDenseSetRow
                    (br_if $denseSetRowsDone (i32.ge_u (local.get $p) (local.get $posEnd)))
                    (local.set $k (i32.add (global.get $nodes) (i32.shl (i32.load (local.get $p)) (i32.const 4))))
                    (local.set $f (i32.load (local.get $k)))
                    (if (i32.lt_s (local.get $f) (i32.const 0))
                      (then (i32.store (local.get $p)
                        (call $setStep (local.get $k)
                          (f32.load (i32.add (local.get $row)
                            (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2)))))))
                      (else
                        (local.set $x (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2)))))
                        (i32.store (local.get $p)
                          (i32.add
                            (i32.load offset=8 (local.get $k))
                            (f32.ge (local.get $x) (f32.load offset=4 (local.get $k)))))))
                    (local.set $p (i32.add (local.get $p) (i32.const 4)))
                    (local.set $row (i32.add (local.get $row) (local.get $rowBytes)))
                    (br $eachDenseSetRow))))
                  (else
                ;; set splits in this tree: each step looks at its node's kind
                (block $setRowsDone
                  (loop $eachSetRow
                    (br_if $setRowsDone (i32.ge_u (local.get $p) (local.get $posEnd)))
                    (local.set $k (i32.add (global.get $nodes) (i32.shl (i32.load (local.get $p)) (i32.const 4))))
                    (local.set $f (i32.load (local.get $k)))
                    (if (i32.lt_s (local.get $f) (i32.const 0))
                      (then (i32.store (local.get $p)
                        (call $setStep (local.get $k)
                          (f32.load (i32.add (local.get $row)
                            (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2)))))))
                      (else
                        (local.set $x (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2)))))
                        (i32.store (local.get $p)
                          (i32.add
                            (i32.load offset=8 (local.get $k))
                            (i32.or
                              (f32.ge (local.get $x) (f32.load offset=4 (local.get $k)))
                              (i32.and (f32.ne (local.get $x) (local.get $x)) (i32.load offset=12 (local.get $k))))))))
                    (local.set $p (i32.add (local.get $p) (i32.const 4)))
                    (local.set $row (i32.add (local.get $row) (local.get $rowBytes)))
                    (br $eachSetRow))))))
              (else
                (if (local.get $dense)
                  (then
                    ;; no missing values in this block: one comparison decides
                    (block $denseDone
                      (loop $eachDenseRow
                        (br_if $denseDone (i32.ge_u (local.get $p) (local.get $posEnd)))
                        (local.set $k (i32.add (global.get $nodes) (i32.shl (i32.load (local.get $p)) (i32.const 4))))
                        (i32.store (local.get $p)
                          (i32.add
                            (i32.load offset=8 (local.get $k))
                            (f32.ge
                              (f32.load (i32.add (local.get $row) (i32.shl (i32.load (local.get $k)) (i32.const 2))))
                              (f32.load offset=4 (local.get $k)))))
                        (local.set $p (i32.add (local.get $p) (i32.const 4)))
                        (local.set $row (i32.add (local.get $row) (local.get $rowBytes)))
                        (br $eachDenseRow))))
                  (else
                    (block $rowsDone
                      (loop $eachRow
                        (br_if $rowsDone (i32.ge_u (local.get $p) (local.get $posEnd)))
                        (local.set $k (i32.add (global.get $nodes) (i32.shl (i32.load (local.get $p)) (i32.const 4))))
                        (local.set $x
                          (f32.load (i32.add (local.get $row) (i32.shl (i32.load (local.get $k)) (i32.const 2)))))
                        (i32.store (local.get $p)
                          (i32.add
                            (i32.load offset=8 (local.get $k))
                            (i32.or
                              (f32.ge (local.get $x) (f32.load offset=4 (local.get $k)))
                              (i32.and (f32.ne (local.get $x) (local.get $x)) (i32.load offset=12 (local.get $k))))))
                        (local.set $p (i32.add (local.get $p) (i32.const 4)))
                        (local.set $row (i32.add (local.get $row) (local.get $rowBytes)))
                        (br $eachRow)))))))
            (local.set $d (i32.add (local.get $d) (i32.const 1)))
            (br $eachLevel)))
        ;; add each row's leaf to its margin for this tree's group
        (local.set $p (global.get $pos))
        (local.set $out (i32.add (local.get $margins) (i32.shl (local.get $group) (i32.const {{LS}}))))
        (block $addDone
          (loop $add
            (br_if $addDone (i32.ge_u (local.get $p) (local.get $posEnd)))
            ({{L}}.store (local.get $out)
              ({{L}}.add
                ({{L}}.load (local.get $out))
                ({{L}}.load (i32.add (global.get $leaves) (i32.shl (i32.load (local.get $p)) (i32.const {{LS}}))))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $out (i32.add (local.get $out) (local.get $outStride)))
            (br $add)))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $eachTree))))

  ;; A row without missing values, trees [t0, t1) four at a time: four independent walks
  ;; interleaved step by step hide each other's load latency. Each group walks its deepest tree's
  ;; depth (shallower trees idle on their self-looping leaves), or, when one of them is unbalanced
  ;; (a LightGBM leaf-wise tree), until all four are on their leaves; leaves are added in tree order.
  ;; Returns the first tree it did not score (t1 minus the remainder of 4), for scoreRow to finish.
  (func (export "scoreRowDense4")
    (param $row i32) (param $t0 i32) (param $t1 i32) (param $margins i32) (result i32)
    (local $t i32) (local $tp i32) (local $d i32) (local $depth i32) (local $k i32) (local $out i32)
    (local $f i32) (local $flags i32) (local $n0 i32) (local $n1 i32) (local $n2 i32) (local $n3 i32)
    (local $k0 i32) (local $k1 i32) (local $k2 i32) (local $k3 i32)
    (local $l0 i32) (local $l1 i32) (local $l2 i32) (local $l3 i32)
    (local.set $t (local.get $t0))
    (block $groupsDone
      (loop $eachGroup
        (br_if $groupsDone (i32.gt_u (i32.add (local.get $t) (i32.const 4)) (local.get $t1)))
        (local.set $tp (i32.add (global.get $trees) (i32.shl (local.get $t) (i32.const 4))))
        (local.set $n0 (i32.load (local.get $tp)))
        (local.set $n1 (i32.load offset=16 (local.get $tp)))
        (local.set $n2 (i32.load offset=32 (local.get $tp)))
        (local.set $n3 (i32.load offset=48 (local.get $tp)))
        (local.set $depth (i32.load offset=4 (local.get $tp)))
        (if (i32.gt_u (i32.load offset=20 (local.get $tp)) (local.get $depth))
          (then (local.set $depth (i32.load offset=20 (local.get $tp)))))
        (if (i32.gt_u (i32.load offset=36 (local.get $tp)) (local.get $depth))
          (then (local.set $depth (i32.load offset=36 (local.get $tp)))))
        (if (i32.gt_u (i32.load offset=52 (local.get $tp)) (local.get $depth))
          (then (local.set $depth (i32.load offset=52 (local.get $tp)))))
        (local.set $d (i32.const 0))
        (local.set $flags (i32.or
          (i32.or (i32.load offset=12 (local.get $tp)) (i32.load offset=28 (local.get $tp)))
          (i32.or (i32.load offset=44 (local.get $tp)) (i32.load offset=60 (local.get $tp)))))
        (if (i32.and (local.get $flags) (i32.const 2))
          (then
            ;; unbalanced trees: walk until all four are on their leaves (a leaf's left is itself),
            ;; looking at each node's kind
            (block $walkedToLeaves
              (loop $stepToLeaves
                (local.set $k0 (i32.add (global.get $nodes) (i32.shl (local.get $n0) (i32.const 4))))
                (local.set $l0 (i32.load offset=8 (local.get $k0)))
                (local.set $k1 (i32.add (global.get $nodes) (i32.shl (local.get $n1) (i32.const 4))))
                (local.set $l1 (i32.load offset=8 (local.get $k1)))
                (local.set $k2 (i32.add (global.get $nodes) (i32.shl (local.get $n2) (i32.const 4))))
                (local.set $l2 (i32.load offset=8 (local.get $k2)))
                (local.set $k3 (i32.add (global.get $nodes) (i32.shl (local.get $n3) (i32.const 4))))
                (local.set $l3 (i32.load offset=8 (local.get $k3)))
                ;; every walk on its leaf (a leaf's left child is itself): done
                (br_if $walkedToLeaves (i32.and
                  (i32.and (i32.eq (local.get $l0) (local.get $n0)) (i32.eq (local.get $l1) (local.get $n1)))
                  (i32.and (i32.eq (local.get $l2) (local.get $n2)) (i32.eq (local.get $l3) (local.get $n3)))))
                (local.set $f (i32.load (local.get $k0)))
                (local.set $n0
                  (if (result i32) (i32.lt_s (local.get $f) (i32.const 0))
                    (then (call $setStep (local.get $k0)
                      (f32.load (i32.add (local.get $row) (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2))))))
                    (else (i32.add (local.get $l0)
                      (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2))))
                        (f32.load offset=4 (local.get $k0)))))))
                (local.set $f (i32.load (local.get $k1)))
                (local.set $n1
                  (if (result i32) (i32.lt_s (local.get $f) (i32.const 0))
                    (then (call $setStep (local.get $k1)
                      (f32.load (i32.add (local.get $row) (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2))))))
                    (else (i32.add (local.get $l1)
                      (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2))))
                        (f32.load offset=4 (local.get $k1)))))))
                (local.set $f (i32.load (local.get $k2)))
                (local.set $n2
                  (if (result i32) (i32.lt_s (local.get $f) (i32.const 0))
                    (then (call $setStep (local.get $k2)
                      (f32.load (i32.add (local.get $row) (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2))))))
                    (else (i32.add (local.get $l2)
                      (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2))))
                        (f32.load offset=4 (local.get $k2)))))))
                (local.set $f (i32.load (local.get $k3)))
                (local.set $n3
                  (if (result i32) (i32.lt_s (local.get $f) (i32.const 0))
                    (then (call $setStep (local.get $k3)
                      (f32.load (i32.add (local.get $row) (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2))))))
                    (else (i32.add (local.get $l3)
                      (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2))))
                        (f32.load offset=4 (local.get $k3)))))))
                (br $stepToLeaves))))
          (else
            (if (local.get $flags)
              (then
                ;; a set split in one of the four: every step looks at its node's kind
                (block $walkedSets
                  (loop $stepSets
                    (br_if $walkedSets (i32.ge_u (local.get $d) (local.get $depth)))
                    (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n0) (i32.const 4))))
                    (local.set $f (i32.load (local.get $k)))
                    (local.set $n0
                      (if (result i32) (i32.lt_s (local.get $f) (i32.const 0))
                        (then (call $setStep (local.get $k)
                          (f32.load (i32.add (local.get $row) (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2))))))
                        (else (i32.add (i32.load offset=8 (local.get $k))
                          (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2))))
                            (f32.load offset=4 (local.get $k)))))))
                    (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n1) (i32.const 4))))
                    (local.set $f (i32.load (local.get $k)))
                    (local.set $n1
                      (if (result i32) (i32.lt_s (local.get $f) (i32.const 0))
                        (then (call $setStep (local.get $k)
                          (f32.load (i32.add (local.get $row) (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2))))))
                        (else (i32.add (i32.load offset=8 (local.get $k))
                          (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2))))
                            (f32.load offset=4 (local.get $k)))))))
                    (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n2) (i32.const 4))))
                    (local.set $f (i32.load (local.get $k)))
                    (local.set $n2
                      (if (result i32) (i32.lt_s (local.get $f) (i32.const 0))
                        (then (call $setStep (local.get $k)
                          (f32.load (i32.add (local.get $row) (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2))))))
                        (else (i32.add (i32.load offset=8 (local.get $k))
                          (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2))))
                            (f32.load offset=4 (local.get $k)))))))
                    (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n3) (i32.const 4))))
                    (local.set $f (i32.load (local.get $k)))
                    (local.set $n3
                      (if (result i32) (i32.lt_s (local.get $f) (i32.const 0))
                        (then (call $setStep (local.get $k)
                          (f32.load (i32.add (local.get $row) (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2))))))
                        (else (i32.add (i32.load offset=8 (local.get $k))
                          (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2))))
                            (f32.load offset=4 (local.get $k)))))))
                    (local.set $d (i32.add (local.get $d) (i32.const 1)))
                    (br $stepSets))))
              (else
                (block $walked
                  (loop $step
                    (br_if $walked (i32.ge_u (local.get $d) (local.get $depth)))
                    (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n0) (i32.const 4))))
                    (local.set $n0
                      (i32.add (i32.load offset=8 (local.get $k))
                        (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (i32.load (local.get $k)) (i32.const 2))))
                          (f32.load offset=4 (local.get $k)))))
                    (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n1) (i32.const 4))))
                    (local.set $n1
                      (i32.add (i32.load offset=8 (local.get $k))
                        (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (i32.load (local.get $k)) (i32.const 2))))
                          (f32.load offset=4 (local.get $k)))))
                    (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n2) (i32.const 4))))
                    (local.set $n2
                      (i32.add (i32.load offset=8 (local.get $k))
                        (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (i32.load (local.get $k)) (i32.const 2))))
                          (f32.load offset=4 (local.get $k)))))
                    (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n3) (i32.const 4))))
                    (local.set $n3
                      (i32.add (i32.load offset=8 (local.get $k))
                        (f32.ge (f32.load (i32.add (local.get $row) (i32.shl (i32.load (local.get $k)) (i32.const 2))))
                          (f32.load offset=4 (local.get $k)))))
                    (local.set $d (i32.add (local.get $d) (i32.const 1)))
                    (br $step)))))))
        (local.set $out (i32.add (local.get $margins)
          (i32.shl (i32.load offset=8 (local.get $tp)) (i32.const {{LS}}))))
        ({{L}}.store (local.get $out)
          ({{L}}.add ({{L}}.load (local.get $out))
            ({{L}}.load (i32.add (global.get $leaves) (i32.shl (local.get $n0) (i32.const {{LS}}))))))
        (local.set $out (i32.add (local.get $margins)
          (i32.shl (i32.load offset=24 (local.get $tp)) (i32.const {{LS}}))))
        ({{L}}.store (local.get $out)
          ({{L}}.add ({{L}}.load (local.get $out))
            ({{L}}.load (i32.add (global.get $leaves) (i32.shl (local.get $n1) (i32.const {{LS}}))))))
        (local.set $out (i32.add (local.get $margins)
          (i32.shl (i32.load offset=40 (local.get $tp)) (i32.const {{LS}}))))
        ({{L}}.store (local.get $out)
          ({{L}}.add ({{L}}.load (local.get $out))
            ({{L}}.load (i32.add (global.get $leaves) (i32.shl (local.get $n2) (i32.const {{LS}}))))))
        (local.set $out (i32.add (local.get $margins)
          (i32.shl (i32.load offset=56 (local.get $tp)) (i32.const {{LS}}))))
        ({{L}}.store (local.get $out)
          ({{L}}.add ({{L}}.load (local.get $out))
            ({{L}}.load (i32.add (global.get $leaves) (i32.shl (local.get $n3) (i32.const {{LS}}))))))
        (local.set $t (i32.add (local.get $t) (i32.const 4)))
        (br $eachGroup)))
    (local.get $t))

  ;; One row, all trees [t0, t1): each tree's walk stays in registers, and the walks of
  ;; successive trees are independent, so the CPU overlaps them. The latency path for single rows.
  ;; An unbalanced tree is walked to its leaf rather than for its depth.
  (func (export "scoreRow")
    (param $row i32) (param $t0 i32) (param $t1 i32) (param $margins i32) (param $dense i32)
    (local $t i32) (local $tp i32) (local $n i32) (local $d i32) (local $depth i32) (local $k i32)
    (local $x f32) (local $f i32) (local $out i32) (local $flags i32) (local $l i32)
    (local.set $t (local.get $t0))
    (block $treesDone
      (loop $eachTree
        (br_if $treesDone (i32.ge_u (local.get $t) (local.get $t1)))
        (local.set $tp (i32.add (global.get $trees) (i32.shl (local.get $t) (i32.const 4))))
        (local.set $n (i32.load (local.get $tp)))
        (local.set $depth (i32.load offset=4 (local.get $tp)))
        (local.set $d (i32.const 0))
        (local.set $flags (i32.load offset=12 (local.get $tp)))
        (if (i32.and (local.get $flags) (i32.const 2))
          (then
            ;; an unbalanced tree: walk until the leaf (a leaf's left is itself)
            (block $walkedToLeaf
              (loop $stepToLeaf
                (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n) (i32.const 4))))
                (local.set $l (i32.load offset=8 (local.get $k)))
                (br_if $walkedToLeaf (i32.eq (local.get $l) (local.get $n)))
                (local.set $f (i32.load (local.get $k)))
                (if (i32.lt_s (local.get $f) (i32.const 0))
                  (then
                    (local.set $n (call $setStep (local.get $k)
                      (f32.load (i32.add (local.get $row) (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2)))))))
                  (else
                    (local.set $x (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2)))))
                    (local.set $n
                      (i32.add
                        (local.get $l)
                        (i32.or
                          (f32.ge (local.get $x) (f32.load offset=4 (local.get $k)))
                          (i32.and (f32.ne (local.get $x) (local.get $x)) (i32.load offset=12 (local.get $k))))))))
                (br $stepToLeaf))))
          (else
            (if (local.get $flags)
              (then
                ;; set splits in this tree: each step looks at its node's kind
                (block $walkedSets
                  (loop $stepSets
                    (br_if $walkedSets (i32.ge_u (local.get $d) (local.get $depth)))
                    (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n) (i32.const 4))))
                    (local.set $f (i32.load (local.get $k)))
                    (if (i32.lt_s (local.get $f) (i32.const 0))
                      (then
                        (local.set $n (call $setStep (local.get $k)
                          (f32.load (i32.add (local.get $row) (i32.shl (i32.xor (local.get $f) (i32.const -1)) (i32.const 2)))))))
                      (else
                        (local.set $x (f32.load (i32.add (local.get $row) (i32.shl (local.get $f) (i32.const 2)))))
                        (local.set $n
                          (i32.add
                            (i32.load offset=8 (local.get $k))
                            (i32.or
                              (f32.ge (local.get $x) (f32.load offset=4 (local.get $k)))
                              (i32.and (f32.ne (local.get $x) (local.get $x)) (i32.load offset=12 (local.get $k))))))))
                    (local.set $d (i32.add (local.get $d) (i32.const 1)))
                    (br $stepSets))))
              (else
                (if (local.get $dense)
                  (then
                    (block $walkedDense
                      (loop $stepDense
                        (br_if $walkedDense (i32.ge_u (local.get $d) (local.get $depth)))
                        (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n) (i32.const 4))))
                        (local.set $n
                          (i32.add
                            (i32.load offset=8 (local.get $k))
                            (f32.ge
                              (f32.load (i32.add (local.get $row) (i32.shl (i32.load (local.get $k)) (i32.const 2))))
                              (f32.load offset=4 (local.get $k)))))
                        (local.set $d (i32.add (local.get $d) (i32.const 1)))
                        (br $stepDense))))
                  (else
                    (block $walked
                      (loop $step
                        (br_if $walked (i32.ge_u (local.get $d) (local.get $depth)))
                        (local.set $k (i32.add (global.get $nodes) (i32.shl (local.get $n) (i32.const 4))))
                        (local.set $x (f32.load (i32.add (local.get $row) (i32.shl (i32.load (local.get $k)) (i32.const 2)))))
                        (local.set $n
                          (i32.add
                            (i32.load offset=8 (local.get $k))
                            (i32.or
                              (f32.ge (local.get $x) (f32.load offset=4 (local.get $k)))
                              (i32.and (f32.ne (local.get $x) (local.get $x)) (i32.load offset=12 (local.get $k))))))
                        (local.set $d (i32.add (local.get $d) (i32.const 1)))
                        (br $step)))))))))
        (local.set $out (i32.add (local.get $margins) (i32.shl (i32.load offset=8 (local.get $tp)) (i32.const {{LS}}))))
        ({{L}}.store (local.get $out)
          ({{L}}.add ({{L}}.load (local.get $out))
            ({{L}}.load (i32.add (global.get $leaves) (i32.shl (local.get $n) (i32.const {{LS}}))))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $eachTree))))
)
