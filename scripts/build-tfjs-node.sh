#!/usr/bin/env bash
# Builds @tensorflow/tfjs-node's native addon offline, from the TensorFlow shared library inside
# the tensorflow-cpu pip wheel, instead of the libtensorflow 2.9.1 archive its install script
# downloads (which an offline machine cannot fetch). See docs/backends.md, "The native backend".
#
#   scripts/build-tfjs-node.sh [--wheel FILE.whl] [--force]
#
# Where the wheel comes from, first that applies:
#   --wheel FILE / $PORTRAITSEG_TF_WHEEL   a tensorflow-cpu wheel already on disk
#   pip download                            `pip download --no-deps tensorflow-cpu==$TF_VERSION ...`
#                                           (pip's own index settings: a local wheel store or PyPI)
# What it does, in node_modules/@tensorflow/tfjs-node:
#   deps/lib      libtensorflow_cc.so.2 (the whole TF C API) and libtensorflow_framework.so.2 from
#                 the wheel, linked as libtensorflow.so, .so.2 and .so.2.9.1 (the file the install
#                 script checks before it would download), libtensorflow_framework.so(.2.9.1)
#   deps/include  the wheel's C API headers (tensorflow/c/**, the ctstring headers, xla/tsl/c)
#   scripts/custom-binary.json  tfjs-node's documented setting for "own libtensorflow, no prebuilt
#                 addon": its install script then compiles the addon from source (node-gyp, g++,
#                 make, Node's headers) instead of trying to download one
#   then `npm rebuild @tensorflow/tfjs-node --ignore-scripts=false` and a check that it loads.
# @tensorflow/tfjs-node itself is installed first when absent (npm install --no-save, the version
# of the installed @tensorflow/tfjs), so run this again after `npm install` / `npm ci`.
# Needs python3 (pip, zipfile), g++, make; ~1.7 GB of disk while it runs (the wheel and the
# 850 MB of libraries), 850 MB after; about a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

TF_VERSION="${PORTRAITSEG_TF_VERSION:-2.21.0}"
wheel="${PORTRAITSEG_TF_WHEEL:-}"
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) wheel="${2:?--wheel needs a file}"; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-tfjs-node: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

pkg=node_modules/@tensorflow/tfjs-node
if [ ! -f node_modules/@tensorflow/tfjs/package.json ]; then
  echo "build-tfjs-node: @tensorflow/tfjs is not installed; run npm install first" >&2
  exit 2
fi
# tfjs-node is an optional peer dependency (npm does not install it by itself). Its version must
# be the installed tfjs's: tfjs-node pins tfjs exactly, and a second tfjs copy would be a second
# engine that portraitseg's tfjs never sees. --no-save: the checkout's package.json and lockfile
# stay as they are (so a later `npm install`/`npm ci` removes it: run this script again);
# --ignore-scripts: its install script would download libtensorflow, staged below instead;
# --save-prod: without it npm keeps the package.json's optional-peer edge and installs nothing.
tfjs_version="$(node -p "require('@tensorflow/tfjs/package.json').version")"
if [ ! -f "$pkg/package.json" ] || [ "$(node -p "require('./$pkg/package.json').version")" != "$tfjs_version" ]; then
  echo "build-tfjs-node: npm install --no-save @tensorflow/tfjs-node@$tfjs_version"
  npm install --no-save --save-prod --ignore-scripts --no-audit --no-fund --loglevel=error "@tensorflow/tfjs-node@$tfjs_version" >/dev/null
fi
loads() { node -e "require('@tensorflow/tfjs-node')" >/dev/null 2>&1; }
if [ "$force" = 0 ] && ls "$pkg"/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1 && loads; then
  echo "build-tfjs-node: @tensorflow/tfjs-node already loads (--force rebuilds it)"
  exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/portraitseg-tfjs-node.XXXXXX")"
trap 'rm -rf "$work"' EXIT
if [ -z "$wheel" ]; then
  echo "build-tfjs-node: pip download tensorflow-cpu==$TF_VERSION"
  # pip's own index settings decide where from; its retry warnings (an unreachable PyPI before a
  # local store) go to the log, shown only when the download fails
  python3 -m pip download --no-deps "tensorflow-cpu==$TF_VERSION" --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_27_x86_64 -d "$work" >"$work/pip.log" 2>&1 || {
    tail -20 "$work/pip.log" >&2
    echo "build-tfjs-node: pip could not download tensorflow-cpu==$TF_VERSION (log above); pass --wheel FILE" >&2
    exit 1
  }
  wheel="$(ls "$work"/tensorflow_cpu-*.whl)"
fi
[ -f "$wheel" ] || { echo "build-tfjs-node: wheel not found: $wheel" >&2; exit 2; }

echo "build-tfjs-node: staging libtensorflow from $(basename "$wheel")"
rm -rf "$pkg/deps"
mkdir -p "$pkg/deps/lib" "$pkg/deps/include"
python3 - "$wheel" "$pkg/deps" <<'EOF'
import os, re, shutil, sys, zipfile
wheel, deps = sys.argv[1], sys.argv[2]
libs = {'tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'}
headers = re.compile(r'^tensorflow/include/(tensorflow/c/.*\.h|tensorflow/core/platform/ctstring[^/]*\.h|tsl/platform/ctstring[^/]*\.h|xla/tsl/c/[^/]*\.h)$')
found = set()
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        m = headers.match(name)
        if name in libs:
            dest = os.path.join(deps, 'lib', os.path.basename(name))
        elif m:
            dest = os.path.join(deps, 'include', m.group(1))
        else:
            continue
        found.add(name if name in libs else 'headers')
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(info) as src, open(dest, 'wb') as out:
            shutil.copyfileobj(src, out, 1 << 20)
missing = sorted((libs | {'headers'}) - found)
if missing:
    sys.exit(f'build-tfjs-node: {wheel} lacks {", ".join(missing)}')
EOF
(
  cd "$pkg/deps/lib"
  for n in libtensorflow.so libtensorflow.so.2 libtensorflow.so.2.9.1; do ln -sf libtensorflow_cc.so.2 "$n"; done
  for n in libtensorflow_framework.so libtensorflow_framework.so.2.9.1; do ln -sf libtensorflow_framework.so.2 "$n"; done
)
cat >"$pkg/scripts/custom-binary.json" <<EOF
{ "tf-lib": "file://$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")" }
EOF

echo "build-tfjs-node: compiling the addon (npm rebuild @tensorflow/tfjs-node --ignore-scripts=false)"
rm -rf "$pkg"/lib/napi-v*/tfjs_binding.node "$pkg/build"
npm rebuild @tensorflow/tfjs-node --ignore-scripts=false --foreground-scripts >"$work/rebuild.log" 2>&1 || {
  tail -40 "$work/rebuild.log" >&2
  echo "build-tfjs-node: npm rebuild failed (log above)" >&2
  exit 1
}
rm -rf "$pkg/build"
if ! node -e "const tf=require('@tensorflow/tfjs-node'); console.log('build-tfjs-node: @tensorflow/tfjs-node ' + tf.version['tfjs-node'] + ' loads, on TensorFlow ' + tf.backend().binding.TF_Version)" 2>"$work/load.log"; then
  tail -20 "$work/load.log" >&2
  echo "build-tfjs-node: the addon was built but does not load (log above)" >&2
  exit 1
fi
