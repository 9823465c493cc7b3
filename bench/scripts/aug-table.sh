#!/bin/bash
# The augmentation table of docs/large-teacher.md (section 7): MediaPipe's selfie net fine-tuned
# on eg1800-train for 2 000 images with each variant of the augmentation, then eval of last/ on
# eg1800-val and on the PicsArt validation split (a list file of the seeded split, see
# docs/large-teacher.md). Usage: bash bench/scripts/aug-table.sh OUT_DIR PICSART_VAL_LIST
set -euo pipefail
out=${1:?output folder}; picsart=${2:?PicsArt validation list}
mkdir -p "$out"
npx portraitseg import --model mediapipe:selfie --out "$out/selfie"
base='{"data":{"valFraction":0},"train":{"images":2000,"batchSize":8,"lr":0.0001,"minLr":1e-6,"warmupImages":100,"ema":0.99,"evalEvery":2000,"checkpointEvery":1000,"loss":{"bce":1,"dice":1,"boundary":0.5}}}'
all='backgroundSwap scaleCrop rotate flip colorJitter cameraNoise'
variant() {  # name -> the augment.train list (the default parameters of each transform)
  case $1 in
    none) echo '[]' ;;
    light) echo '[{"name":"scaleCrop","p":0.8,"minScale":0.9,"maxScale":1.1,"maxShift":0.05},{"name":"flip","p":0.5}]' ;;
    default) npx tsx -e "import {DEFAULT_AUGMENT} from './src/config/config'; console.log(JSON.stringify(DEFAULT_AUGMENT))" ;;
    no-*) npx tsx -e "import {DEFAULT_AUGMENT} from './src/config/config'; console.log(JSON.stringify(DEFAULT_AUGMENT.filter((t) => t.name !== '${1#no-}')))" ;;
  esac
}
for v in none light default $(for t in $all; do echo no-$t; done); do
  node -e "const b=$base; b.augment={train:$(variant $v)}; require('fs').writeFileSync('$out/aug-$v.json', JSON.stringify(b, null, 1))"
  npx portraitseg train teacher --config "$out/aug-$v.json" --init "$out/selfie" --data ../shared/datasets/eg1800-train \
    --val ../shared/datasets/eg1800-val --backgrounds ../shared/datasets/backgrounds --out "$out/runs/$v"
  npx portraitseg eval --model "$out/runs/$v/last" --data ../shared/datasets/eg1800-val --report "$out/$v.eg1800.json"
  npx portraitseg eval --model "$out/runs/$v/last" --data "$picsart" --report "$out/$v.picsart.json"
done
