;; The mask filter's inference as wasm SIMD kernels (src/models/kernels/guided-filter-wasm.ts),
;; run on the tfjs wasm backend's own memory (imported as env.memory). The same math as
;; guidedUpsample + GuidedFilter.guide + probToLogits in src/models/guided_filter.ts, in a few
;; passes over memory instead of ~30 tfjs kernel calls.
;; Pointers are byte offsets into that memory. Every loop runs over groups of 4 floats; a row or
;; plane whose length is not a multiple of 4 ends with one group that overlaps the one before it
;; (the same values written twice), so lengths must be >= 4 (the caller checks).
;; Build: node scripts/build-simd.js (wabt) -> guided-filter-wasm-bytes.ts.
(module
  (import "env" "memory" (memory 1))

  ;; Start of the group of 4 that covers index j of a length-n run: min(j, n - 4).
  (func $group (param $j i32) (param $n i32) (result i32)
    (select (local.get $j) (i32.sub (local.get $n) (i32.const 4))
      (i32.le_s (local.get $j) (i32.sub (local.get $n) (i32.const 4)))))

  ;; The guide of 4 pixels (interleaved RGB at $px): luma + sum_k w2[k] leaky(w1[:,k] . rgb + b1[k]).
  ;; wts: the luma weights (3 floats and one unused), then c records of 5 floats (w1 r, w1 g, w1 b, b1, w2).
  (func $guide4 (param $px i32) (param $wts i32) (param $c i32) (result v128)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $t v128)
    (local $r v128) (local $g v128) (local $b v128) (local $acc v128) (local $hid v128)
    (local $k i32) (local $p i32)
    (local.set $v0 (v128.load (local.get $px)))
    (local.set $v1 (v128.load offset=16 (local.get $px)))
    (local.set $v2 (v128.load offset=32 (local.get $px)))
    ;; de-interleave: v0 = r0 g0 b0 r1, v1 = g1 b1 r2 g2, v2 = b2 r3 g3 b3
    (local.set $t (i8x16.shuffle 0 1 2 3 12 13 14 15 24 25 26 27 24 25 26 27 (local.get $v0) (local.get $v1)))
    (local.set $r (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 20 21 22 23 (local.get $t) (local.get $v2)))
    (local.set $t (i8x16.shuffle 4 5 6 7 16 17 18 19 28 29 30 31 28 29 30 31 (local.get $v0) (local.get $v1)))
    (local.set $g (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 24 25 26 27 (local.get $t) (local.get $v2)))
    (local.set $t (i8x16.shuffle 8 9 10 11 20 21 22 23 20 21 22 23 20 21 22 23 (local.get $v0) (local.get $v1)))
    (local.set $b (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 28 29 30 31 (local.get $t) (local.get $v2)))
    (local.set $acc (f32x4.add (f32x4.add
      (f32x4.mul (local.get $r) (v128.load32_splat (local.get $wts)))
      (f32x4.mul (local.get $g) (v128.load32_splat offset=4 (local.get $wts))))
      (f32x4.mul (local.get $b) (v128.load32_splat offset=8 (local.get $wts)))))
    (local.set $p (i32.add (local.get $wts) (i32.const 16)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $k) (local.get $c)))
        (local.set $hid (f32x4.add (f32x4.add (f32x4.add
          (f32x4.mul (local.get $r) (v128.load32_splat (local.get $p)))
          (f32x4.mul (local.get $g) (v128.load32_splat offset=4 (local.get $p))))
          (f32x4.mul (local.get $b) (v128.load32_splat offset=8 (local.get $p))))
          (v128.load32_splat offset=12 (local.get $p))))
        ;; LeakyReLU 0.2: max(x, 0.2 x)
        (local.set $hid (f32x4.max (local.get $hid) (f32x4.mul (local.get $hid) (v128.const f32x4 0.2 0.2 0.2 0.2))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $hid) (v128.load32_splat offset=16 (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 20)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l)))
    (local.get $acc))

  ;; Natural log of 4 positive finite floats (Cephes logf: frexp, then a degree-9 polynomial;
  ;; relative error ~1e-7).
  (func $log4 (param $x v128) (result v128)
    (local $e v128) (local $m v128) (local $mask v128) (local $z v128) (local $y v128)
    (local.set $e (f32x4.convert_i32x4_s (i32x4.sub (i32x4.shr_u (local.get $x) (i32.const 23)) (v128.const i32x4 126 126 126 126))))
    (local.set $m (v128.or (v128.and (local.get $x) (v128.const i32x4 0x007fffff 0x007fffff 0x007fffff 0x007fffff))
                           (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000)))
    ;; m in [0.5, 1); below sqrt(1/2): m = 2m, e = e - 1, so x - 1 is in [-0.29, 0.41]
    (local.set $mask (f32x4.lt (local.get $m) (v128.const f32x4 0.70710677 0.70710677 0.70710677 0.70710677)))
    (local.set $e (f32x4.sub (local.get $e) (v128.and (local.get $mask) (v128.const f32x4 1 1 1 1))))
    (local.set $x (f32x4.add (f32x4.sub (local.get $m) (v128.const f32x4 1 1 1 1)) (v128.and (local.get $mask) (local.get $m))))
    (local.set $z (f32x4.mul (local.get $x) (local.get $x)))
    (local.set $y (v128.const f32x4 7.0376836292e-2 7.0376836292e-2 7.0376836292e-2 7.0376836292e-2))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 -1.1514610310e-1 -1.1514610310e-1 -1.1514610310e-1 -1.1514610310e-1)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 1.1676998740e-1 1.1676998740e-1 1.1676998740e-1 1.1676998740e-1)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 -1.2420140846e-1 -1.2420140846e-1 -1.2420140846e-1 -1.2420140846e-1)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 1.4249322787e-1 1.4249322787e-1 1.4249322787e-1 1.4249322787e-1)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 -1.6668057665e-1 -1.6668057665e-1 -1.6668057665e-1 -1.6668057665e-1)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 2.0000714765e-1 2.0000714765e-1 2.0000714765e-1 2.0000714765e-1)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 -2.4999993993e-1 -2.4999993993e-1 -2.4999993993e-1 -2.4999993993e-1)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 3.3333331174e-1 3.3333331174e-1 3.3333331174e-1 3.3333331174e-1)))
    (local.set $y (f32x4.mul (f32x4.mul (local.get $y) (local.get $x)) (local.get $z)))
    (local.set $y (f32x4.add (local.get $y) (f32x4.mul (local.get $e) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    (local.set $y (f32x4.sub (local.get $y) (f32x4.mul (local.get $z) (v128.const f32x4 0.5 0.5 0.5 0.5))))
    (f32x4.add (f32x4.add (local.get $x) (local.get $y)) (f32x4.mul (local.get $e) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))

  ;; logit(clip(q, lo, hi)) + (q - clip(q)): probToLogits in guided_filter.ts
  (func $prob_to_logits4 (param $q v128) (param $lo v128) (param $hi v128) (result v128)
    (local $qc v128)
    (local.set $qc (f32x4.min (f32x4.max (local.get $q) (local.get $lo)) (local.get $hi)))
    (f32x4.add
      (call $log4 (f32x4.div (local.get $qc) (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $qc))))
      (f32x4.sub (local.get $q) (local.get $qc))))

  ;; out[n] = the guide of n pixels (interleaved RGB at $frame), n >= 4
  (func (export "guide") (param $frame i32) (param $n i32) (param $wts i32) (param $c i32) (param $out i32)
    (local $j i32) (local $s i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $s (call $group (local.get $j) (local.get $n)))
        (v128.store (i32.add (local.get $out) (i32.shl (local.get $s) (i32.const 2)))
          (call $guide4 (i32.add (local.get $frame) (i32.mul (local.get $s) (i32.const 12))) (local.get $wts) (local.get $c)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $l))))

  ;; gp = g * p, gg = g * g over n >= 4 values
  (func (export "products") (param $g i32) (param $p i32) (param $n i32) (param $gp i32) (param $gg i32)
    (local $j i32) (local $o i32) (local $gv v128)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $o (i32.shl (call $group (local.get $j) (local.get $n)) (i32.const 2)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $o))))
        (v128.store (i32.add (local.get $gp) (local.get $o)) (f32x4.mul (local.get $gv) (v128.load (i32.add (local.get $p) (local.get $o)))))
        (v128.store (i32.add (local.get $gg) (local.get $o)) (f32x4.mul (local.get $gv) (local.get $gv)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $l))))

  ;; Mean over the valid pixels of each (2r+1)^2 window of an h x w plane (w >= 4): column sums
  ;; into tmp, then row sums from buf (w + 2r floats, zero at both ends: the caller zeroes it),
  ;; times invRow[i] * invCol[j] = 1 / (valid rows * valid columns).
  (func (export "box_mean") (param $src i32) (param $dst i32) (param $tmp i32) (param $buf i32)
        (param $invRow i32) (param $invCol i32) (param $h i32) (param $w i32) (param $r i32)
    (local $i i32) (local $j i32) (local $k i32) (local $o i32) (local $hi i32) (local $row i32)
    (local $rowBytes i32) (local $acc v128) (local $inv v128) (local $n i32)
    (local.set $rowBytes (i32.shl (local.get $w) (i32.const 2)))
    (local.set $n (i32.add (i32.shl (local.get $r) (i32.const 1)) (i32.const 1)))
    (block $idone
      (loop $il
        (br_if $idone (i32.ge_u (local.get $i) (local.get $h)))
        ;; rows max(0, i - r) .. min(h - 1, i + r)
        (local.set $hi (i32.add (local.get $i) (local.get $r)))
        (if (i32.ge_s (local.get $hi) (local.get $h)) (then (local.set $hi (i32.sub (local.get $h) (i32.const 1)))))
        (local.set $j (i32.const 0))
        (block $jdone
          (loop $jl
            (br_if $jdone (i32.ge_u (local.get $j) (local.get $w)))
            (local.set $o (i32.shl (call $group (local.get $j) (local.get $w)) (i32.const 2)))
            (local.set $acc (v128.const f32x4 0 0 0 0))
            (local.set $k (i32.sub (local.get $i) (local.get $r)))
            (if (i32.lt_s (local.get $k) (i32.const 0)) (then (local.set $k (i32.const 0))))
            (block $kdone
              (loop $kl
                (br_if $kdone (i32.gt_s (local.get $k) (local.get $hi)))
                (local.set $acc (f32x4.add (local.get $acc)
                  (v128.load (i32.add (i32.add (local.get $src) (i32.mul (local.get $k) (local.get $rowBytes))) (local.get $o)))))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $kl)))
            (v128.store (i32.add (i32.add (local.get $tmp) (i32.mul (local.get $i) (local.get $rowBytes))) (local.get $o)) (local.get $acc))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $jl)))
        ;; this row of column sums into buf[r .. r + w), then its windows along the row
        (local.set $row (i32.add (local.get $tmp) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $j (i32.const 0))
        (block $cdone
          (loop $cl
            (br_if $cdone (i32.ge_u (local.get $j) (local.get $w)))
            (local.set $o (i32.shl (call $group (local.get $j) (local.get $w)) (i32.const 2)))
            (v128.store (i32.add (i32.add (local.get $buf) (i32.shl (local.get $r) (i32.const 2))) (local.get $o))
              (v128.load (i32.add (local.get $row) (local.get $o))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $cl)))
        (local.set $inv (v128.load32_splat (i32.add (local.get $invRow) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $j (i32.const 0))
        (block $wdone
          (loop $wl
            (br_if $wdone (i32.ge_u (local.get $j) (local.get $w)))
            (local.set $o (i32.shl (call $group (local.get $j) (local.get $w)) (i32.const 2)))
            (local.set $acc (v128.const f32x4 0 0 0 0))
            (local.set $k (i32.const 0))
            (block $kdone2
              (loop $kl2
                (br_if $kdone2 (i32.ge_u (local.get $k) (local.get $n)))
                (local.set $acc (f32x4.add (local.get $acc)
                  (v128.load (i32.add (i32.add (local.get $buf) (local.get $o)) (i32.shl (local.get $k) (i32.const 2))))))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $kl2)))
            (v128.store (i32.add (i32.add (local.get $dst) (i32.mul (local.get $i) (local.get $rowBytes))) (local.get $o))
              (f32x4.mul (f32x4.mul (local.get $acc) (local.get $inv)) (v128.load (i32.add (local.get $invCol) (local.get $o)))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $wl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il))))

  ;; From the four window means (planes of n at m: I, P, IP, II): a = cov / (var + eps), b = mP - a mI
  (func (export "coeffs") (param $m i32) (param $n i32) (param $eps f32) (param $a i32) (param $b i32)
    (local $j i32) (local $o i32) (local $plane i32)
    (local $mi v128) (local $mp v128) (local $av v128)
    (local.set $plane (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $o (i32.add (local.get $m) (i32.shl (call $group (local.get $j) (local.get $n)) (i32.const 2))))
        (local.set $mi (v128.load (local.get $o)))
        (local.set $mp (v128.load (i32.add (local.get $o) (local.get $plane))))
        (local.set $av (f32x4.div
          (f32x4.sub (v128.load (i32.add (local.get $o) (i32.shl (local.get $plane) (i32.const 1)))) (f32x4.mul (local.get $mi) (local.get $mp)))
          (f32x4.add (f32x4.sub (v128.load (i32.add (local.get $o) (i32.mul (local.get $plane) (i32.const 3)))) (f32x4.mul (local.get $mi) (local.get $mi)))
                     (f32x4.splat (local.get $eps)))))
        (local.set $o (i32.sub (local.get $o) (local.get $m)))
        (v128.store (i32.add (local.get $a) (local.get $o)) (local.get $av))
        (v128.store (i32.add (local.get $b) (local.get $o)) (f32x4.sub (local.get $mp) (f32x4.mul (local.get $av) (local.get $mi))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $l))))

  ;; The full-resolution pass: mean(a), mean(b) (h x w planes) bilinearly resized to H x W
  ;; (tf.image.resizeBilinear without align corners or half-pixel centres: source = dest * in/out),
  ;; applied to the guide of the frame (H x W, interleaved RGB), then, when $prob, turned into logits
  ;; with q clipped to $lo..$hi.
  ;; x0, x1: byte offsets of each output column's two source columns; fx: their weights (W floats);
  ;; rowA, rowB: w floats of scratch each; sy = h / H.
  (func (export "apply") (param $frame i32) (param $H i32) (param $W i32) (param $A i32) (param $B i32) (param $h i32) (param $w i32)
        (param $wts i32) (param $c i32) (param $prob i32) (param $rowA i32) (param $rowB i32)
        (param $x0 i32) (param $x1 i32) (param $fx i32) (param $sy f32) (param $out i32) (param $lo f32) (param $hi f32)
    (local $i i32) (local $j i32) (local $o i32) (local $y0 i32) (local $y1 i32) (local $src f32) (local $fy v128)
    (local $t v128) (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128) (local $f v128) (local $q v128)
    (local $rowBytes i32) (local $top i32) (local $bot i32) (local $p0 i32) (local $p1 i32) (local $s i32) (local $l i32)
    (local.set $rowBytes (i32.shl (local.get $w) (i32.const 2)))
    (block $idone
      (loop $il
        (br_if $idone (i32.ge_u (local.get $i) (local.get $H)))
        (local.set $src (f32.mul (f32.convert_i32_u (local.get $i)) (local.get $sy)))
        (local.set $y0 (i32.trunc_f32_u (f32.floor (local.get $src))))
        (local.set $y1 (i32.add (local.get $y0) (i32.const 1)))
        (if (i32.ge_u (local.get $y1) (local.get $h)) (then (local.set $y1 (i32.sub (local.get $h) (i32.const 1)))))
        (local.set $fy (f32x4.splat (f32.sub (local.get $src) (f32.convert_i32_u (local.get $y0)))))
        (local.set $top (i32.mul (local.get $y0) (local.get $rowBytes)))
        (local.set $bot (i32.mul (local.get $y1) (local.get $rowBytes)))
        ;; the two source rows blended into rowA, rowB
        (local.set $j (i32.const 0))
        (block $vdone
          (loop $vl
            (br_if $vdone (i32.ge_u (local.get $j) (local.get $w)))
            (local.set $o (i32.shl (call $group (local.get $j) (local.get $w)) (i32.const 2)))
            (local.set $t (v128.load (i32.add (i32.add (local.get $A) (local.get $top)) (local.get $o))))
            (v128.store (i32.add (local.get $rowA) (local.get $o))
              (f32x4.add (local.get $t) (f32x4.mul (f32x4.sub (v128.load (i32.add (i32.add (local.get $A) (local.get $bot)) (local.get $o))) (local.get $t)) (local.get $fy))))
            (local.set $t (v128.load (i32.add (i32.add (local.get $B) (local.get $top)) (local.get $o))))
            (v128.store (i32.add (local.get $rowB) (local.get $o))
              (f32x4.add (local.get $t) (f32x4.mul (f32x4.sub (v128.load (i32.add (i32.add (local.get $B) (local.get $bot)) (local.get $o))) (local.get $t)) (local.get $fy))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $vl)))
        (local.set $j (i32.const 0))
        (block $jdone
          (loop $jl
            (br_if $jdone (i32.ge_u (local.get $j) (local.get $W)))
            (local.set $s (call $group (local.get $j) (local.get $W)))
            (local.set $o (i32.shl (local.get $s) (i32.const 2)))
            ;; gather the 4 columns' two sources from rowA / rowB
            (local.set $l (i32.add (local.get $x0) (local.get $o)))
            (local.set $p0 (i32.load (local.get $l)))
            (local.set $p1 (i32.load (i32.add (local.get $x1) (local.get $o))))
            (local.set $a0 (f32x4.splat (f32.load (i32.add (local.get $rowA) (local.get $p0)))))
            (local.set $a1 (f32x4.splat (f32.load (i32.add (local.get $rowA) (local.get $p1)))))
            (local.set $b0 (f32x4.splat (f32.load (i32.add (local.get $rowB) (local.get $p0)))))
            (local.set $b1 (f32x4.splat (f32.load (i32.add (local.get $rowB) (local.get $p1)))))
            (local.set $p0 (i32.load offset=4 (local.get $l)))
            (local.set $p1 (i32.load offset=4 (i32.add (local.get $x1) (local.get $o))))
            (local.set $a0 (f32x4.replace_lane 1 (local.get $a0) (f32.load (i32.add (local.get $rowA) (local.get $p0)))))
            (local.set $a1 (f32x4.replace_lane 1 (local.get $a1) (f32.load (i32.add (local.get $rowA) (local.get $p1)))))
            (local.set $b0 (f32x4.replace_lane 1 (local.get $b0) (f32.load (i32.add (local.get $rowB) (local.get $p0)))))
            (local.set $b1 (f32x4.replace_lane 1 (local.get $b1) (f32.load (i32.add (local.get $rowB) (local.get $p1)))))
            (local.set $p0 (i32.load offset=8 (local.get $l)))
            (local.set $p1 (i32.load offset=8 (i32.add (local.get $x1) (local.get $o))))
            (local.set $a0 (f32x4.replace_lane 2 (local.get $a0) (f32.load (i32.add (local.get $rowA) (local.get $p0)))))
            (local.set $a1 (f32x4.replace_lane 2 (local.get $a1) (f32.load (i32.add (local.get $rowA) (local.get $p1)))))
            (local.set $b0 (f32x4.replace_lane 2 (local.get $b0) (f32.load (i32.add (local.get $rowB) (local.get $p0)))))
            (local.set $b1 (f32x4.replace_lane 2 (local.get $b1) (f32.load (i32.add (local.get $rowB) (local.get $p1)))))
            (local.set $p0 (i32.load offset=12 (local.get $l)))
            (local.set $p1 (i32.load offset=12 (i32.add (local.get $x1) (local.get $o))))
            (local.set $a0 (f32x4.replace_lane 3 (local.get $a0) (f32.load (i32.add (local.get $rowA) (local.get $p0)))))
            (local.set $a1 (f32x4.replace_lane 3 (local.get $a1) (f32.load (i32.add (local.get $rowA) (local.get $p1)))))
            (local.set $b0 (f32x4.replace_lane 3 (local.get $b0) (f32.load (i32.add (local.get $rowB) (local.get $p0)))))
            (local.set $b1 (f32x4.replace_lane 3 (local.get $b1) (f32.load (i32.add (local.get $rowB) (local.get $p1)))))
            (local.set $f (v128.load (i32.add (local.get $fx) (local.get $o))))
            ;; q = mean(a)_up * guide + mean(b)_up
            (local.set $q (f32x4.add
              (f32x4.mul
                (f32x4.add (local.get $a0) (f32x4.mul (f32x4.sub (local.get $a1) (local.get $a0)) (local.get $f)))
                (call $guide4 (i32.add (local.get $frame) (i32.mul (i32.add (i32.mul (local.get $i) (local.get $W)) (local.get $s)) (i32.const 12)))
                              (local.get $wts) (local.get $c)))
              (f32x4.add (local.get $b0) (f32x4.mul (f32x4.sub (local.get $b1) (local.get $b0)) (local.get $f)))))
            (if (local.get $prob) (then (local.set $q (call $prob_to_logits4 (local.get $q) (f32x4.splat (local.get $lo)) (f32x4.splat (local.get $hi))))))
            (v128.store (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $W)) (local.get $s)) (i32.const 2))) (local.get $q))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $jl)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $il))))
)
