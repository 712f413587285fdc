;; forestd's TreeSHAP kernel: XGBoost 1.7's TreeShap (src/tree/tree_model.cc) in native float32.
;;
;; Source of model/shap-kernel-wasm.ts (run `npm run build:kernel` after editing; a test checks the
;; two agree). model/tree-shap.ts is the same walk in JavaScript and explains every step; this is
;; its fast twin (test/shap-kernel.test.ts holds them equal bit for bit). Every f32 operation here
;; is one of XGBoost's float operations, in its order, so every result is XGBoost's. Two float64
;; forms stand in for float32 divisions and give the same rounded result:
;; - x / k for a small whole number k: demote(x * (1/k)), as tree-shap.ts explains;
;; - x / y for float32 values x and y: demote(x * (1/y)) with 1/y in float64. Writing x = X·2^a and
;;   y = Y·2^b (X, Y < 2^24), a float32 rounding boundary M·2^c (M < 2^25 odd) is never x/y itself
;;   and lies at least ~2^-49·|x/y| away from it, while the float64 product is within 2^-52·|x/y|:
;;   both round to the same float32.
;; They keep divisions out of the leaves' unwound sums, where XGBoost spends its time.
;;
;; One-fractions are 0 or 1 throughout (the root's is 1, a hot child's is its parent's incoming
;; one, a cold child's is 0), so XGBoost's `(i + 1) * one_fraction` divisor is the whole number i + 1.
;;
;; Memory (byte offsets read by `setup` from a header of i32 words):
;;   nodes   : 24 bytes per node [split feature i32 (-1 leaf)][threshold f32 | leaf value f32]
;;             [left i32 (right = left + 1)][missingRight i32][category set i32 (-1 numerical)]
;;             [zero fraction f32: sum_hess[node] / sum_hess[parent], 1 for roots]
;;   cats    : 8 bytes per category set [first word i32][words i32]; catBits: u32 words
;;   trees   : 20 bytes per tree [root i32][mean f32 (FillNodeMeanValues)][weight f32 (dart, else 1)]
;;             [from i32][to i32]: its range of `features`, the features the tree splits on
;;   inverse : f64 1/k for k = 0..; ratio: f32 (d - i) / (d + 1) at d * stride + i; invRatio: f64 1/ratio
;;   path    : 16 bytes per element [feature i32][zero f32][one f32][pweight f32], frames stacked
;;   stack   : 32 bytes per pending child [node][depth][frame base][feature][zero f32][one f32][fraction f32]
;;             [mask i32: bit (feature mod 32) of each feature in the parent's frame]
;;   jobs    : `batch` slots of `slotBytes`, the path frames of leaves whose sums are pending (after
;;             `path`, so a slot is a frame too); jobInfo: 8 bytes per slot [leaf value f32][fraction f32]
;;   hot, cold: leaf scratch, 64 bytes per four path elements of a pending leaf (see $flush);
;;   totalAt: i32 per element of every slot; zeroWord: an f32 0; phi: f32 per feature + 1 (this tree's
;;   contributions, XGBoost's this_tree_contribs); features: i32 lists, each tree's split features
(module
  (import "env" "memory" (memory 1))
  (global $nodes (mut i32) (i32.const 0))
  (global $cats (mut i32) (i32.const 0))
  (global $catBits (mut i32) (i32.const 0))
  (global $trees (mut i32) (i32.const 0))
  (global $inverse (mut i32) (i32.const 0))
  (global $ratio (mut i32) (i32.const 0))
  (global $invRatio (mut i32) (i32.const 0))
  (global $stride (mut i32) (i32.const 0))
  (global $path (mut i32) (i32.const 0))
  (global $stack (mut i32) (i32.const 0))
  (global $hot (mut i32) (i32.const 0))
  (global $cold (mut i32) (i32.const 0))
  (global $phi (mut i32) (i32.const 0))
  (global $features (mut i32) (i32.const 0))
  (global $numFeature (mut i32) (i32.const 0))
  (global $maxCategory (mut f32) (f32.const 0))
  (global $jobs (mut i32) (i32.const 0))
  (global $slotBytes (mut i32) (i32.const 0))
  (global $jobInfo (mut i32) (i32.const 0))
  (global $batch (mut i32) (i32.const 0))
  (global $pendingCount (mut i32) (i32.const 0))
  (global $pendingD (mut i32) (i32.const 0))
  (global $totalAt (mut i32) (i32.const 0))
  (global $slotTotalBytes (mut i32) (i32.const 0))
  (global $zeroWord (mut i32) (i32.const 0))

  (func (export "setup") (param $h i32)
    (global.set $nodes (i32.load offset=0 (local.get $h)))
    (global.set $cats (i32.load offset=4 (local.get $h)))
    (global.set $catBits (i32.load offset=8 (local.get $h)))
    (global.set $trees (i32.load offset=12 (local.get $h)))
    (global.set $inverse (i32.load offset=16 (local.get $h)))
    (global.set $ratio (i32.load offset=20 (local.get $h)))
    (global.set $invRatio (i32.load offset=24 (local.get $h)))
    (global.set $stride (i32.load offset=28 (local.get $h)))
    (global.set $path (i32.load offset=32 (local.get $h)))
    (global.set $stack (i32.load offset=36 (local.get $h)))
    (global.set $hot (i32.load offset=40 (local.get $h)))
    (global.set $cold (i32.load offset=44 (local.get $h)))
    (global.set $phi (i32.load offset=48 (local.get $h)))
    (global.set $features (i32.load offset=52 (local.get $h)))
    (global.set $numFeature (i32.load offset=56 (local.get $h)))
    (global.set $maxCategory (f32.convert_i32_s (i32.load offset=60 (local.get $h))))
    (global.set $jobs (i32.load offset=64 (local.get $h)))
    (global.set $slotBytes (i32.load offset=68 (local.get $h)))
    (global.set $jobInfo (i32.load offset=72 (local.get $h)))
    (global.set $batch (i32.load offset=76 (local.get $h)))
    (global.set $totalAt (i32.load offset=80 (local.get $h)))
    (global.set $slotTotalBytes (i32.load offset=84 (local.get $h)))
    (global.set $zeroWord (i32.load offset=88 (local.get $h)))
    (global.set $pendingCount (i32.const 0)))

  ;; The mask of the features in the frame at element `base` (elements 1..d): bit (feature mod 32).
  (func $frameMask (param $base i32) (param $d i32) (result i32)
    (local $e i32) (local $end i32) (local $mask i32)
    (local.set $e (i32.add (global.get $path) (i32.shl (i32.add (local.get $base) (i32.const 1)) (i32.const 4))))
    (local.set $end (i32.add (local.get $e) (i32.shl (local.get $d) (i32.const 4))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $e) (local.get $end)))
        (local.set $mask (i32.or (local.get $mask) (i32.shl (i32.const 1) (i32.load (local.get $e)))))
        (local.set $e (i32.add (local.get $e) (i32.const 16)))
        (br $each)))
    (local.get $mask))

  ;; XGBoost's UnwindPath(unique_path, d, pathIndex): rare (a feature split on twice on one path),
  ;; so it keeps XGBoost's float32 divisions where the divisor is not a whole number.
  (func $unwind (param $base i32) (param $d i32) (param $pathIndex i32)
    (local $frame i32) (local $e i32) (local $i i32) (local $one f32) (local $zero f32)
    (local $next f32) (local $tmp f32) (local $inv f64) (local $d1 f32) (local $w f32)
    (local.set $frame (i32.add (global.get $path) (i32.shl (local.get $base) (i32.const 4))))
    (local.set $e (i32.add (local.get $frame) (i32.shl (local.get $pathIndex) (i32.const 4))))
    (local.set $zero (f32.load offset=4 (local.get $e)))
    (local.set $one (f32.load offset=8 (local.get $e)))
    (local.set $next (f32.load offset=12 (i32.add (local.get $frame) (i32.shl (local.get $d) (i32.const 4)))))
    (local.set $inv (f64.load (i32.add (global.get $inverse) (i32.shl (i32.add (local.get $d) (i32.const 1)) (i32.const 3)))))
    (local.set $d1 (f32.convert_i32_s (i32.add (local.get $d) (i32.const 1))))
    (local.set $i (i32.sub (local.get $d) (i32.const 1)))
    (block $done
      (loop $each
        (br_if $done (i32.lt_s (local.get $i) (i32.const 0)))
        (local.set $e (i32.add (local.get $frame) (i32.shl (local.get $i) (i32.const 4))))
        (if (f32.ne (local.get $one) (f32.const 0))
          (then
            (local.set $tmp (f32.load offset=12 (local.get $e)))
            ;; pw[i] = next * (d + 1) / (i + 1)
            (local.set $w
              (f32.demote_f64 (f64.mul
                (f64.promote_f32 (f32.mul (local.get $next) (local.get $d1)))
                (f64.load (i32.add (global.get $inverse) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 3)))))))
            (f32.store offset=12 (local.get $e) (local.get $w))
            ;; next = tmp - pw[i] * zero * (d - i) / (d + 1)
            (local.set $next
              (f32.sub (local.get $tmp)
                (f32.demote_f64 (f64.mul
                  (f64.promote_f32 (f32.mul (f32.mul (local.get $w) (local.get $zero))
                    (f32.convert_i32_s (i32.sub (local.get $d) (local.get $i)))))
                  (local.get $inv))))))
          (else
            ;; pw[i] = pw[i] * (d + 1) / (zero * (d - i))
            (f32.store offset=12 (local.get $e)
              (f32.div (f32.mul (f32.load offset=12 (local.get $e)) (local.get $d1))
                (f32.mul (local.get $zero) (f32.convert_i32_s (i32.sub (local.get $d) (local.get $i))))))))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $each)))
    ;; close the gap: elements pathIndex + 1 .. d move down one (their pweights stay)
    (local.set $i (local.get $pathIndex))
    (block $moved
      (loop $move
        (br_if $moved (i32.ge_s (local.get $i) (local.get $d)))
        (local.set $e (i32.add (local.get $frame) (i32.shl (local.get $i) (i32.const 4))))
        (i32.store (local.get $e) (i32.load offset=16 (local.get $e)))
        (f32.store offset=4 (local.get $e) (f32.load offset=20 (local.get $e)))
        (f32.store offset=8 (local.get $e) (f32.load offset=24 (local.get $e)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $move))))

  ;; The pending leaves (all of depth d, their frames in the job slots): for every path element p
  ;; in 1..d of each, UnwoundPathSum(unique_path, d, p), then phi[feature] += sum * (one - zero) *
  ;; leaf * conditionFraction, leaf after leaf in walk order.
  ;;
  ;; The sums run side by side, four to a SIMD vector (f32x4 lanes are IEEE float32 operations,
  ;; like XGBoost's scalar ones): step i of every sum of every pending leaf, then step i - 1. Each
  ;; lane does one sum's operations in XGBoost's order; lanes and leaves only overlap in time.
  ;; A vector holds elements of one leaf, so pweight[i] is one number for all its lanes.
  ;;   hot group (one = 1), 64 bytes : [next f32x4][total f32x4][zero f32x4][frame i32]
  ;;   cold group (one = 0, zero ≠ 0): [1/zero f64x2 lanes 0-1][1/zero f64x2 lanes 2-3][total f32x4][frame i32]
  ;; Unused lanes compute harmless numbers that nothing reads. `totalAt` keeps, per slot and path
  ;; element, where its sum will be (the constant 0 at `zeroWord` for an element with one = zero = 0).
  (func $flush
    (local $d i32) (local $j i32) (local $frame i32) (local $e i32) (local $p i32) (local $i i32)
    (local $q i32) (local $hotEnd i32) (local $coldEnd i32) (local $r i32) (local $ioff i32)
    (local $hotLane i32) (local $coldLane i32) (local $slotTotals i32)
    (local $d1 v128) (local $pwd f32) (local $pwi f32) (local $inv v128) (local $invRt v128)
    (local $rt v128) (local $a v128) (local $tmp v128) (local $p64 v128) (local $one f32) (local $zero f32)
    (local $k i32) (local $at i32) (local $value f32) (local $fraction f32)
    (local.set $d (global.get $pendingD))
    (local.set $d1 (f32x4.splat (f32.convert_i32_s (i32.add (local.get $d) (i32.const 1)))))
    ;; sort every pending leaf's elements into groups of hot and cold lanes
    (local.set $hotEnd (global.get $hot))
    (local.set $coldEnd (global.get $cold))
    (local.set $j (i32.const 0))
    (block $allSorted
      (loop $eachLeaf
        (br_if $allSorted (i32.ge_u (local.get $j) (global.get $pendingCount)))
        (local.set $frame (i32.add (global.get $jobs) (i32.mul (local.get $j) (global.get $slotBytes))))
        (local.set $slotTotals (i32.add (global.get $totalAt) (i32.mul (local.get $j) (global.get $slotTotalBytes))))
        (local.set $pwd (f32.load offset=12 (i32.add (local.get $frame) (i32.shl (local.get $d) (i32.const 4)))))
        (local.set $hotLane (i32.const 0))
        (local.set $coldLane (i32.const 0))
        (local.set $p (i32.const 1))
        (local.set $e (i32.add (local.get $frame) (i32.const 16)))
        (block $sorted
          (loop $sort
            (br_if $sorted (i32.gt_s (local.get $p) (local.get $d)))
            (local.set $zero (f32.load offset=4 (local.get $e)))
            (local.set $at (i32.add (local.get $slotTotals) (i32.shl (local.get $p) (i32.const 2))))
            (if (f32.ne (f32.load offset=8 (local.get $e)) (f32.const 0))
              (then
                (if (i32.eqz (local.get $hotLane))
                  (then
                    (v128.store (local.get $hotEnd) (f32x4.splat (local.get $pwd)))
                    (v128.store offset=16 (local.get $hotEnd) (v128.const i32x4 0 0 0 0))
                    (v128.store offset=32 (local.get $hotEnd) (v128.const i32x4 0 0 0 0))
                    (i32.store offset=48 (local.get $hotEnd) (local.get $frame))
                    (local.set $hotEnd (i32.add (local.get $hotEnd) (i32.const 64)))))
                (local.set $q (i32.add (i32.sub (local.get $hotEnd) (i32.const 64)) (i32.shl (local.get $hotLane) (i32.const 2))))
                (f32.store offset=32 (local.get $q) (local.get $zero))
                (i32.store (local.get $at) (i32.add (local.get $q) (i32.const 16)))
                (local.set $hotLane (i32.and (i32.add (local.get $hotLane) (i32.const 1)) (i32.const 3))))
              (else
                (if (f32.ne (local.get $zero) (f32.const 0))
                  (then
                    (if (i32.eqz (local.get $coldLane))
                      (then
                        (v128.store (local.get $coldEnd) (v128.const i32x4 0 0 0 0))
                        (v128.store offset=16 (local.get $coldEnd) (v128.const i32x4 0 0 0 0))
                        (v128.store offset=32 (local.get $coldEnd) (v128.const i32x4 0 0 0 0))
                        (i32.store offset=48 (local.get $coldEnd) (local.get $frame))
                        (local.set $coldEnd (i32.add (local.get $coldEnd) (i32.const 64)))))
                    (local.set $q (i32.sub (local.get $coldEnd) (i32.const 64)))
                    (f64.store (i32.add (local.get $q) (i32.shl (local.get $coldLane) (i32.const 3)))
                      (f64.div (f64.const 1) (f64.promote_f32 (local.get $zero))))
                    (i32.store (local.get $at)
                      (i32.add (i32.add (local.get $q) (i32.const 32)) (i32.shl (local.get $coldLane) (i32.const 2))))
                    (local.set $coldLane (i32.and (i32.add (local.get $coldLane) (i32.const 1)) (i32.const 3))))
                  (else (i32.store (local.get $at) (global.get $zeroWord))))))
            (local.set $e (i32.add (local.get $e) (i32.const 16)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $sort)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $eachLeaf)))
    ;; the sums, step i = d - 1 down to 0
    (local.set $r (i32.mul (local.get $d) (global.get $stride)))
    (local.set $i (i32.sub (local.get $d) (i32.const 1)))
    (block $summed
      (loop $step
        (br_if $summed (i32.lt_s (local.get $i) (i32.const 0)))
        (local.set $ioff (i32.shl (local.get $i) (i32.const 4)))
        (local.set $rt (f32x4.splat (f32.load (i32.add (global.get $ratio) (i32.shl (i32.add (local.get $r) (local.get $i)) (i32.const 2))))))
        (local.set $inv (f64x2.splat (f64.load (i32.add (global.get $inverse) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 3))))))
        (local.set $q (global.get $hot))
        (block $hotDone
          (loop $eachHot
            (br_if $hotDone (i32.ge_u (local.get $q) (local.get $hotEnd)))
            ;; tmp = next * (d + 1) / (i + 1); total += tmp; next = pw[i] - tmp * zero * ratio
            (local.set $a (f32x4.mul (v128.load (local.get $q)) (local.get $d1)))
            (local.set $tmp
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (f32x4.demote_f64x2_zero (f64x2.mul (f64x2.promote_low_f32x4 (local.get $a)) (local.get $inv)))
                (f32x4.demote_f64x2_zero (f64x2.mul
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $a) (local.get $a)))
                  (local.get $inv)))))
            (v128.store offset=16 (local.get $q) (f32x4.add (v128.load offset=16 (local.get $q)) (local.get $tmp)))
            (v128.store (local.get $q)
              (f32x4.sub
                (f32x4.splat (f32.load offset=12 (i32.add (i32.load offset=48 (local.get $q)) (local.get $ioff))))
                (f32x4.mul (f32x4.mul (local.get $tmp) (v128.load offset=32 (local.get $q))) (local.get $rt))))
            (local.set $q (i32.add (local.get $q) (i32.const 64)))
            (br $eachHot)))
        (if (i32.gt_u (local.get $coldEnd) (global.get $cold))
          (then
            (local.set $invRt (f64x2.splat (f64.load (i32.add (global.get $invRatio) (i32.shl (i32.add (local.get $r) (local.get $i)) (i32.const 3))))))
            (local.set $q (global.get $cold))
            (block $coldDone
              (loop $eachCold
                (br_if $coldDone (i32.ge_u (local.get $q) (local.get $coldEnd)))
                ;; total += pw[i] / zero / ratio
                (local.set $p64 (f64x2.splat (f64.promote_f32
                  (f32.load offset=12 (i32.add (i32.load offset=48 (local.get $q)) (local.get $ioff))))))
                (v128.store offset=32 (local.get $q)
                  (f32x4.add (v128.load offset=32 (local.get $q))
                    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                      (f32x4.demote_f64x2_zero (f64x2.mul
                        (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero (f64x2.mul (local.get $p64) (v128.load (local.get $q)))))
                        (local.get $invRt)))
                      (f32x4.demote_f64x2_zero (f64x2.mul
                        (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero (f64x2.mul (local.get $p64) (v128.load offset=16 (local.get $q)))))
                        (local.get $invRt))))))
                (local.set $q (i32.add (local.get $q) (i32.const 64)))
                (br $eachCold)))))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $step)))
    ;; phi[feature] += total * (one - zero) * leaf * fraction, leaf by leaf, elements in path order
    (local.set $j (i32.const 0))
    (block $allAdded
      (loop $addLeaf
        (br_if $allAdded (i32.ge_u (local.get $j) (global.get $pendingCount)))
        (local.set $frame (i32.add (global.get $jobs) (i32.mul (local.get $j) (global.get $slotBytes))))
        (local.set $slotTotals (i32.add (global.get $totalAt) (i32.mul (local.get $j) (global.get $slotTotalBytes))))
        (local.set $value (f32.load (i32.add (global.get $jobInfo) (i32.shl (local.get $j) (i32.const 3)))))
        (local.set $fraction (f32.load offset=4 (i32.add (global.get $jobInfo) (i32.shl (local.get $j) (i32.const 3)))))
        (local.set $p (i32.const 1))
        (local.set $e (i32.add (local.get $frame) (i32.const 16)))
        (block $added
          (loop $add
            (br_if $added (i32.gt_s (local.get $p) (local.get $d)))
            (local.set $zero (f32.load offset=4 (local.get $e)))
            (local.set $one (f32.load offset=8 (local.get $e)))
            (local.set $k (i32.load (local.get $e)))
            (local.set $at (i32.add (global.get $phi) (i32.shl (local.get $k) (i32.const 2))))
            (f32.store (local.get $at)
              (f32.add (f32.load (local.get $at))
                (f32.mul (f32.mul (f32.mul
                  (f32.load (i32.load (i32.add (local.get $slotTotals) (i32.shl (local.get $p) (i32.const 2)))))
                  (f32.sub (local.get $one) (local.get $zero)))
                  (local.get $value)) (local.get $fraction))))
            (local.set $e (i32.add (local.get $e) (i32.const 16)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $add)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $addLeaf)))
    (global.set $pendingCount (i32.const 0)))

  ;; The child a row's value x follows at categorical split node n (XGBoost's GetNextNode<true, true>).
  (func $categoryChild (param $n i32) (param $x f32) (result i32)
    (local $left i32) (local $set i32) (local $category i32) (local $word i32) (local $c i32)
    (local.set $left (i32.load offset=8 (local.get $n)))
    (local.set $set (i32.load offset=16 (local.get $n)))
    ;; categorical (score.ts categoricalStep): in the set goes right; outside 0..max, left
    (if (f32.ne (local.get $x) (local.get $x))
      (then (return (i32.add (local.get $left) (i32.load offset=12 (local.get $n))))))
    (if (i32.or (f32.lt (local.get $x) (f32.const 0)) (f32.ge (local.get $x) (global.get $maxCategory)))
      (then (return (local.get $left))))
    (local.set $category (i32.trunc_f32_s (local.get $x)))
    (local.set $word (i32.shr_u (local.get $category) (i32.const 5)))
    (local.set $c (i32.add (global.get $cats) (i32.shl (local.get $set) (i32.const 3))))
    (if (i32.ge_u (local.get $word) (i32.load offset=4 (local.get $c)))
      (then (return (local.get $left))))
    (i32.add (local.get $left)
      (i32.and
        (i32.shr_u
          (i32.load (i32.add (global.get $catBits)
            (i32.shl (i32.add (i32.load (local.get $c)) (local.get $word)) (i32.const 2))))
          (i32.and (local.get $category) (i32.const 31)))
        (i32.const 1))))

  ;; XGBoost's TreeShap from tree t's root for the row at byte `row`, into phi.
  ;; condition: 0 plain, 1 / -1 feature `cf` held on / off (PredictInteractionContributions).
  ;; XGBoost recurses, hot child first; this walks the same nodes in the same order with an
  ;; explicit stack, each child's path frame above its parent's, as in XGBoost.
  (func $treeShap (export "treeShap") (param $row i32) (param $t i32) (param $condition i32) (param $cf i32)
    (local $sp i32) (local $node i32) (local $depth i32) (local $parentBase i32) (local $parentFeature i32)
    (local $parentZero f32) (local $parentOne f32) (local $fraction f32) (local $base i32)
    (local $from i32) (local $to i32) (local $end i32) (local $n i32) (local $split i32)
    (local $hot i32) (local $cold i32) (local $hotZero f32) (local $coldZero f32)
    (local $incomingZero f32) (local $incomingOne f32) (local $pathIndex i32) (local $e i32)
    (local $hotFraction f32) (local $coldFraction f32) (local $x f32) (local $mask i32)
    (local $xe i32) (local $xstop i32) (local $xinv f64) (local $xpwi f32) (local $xcarry f32) (local $xip1 f32) (local $xdmi f32)
    (local.set $sp (global.get $stack))
    (i32.store (local.get $sp) (i32.load (i32.add (global.get $trees) (i32.mul (local.get $t) (i32.const 20)))))
    (i32.store offset=4 (local.get $sp) (i32.const 0))
    (i32.store offset=8 (local.get $sp) (i32.const 0))
    (i32.store offset=12 (local.get $sp) (i32.const -1))
    (f32.store offset=16 (local.get $sp) (f32.const 1))
    (f32.store offset=20 (local.get $sp) (f32.const 1))
    (f32.store offset=24 (local.get $sp) (f32.const 1))
    (i32.store offset=28 (local.get $sp) (i32.const 0))
    (local.set $sp (i32.add (local.get $sp) (i32.const 32)))
    (block $walked
      (loop $next
        (br_if $walked (i32.le_u (local.get $sp) (global.get $stack)))
        (local.set $sp (i32.sub (local.get $sp) (i32.const 32)))
        (local.set $fraction (f32.load offset=24 (local.get $sp)))
        (local.set $node (i32.load (local.get $sp)))
        (local.set $depth (i32.load offset=4 (local.get $sp)))
        (local.set $parentBase (i32.load offset=8 (local.get $sp)))
        (local.set $parentFeature (i32.load offset=12 (local.get $sp)))
        (local.set $parentZero (f32.load offset=16 (local.get $sp)))
        (local.set $parentOne (f32.load offset=20 (local.get $sp)))
        (local.set $mask (i32.load offset=28 (local.get $sp)))
        ;; a node, its arguments in locals: from the stack, or the hot child straight from its parent
        (loop $visit
        (br_if $next (f32.eq (local.get $fraction) (f32.const 0)))
        (local.set $n (i32.add (global.get $nodes) (i32.mul (local.get $node) (i32.const 24))))
        (local.set $split (i32.load (local.get $n)))
        ;; this node's frame: a copy of the parent's, just above it; a leaf's goes to a job slot,
        ;; its sums deferred until a batch of leaves of one depth is pending
        (if (i32.lt_s (local.get $split) (i32.const 0))
          (then
            (if (i32.and (i32.ne (global.get $pendingCount) (i32.const 0))
                  (i32.or (i32.ne (local.get $depth) (global.get $pendingD))
                    (i32.eq (global.get $pendingCount) (global.get $batch))))
              (then (call $flush)))
            (local.set $base (i32.shr_u
              (i32.sub (i32.add (global.get $jobs) (i32.mul (global.get $pendingCount) (global.get $slotBytes)))
                (global.get $path))
              (i32.const 4))))
          (else
            (local.set $base (i32.add (local.get $parentBase) (i32.add (local.get $depth) (i32.const 1))))))
        (local.set $from (i32.add (global.get $path) (i32.shl (local.get $parentBase) (i32.const 4))))
        (local.set $to (i32.add (global.get $path) (i32.shl (local.get $base) (i32.const 4))))
        (local.set $end (i32.add (local.get $from) (i32.shl (i32.add (local.get $depth) (i32.const 1)) (i32.const 4))))
        (block $copied
          (loop $copy
            (br_if $copied (i32.ge_u (local.get $from) (local.get $end)))
            (v128.store (local.get $to) (v128.load (local.get $from)))
            (local.set $from (i32.add (local.get $from) (i32.const 16)))
            (local.set $to (i32.add (local.get $to) (i32.const 16)))
            (br $copy)))
        (if (i32.or (i32.eqz (local.get $condition)) (i32.ne (local.get $cf) (local.get $parentFeature)))
          (then
            (if (i32.ge_s (local.get $parentFeature) (i32.const 0))
              (then (local.set $mask (i32.or (local.get $mask) (i32.shl (i32.const 1) (local.get $parentFeature))))))
            ;; XGBoost's ExtendPath(unique_path, d, zero, one, feature) on this node's frame (inline:
            ;; a call per node costs):
            ;;   pw[d] = d == 0 ? 1 : 0; for i = d - 1 .. 0:
            ;;     pw[i + 1] += one * pw[i] * (i + 1) / (d + 1);  pw[i] = zero * pw[i] * (d - i) / (d + 1)
            ;; Each pw[i]'s new value waits in $xcarry for the next step's addition instead of going
            ;; through memory. one is exactly 1 or 0: 1 * pw[i] is pw[i], and for 0 the whole first term is
            ;; 0 * pw[i] (a zero of pw[i]'s sign, or NaN; scaling by positive numbers keeps either).
            (block $extended
            (local.set $xe (i32.add (global.get $path) (i32.shl (i32.add (local.get $base) (local.get $depth)) (i32.const 4))))
            (i32.store (local.get $xe) (local.get $parentFeature))
            (f32.store offset=4 (local.get $xe) (local.get $parentZero))
            (f32.store offset=8 (local.get $xe) (local.get $parentOne))
            (if (i32.eqz (local.get $depth))
              (then
                (f32.store offset=12 (local.get $xe) (f32.const 1))
                (br $extended)))
            (local.set $xstop (i32.sub (local.get $xe) (i32.shl (local.get $depth) (i32.const 4))))
            (local.set $xinv (f64.load (i32.add (global.get $inverse) (i32.shl (i32.add (local.get $depth) (i32.const 1)) (i32.const 3)))))
            (local.set $xcarry (f32.const 0))
            (local.set $xip1 (f32.convert_i32_s (local.get $depth)))
            (local.set $xdmi (f32.const 1))
            (if (f32.ne (local.get $parentOne) (f32.const 0))
              (then
                (loop $hotLoop
                  (local.set $xe (i32.sub (local.get $xe) (i32.const 16)))
                  (local.set $xpwi (f32.load offset=12 (local.get $xe)))
                  (f32.store offset=28 (local.get $xe)
                    (f32.add (local.get $xcarry)
                      (f32.demote_f64 (f64.mul (f64.promote_f32 (f32.mul (local.get $xpwi) (local.get $xip1))) (local.get $xinv)))))
                  (local.set $xcarry
                    (f32.demote_f64 (f64.mul
                      (f64.promote_f32 (f32.mul (f32.mul (local.get $parentZero) (local.get $xpwi)) (local.get $xdmi)))
                      (local.get $xinv))))
                  (local.set $xip1 (f32.sub (local.get $xip1) (f32.const 1)))
                  (local.set $xdmi (f32.add (local.get $xdmi) (f32.const 1)))
                  (br_if $hotLoop (i32.gt_u (local.get $xe) (local.get $xstop)))))
              (else
                (loop $coldLoop
                  (local.set $xe (i32.sub (local.get $xe) (i32.const 16)))
                  (local.set $xpwi (f32.load offset=12 (local.get $xe)))
                  (f32.store offset=28 (local.get $xe) (f32.add (local.get $xcarry) (f32.mul (f32.const 0) (local.get $xpwi))))
                  (local.set $xcarry
                    (f32.demote_f64 (f64.mul
                      (f64.promote_f32 (f32.mul (f32.mul (local.get $parentZero) (local.get $xpwi)) (local.get $xdmi)))
                      (local.get $xinv))))
                  (local.set $xdmi (f32.add (local.get $xdmi) (f32.const 1)))
                  (br_if $coldLoop (i32.gt_u (local.get $xe) (local.get $xstop))))))
            (f32.store offset=12 (local.get $xe) (local.get $xcarry)))))
        (if (i32.lt_s (local.get $split) (i32.const 0))
          (then
            (local.set $e (i32.add (global.get $jobInfo) (i32.shl (global.get $pendingCount) (i32.const 3))))
            (f32.store (local.get $e) (f32.load offset=4 (local.get $n)))
            (f32.store offset=4 (local.get $e) (local.get $fraction))
            (global.set $pendingD (local.get $depth))
            (global.set $pendingCount (i32.add (global.get $pendingCount) (i32.const 1)))
            (br $next)))
        (local.set $x (f32.load (i32.add (local.get $row) (i32.shl (local.get $split) (i32.const 2)))))
        (if (i32.lt_s (i32.load offset=16 (local.get $n)) (i32.const 0))
          (then
            ;; numerical: x < threshold goes left; NaN the default direction
            (local.set $hot (i32.add (i32.load offset=8 (local.get $n))
              (i32.or (f32.ge (local.get $x) (f32.load offset=4 (local.get $n)))
                (i32.and (f32.ne (local.get $x) (local.get $x)) (i32.load offset=12 (local.get $n)))))))
          (else (local.set $hot (call $categoryChild (local.get $n) (local.get $x)))))
        ;; the sibling: left + right - hot, with right = left + 1
        (local.set $cold (i32.sub
          (i32.add (i32.shl (i32.load offset=8 (local.get $n)) (i32.const 1)) (i32.const 1))
          (local.get $hot)))
        (local.set $hotZero (f32.load offset=20 (i32.add (global.get $nodes) (i32.mul (local.get $hot) (i32.const 24)))))
        (local.set $coldZero (f32.load offset=20 (i32.add (global.get $nodes) (i32.mul (local.get $cold) (i32.const 24)))))
        (local.set $incomingZero (f32.const 1))
        (local.set $incomingOne (f32.const 1))
        ;; already split on this feature? undo that split so this node can redo it
        (local.set $pathIndex (i32.const 0))
        (local.set $e (i32.add (global.get $path) (i32.shl (local.get $base) (i32.const 4))))
        (block $found
          ;; `mask` has bit (feature mod 32) of each feature in the frame: most splits are on none
          (if (i32.eqz (i32.and (local.get $mask) (i32.shl (i32.const 1) (local.get $split))))
            (then
              (local.set $pathIndex (i32.add (local.get $depth) (i32.const 1)))
              (br $found)))
          (loop $search
            (br_if $found (i32.gt_s (local.get $pathIndex) (local.get $depth)))
            (br_if $found (i32.eq (i32.load (local.get $e)) (local.get $split)))
            (local.set $e (i32.add (local.get $e) (i32.const 16)))
            (local.set $pathIndex (i32.add (local.get $pathIndex) (i32.const 1)))
            (br $search)))
        (if (i32.le_s (local.get $pathIndex) (local.get $depth))
          (then
            (local.set $incomingZero (f32.load offset=4 (local.get $e)))
            (local.set $incomingOne (f32.load offset=8 (local.get $e)))
            (call $unwind (local.get $base) (local.get $depth) (local.get $pathIndex))
            (local.set $mask (call $frameMask (local.get $base) (i32.sub (local.get $depth) (i32.const 1))))
            (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))))
        (local.set $hotFraction (local.get $fraction))
        (local.set $coldFraction (local.get $fraction))
        (if (i32.and (i32.ne (local.get $condition) (i32.const 0)) (i32.eq (local.get $split) (local.get $cf)))
          (then
            (if (i32.gt_s (local.get $condition) (i32.const 0))
              (then (local.set $coldFraction (f32.const 0)))
              (else
                (local.set $hotFraction (f32.mul (local.get $hotFraction) (local.get $hotZero)))
                (local.set $coldFraction (f32.mul (local.get $coldFraction) (local.get $coldZero)))))
            (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))))
        ;; cold on the stack, hot's whole subtree walked first, as XGBoost recurses
        (i32.store (local.get $sp) (local.get $cold))
        (i32.store offset=4 (local.get $sp) (i32.add (local.get $depth) (i32.const 1)))
        (i32.store offset=8 (local.get $sp) (local.get $base))
        (i32.store offset=12 (local.get $sp) (local.get $split))
        (f32.store offset=16 (local.get $sp) (f32.mul (local.get $coldZero) (local.get $incomingZero)))
        (f32.store offset=20 (local.get $sp) (f32.const 0))
        (f32.store offset=24 (local.get $sp) (local.get $coldFraction))
        (i32.store offset=28 (local.get $sp) (local.get $mask))
        (local.set $sp (i32.add (local.get $sp) (i32.const 32)))
        ;; then the hot child, at once (as if pushed above cold and popped)
        (local.set $node (local.get $hot))
        (local.set $depth (i32.add (local.get $depth) (i32.const 1)))
        (local.set $parentBase (local.get $base))
        (local.set $parentFeature (local.get $split))
        (local.set $parentZero (f32.mul (local.get $hotZero) (local.get $incomingZero)))
        (local.set $parentOne (local.get $incomingOne))
        (local.set $fraction (local.get $hotFraction))
        (br $visit))))
    (if (global.get $pendingCount) (then (call $flush))))

  ;; out[k] += phi[k] * weight for every feature tree t splits on, then clears them (XGBoost's
  ;; p_contribs[k] += this_tree_contribs[k] * weight for all k; the others' terms are 0, and
  ;; adding 0 changes no sum: a sum of float32 terms is never -0). withMean first adds the tree's
  ;; mean to the bias entry, as XGBoost's CalculateContributions does.
  (func $addTree (export "addTree") (param $out i32) (param $t i32) (param $withMean i32)
    (local $tp i32) (local $w f32) (local $q i32) (local $end i32) (local $k i32) (local $at i32)
    (local.set $tp (i32.add (global.get $trees) (i32.mul (local.get $t) (i32.const 20))))
    (local.set $w (f32.load offset=8 (local.get $tp)))
    (if (local.get $withMean)
      (then
        (local.set $at (i32.add (local.get $out) (i32.shl (global.get $numFeature) (i32.const 2))))
        (f32.store (local.get $at)
          (f32.add (f32.load (local.get $at)) (f32.mul (f32.load offset=4 (local.get $tp)) (local.get $w))))))
    (local.set $q (i32.add (global.get $features) (i32.shl (i32.load offset=12 (local.get $tp)) (i32.const 2))))
    (local.set $end (i32.add (global.get $features) (i32.shl (i32.load offset=16 (local.get $tp)) (i32.const 2))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $q) (local.get $end)))
        (local.set $k (i32.shl (i32.load (local.get $q)) (i32.const 2)))
        (local.set $at (i32.add (local.get $out) (local.get $k)))
        (f32.store (local.get $at)
          (f32.add (f32.load (local.get $at)) (f32.mul (f32.load (i32.add (global.get $phi) (local.get $k))) (local.get $w))))
        (f32.store (i32.add (global.get $phi) (local.get $k)) (f32.const 0))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (br $each))))

    ;; XGBoost's PredictContribution for one row and output group: the group's trees are the
  ;; i32 list at `treeList` (`count` of them); writes numFeature + 1 f32 at `out`, bias last.
  (func (export "explainRow") (param $row i32) (param $treeList i32) (param $count i32)
    (param $baseMargin f32) (param $out i32)
    (local $k i32) (local $end i32) (local $t i32) (local $at i32)
    (local.set $k (local.get $out))
    (local.set $end (i32.add (local.get $out) (i32.shl (i32.add (global.get $numFeature) (i32.const 1)) (i32.const 2))))
    (block $cleared
      (loop $clear
        (br_if $cleared (i32.ge_u (local.get $k) (local.get $end)))
        (f32.store (local.get $k) (f32.const 0))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $clear)))
    (local.set $end (i32.add (local.get $treeList) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $treeList) (local.get $end)))
        (local.set $t (i32.load (local.get $treeList)))
        (call $treeShap (local.get $row) (local.get $t) (i32.const 0) (i32.const 0))
        (call $addTree (local.get $out) (local.get $t) (i32.const 1))
        (local.set $treeList (i32.add (local.get $treeList) (i32.const 4)))
        (br $each)))
    (local.set $at (i32.add (local.get $out) (i32.shl (global.get $numFeature) (i32.const 2))))
    (f32.store (local.get $at) (f32.add (f32.load (local.get $at)) (local.get $baseMargin))))
)
