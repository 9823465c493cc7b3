;; portraitseg's wasm SIMD training kernels (issue #13), run on the tfjs wasm backend's own memory
;; (imported as env.memory). Pointers are byte offsets into that memory; element counts are
;; multiples of 4 where noted (the TS caller handles the rest or falls back).
;; Build: node scripts/build-simd.js (wabt) -> src/backend/simd/kernels-wasm.ts.
(module
  (import "env" "memory" (memory 1))

  ;; out = dy * step(x), step(x) = x > 0 ? 1 : 0, NaN for NaN x (tfjs' Relu gradient, exactly)
  (func (export "relu_grad") (param $dy i32) (param $x i32) (param $out i32) (param $n i32)
    (local $i i32) (local $end i32) (local $v v128) (local $s v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $v (v128.load (i32.add (local.get $x) (local.get $i))))
        (local.set $s (v128.bitselect (v128.const f32x4 1 1 1 1) (v128.const f32x4 0 0 0 0) (f32x4.gt (local.get $v) (v128.const f32x4 0 0 0 0))))
        (local.set $s (v128.bitselect (local.get $v) (local.get $s) (f32x4.ne (local.get $v) (local.get $v))))
        (v128.store (i32.add (local.get $out) (local.get $i))
          (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $i))) (local.get $s)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $l))))

  ;; out = (lo <= x <= hi) ? dy : 0 (tfjs' ClipByValue gradient, a select)
  (func (export "clip_grad") (param $dy i32) (param $x i32) (param $out i32) (param $n i32) (param $lo f32) (param $hi f32)
    (local $i i32) (local $end i32) (local $v v128) (local $vlo v128) (local $vhi v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vlo (f32x4.splat (local.get $lo)))
    (local.set $vhi (f32x4.splat (local.get $hi)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $v (v128.load (i32.add (local.get $x) (local.get $i))))
        (v128.store (i32.add (local.get $out) (local.get $i))
          (v128.and (v128.load (i32.add (local.get $dy) (local.get $i)))
            (v128.and (f32x4.ge (local.get $v) (local.get $vlo)) (f32x4.le (local.get $v) (local.get $vhi)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $l))))

  ;; out = dy * (x * 2) (tfjs' Square gradient, same operation order)
  (func (export "square_grad") (param $dy i32) (param $x i32) (param $out i32) (param $n i32)
    (local $i i32) (local $end i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (v128.store (i32.add (local.get $out) (local.get $i))
          (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $i)))
            (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $i))) (v128.const f32x4 2 2 2 2))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $l))))

  ;; Column sums of x [rows, cols] (cols % 4 == 0) into acc (f64 [cols], zeroed by the caller).
  (func (export "col_sum") (param $x i32) (param $rows i32) (param $cols i32) (param $acc i32)
    (local $r i32) (local $c i32) (local $p i32) (local $a i32) (local $v v128) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $p (local.get $x))
    (block $rdone
      (loop $rl
        (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (local.set $a (local.get $acc))
        (block $cdone
          (loop $cl
            (br_if $cdone (i32.ge_u (local.get $c) (local.get $rowBytes)))
            (local.set $v (v128.load (i32.add (local.get $p) (local.get $c))))
            (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
            (v128.store offset=16 (local.get $a) (f64x2.add (v128.load offset=16 (local.get $a))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
            (local.set $a (i32.add (local.get $a) (i32.const 32)))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $cl)))
        (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl))))

  ;; Batch-norm gradient over rows of C channels (C % 4 == 0): dx = dy * k[c];
  ;; sdy[c] += dy, sdyx[c] += dy * (x - mean[c]) (f64 accumulators [C] each, zeroed by the caller).
  (func (export "bn_grad") (param $dy i32) (param $x i32) (param $dx i32) (param $rows i32) (param $C i32)
        (param $mean i32) (param $k i32) (param $sdy i32) (param $sdyx i32)
    (local $r i32) (local $c i32) (local $off i32) (local $a i32) (local $b i32) (local $g v128) (local $t v128) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $C) (i32.const 2)))
    (block $rdone
      (loop $rl
        (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $c (i32.const 0))
        (local.set $a (local.get $sdy))
        (local.set $b (local.get $sdyx))
        (block $cdone
          (loop $cl
            (br_if $cdone (i32.ge_u (local.get $c) (local.get $rowBytes)))
            (local.set $g (v128.load (i32.add (local.get $dy) (local.get $off))))
            (local.set $t (f32x4.mul (local.get $g) (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $off))) (v128.load (i32.add (local.get $mean) (local.get $c))))))
            (v128.store (i32.add (local.get $dx) (local.get $off)) (f32x4.mul (local.get $g) (v128.load (i32.add (local.get $k) (local.get $c)))))
            (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a)) (f64x2.promote_low_f32x4 (local.get $g))))
            (v128.store offset=16 (local.get $a) (f64x2.add (v128.load offset=16 (local.get $a))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $g) (local.get $g)))))
            (v128.store (local.get $b) (f64x2.add (v128.load (local.get $b)) (f64x2.promote_low_f32x4 (local.get $t))))
            (v128.store offset=16 (local.get $b) (f64x2.add (v128.load offset=16 (local.get $b))
              (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $t) (local.get $t)))))
            (local.set $a (i32.add (local.get $a) (i32.const 32)))
            (local.set $b (i32.add (local.get $b) (i32.const 32)))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (local.set $off (i32.add (local.get $off) (i32.const 16)))
            (br $cl)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl))))

  ;; Adam/AdamW for n values (n % 4 == 0), in float32 as the tensor-op formula:
  ;; m1 = m*b1 + g*a1; s1 = s*b2 + (g*g)*a2; w1 = w - ((m1/c1) / (sqrt(s1/c2) + eps)) * lr - w*decay
  (func (export "adam") (param $w i32) (param $m i32) (param $s i32) (param $g i32) (param $wo i32) (param $mo i32) (param $so i32) (param $n i32)
        (param $lr f32) (param $b1 f32) (param $b2 f32) (param $a1 f32) (param $a2 f32) (param $eps f32) (param $c1 f32) (param $c2 f32) (param $decay f32)
    (local $i i32) (local $end i32) (local $gv v128) (local $m1 v128) (local $s1 v128) (local $wv v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $i))))
        (local.set $m1 (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $i))) (f32x4.splat (local.get $b1)))
                                  (f32x4.mul (local.get $gv) (f32x4.splat (local.get $a1)))))
        (local.set $s1 (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $s) (local.get $i))) (f32x4.splat (local.get $b2)))
                                  (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (f32x4.splat (local.get $a2)))))
        (v128.store (i32.add (local.get $mo) (local.get $i)) (local.get $m1))
        (v128.store (i32.add (local.get $so) (local.get $i)) (local.get $s1))
        (local.set $wv (v128.load (i32.add (local.get $w) (local.get $i))))
        (v128.store (i32.add (local.get $wo) (local.get $i))
          (f32x4.sub
            (f32x4.sub (local.get $wv)
              (f32x4.mul
                (f32x4.div (f32x4.div (local.get $m1) (f32x4.splat (local.get $c1)))
                           (f32x4.add (f32x4.sqrt (f32x4.div (local.get $s1) (f32x4.splat (local.get $c2)))) (f32x4.splat (local.get $eps))))
                (f32x4.splat (local.get $lr))))
            (f32x4.mul (local.get $wv) (f32x4.splat (local.get $decay)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $l))))
  ;; Depthwise filter gradient (multiplier 1, C % 4 == 0), NHWC:
  ;; acc[kh, kw, c] (f64, zeroed by the caller) += sum over b, oh, ow of x[b, oh*sh + kh - pt, ow*sw + kw - pl, c] * dy[b, oh, ow, c].
  ;; owLo / owHi (i32 [fw]): the ow range whose input column is inside the frame, per kw.
  ;; Each (b, oh, kh, kw, 4 channels) sums its row in f32 (<= OW terms), then adds it in f64.
  (func (export "dw_filter_grad") (param $x i32) (param $dy i32) (param $acc i32) (param $B i32) (param $H i32) (param $W i32) (param $C i32)
        (param $OH i32) (param $OW i32) (param $fh i32) (param $fw i32) (param $sh i32) (param $sw i32) (param $pt i32) (param $pl i32)
        (param $owLo i32) (param $owHi i32)
    (local $b i32) (local $oh i32) (local $kh i32) (local $kw i32) (local $c i32) (local $ih i32) (local $lo i32) (local $hi i32) (local $ow i32)
    (local $xp i32) (local $dp i32) (local $xstep i32) (local $dstep i32) (local $a i32) (local $v v128) (local $Cb i32)
    (local.set $Cb (i32.shl (local.get $C) (i32.const 2)))
    (local.set $xstep (i32.mul (local.get $sw) (local.get $Cb)))
    (local.set $dstep (local.get $Cb))
    (local.set $b (i32.const 0))
    (block $bdone (loop $bl
      (br_if $bdone (i32.ge_u (local.get $b) (local.get $B)))
      (local.set $oh (i32.const 0))
      (block $ohdone (loop $ohl
        (br_if $ohdone (i32.ge_u (local.get $oh) (local.get $OH)))
        (local.set $kh (i32.const 0))
        (block $khdone (loop $khl
          (br_if $khdone (i32.ge_u (local.get $kh) (local.get $fh)))
          (local.set $ih (i32.sub (i32.add (i32.mul (local.get $oh) (local.get $sh)) (local.get $kh)) (local.get $pt)))
          (if (i32.and (i32.ge_s (local.get $ih) (i32.const 0)) (i32.lt_s (local.get $ih) (local.get $H)))
            (then
              (local.set $kw (i32.const 0))
              (block $kwdone (loop $kwl
                (br_if $kwdone (i32.ge_u (local.get $kw) (local.get $fw)))
                (local.set $lo (i32.load (i32.add (local.get $owLo) (i32.shl (local.get $kw) (i32.const 2)))))
                (local.set $hi (i32.load (i32.add (local.get $owHi) (i32.shl (local.get $kw) (i32.const 2)))))
                (if (i32.le_s (local.get $lo) (local.get $hi))
                  (then
                    (local.set $c (i32.const 0))
                    (block $cdone (loop $cl
                      (br_if $cdone (i32.ge_u (local.get $c) (local.get $Cb)))
                      ;; x[b, ih, lo*sw + kw - pl, c], dy[b, oh, lo, c]
                      (local.set $xp (i32.add (i32.add (local.get $x)
                        (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H)) (local.get $ih)) (local.get $W))
                                          (i32.sub (i32.add (i32.mul (local.get $lo) (local.get $sw)) (local.get $kw)) (local.get $pl)))
                                 (local.get $Cb))) (local.get $c)))
                      (local.set $dp (i32.add (i32.add (local.get $dy)
                        (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $OH)) (local.get $oh)) (local.get $OW)) (local.get $lo))
                                 (local.get $Cb))) (local.get $c)))
                      (local.set $v (v128.const f32x4 0 0 0 0))
                      (local.set $ow (local.get $lo))
                      (block $owdone (loop $owl
                        (br_if $owdone (i32.gt_s (local.get $ow) (local.get $hi)))
                        (local.set $v (f32x4.add (local.get $v) (f32x4.mul (v128.load (local.get $xp)) (v128.load (local.get $dp)))))
                        (local.set $xp (i32.add (local.get $xp) (local.get $xstep)))
                        (local.set $dp (i32.add (local.get $dp) (local.get $dstep)))
                        (local.set $ow (i32.add (local.get $ow) (i32.const 1)))
                        (br $owl)))
                      ;; acc[(kh*fw + kw)*C + c/4 ...] as f64: byte offset ((kh*fw+kw)*C*8 + c*2)
                      (local.set $a (i32.add (local.get $acc)
                        (i32.add (i32.shl (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $fw)) (local.get $kw)) (local.get $C)) (i32.const 3))
                                 (i32.shl (local.get $c) (i32.const 1)))))
                      (v128.store (local.get $a) (f64x2.add (v128.load (local.get $a)) (f64x2.promote_low_f32x4 (local.get $v))))
                      (v128.store offset=16 (local.get $a) (f64x2.add (v128.load offset=16 (local.get $a))
                        (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
                      (local.set $c (i32.add (local.get $c) (i32.const 16)))
                      (br $cl)))))
                (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
                (br $kwl)))))
          (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
          (br $khl)))
        (local.set $oh (i32.add (local.get $oh) (i32.const 1)))
        (br $ohl)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl))))
)
