#!/usr/bin/env bash
# Pack the inpainting bench for a lent Linux x64 GPU machine into one archive (issue 6):
#
#   scripts/gpu-bench/pack.sh [OUT.tar.gz]          (default var/gpu-bench/bundle.tar.gz; var/ is git-ignored)
#   scripts/gpu-bench/run.sh OUT.tar.gz RESULTS_DIR  (on the GPU machine)
#
# The archive holds, under bench/:
#   node                      this machine's Node binary (`command -v node`; the official build, linked to libc only)
#   bench.mjs                 lab/cli/bench-inpaint-main.ts and what it imports, bundled by esbuild;
#                             onnxruntime-node stays outside (native)
#   node_modules/             onnxruntime-node (dist + bin/napi-v6/linux/x64 only: its WebGPU provider is
#                             inside libonnxruntime.so.1) and onnxruntime-common (its cjs build), nothing else
#   deb/libvulkan1_*.deb      Debian's Vulkan loader, for a machine that lacks it and cannot reach a mirror
#   BUNDLE.json               what went in (versions, commit)
# The generator is not in it: run.sh takes it from the checkout (models/ is tracked, so the device's copy
# of the work tree has it), which keeps the bundle under the carry limit whatever the model weighs.
# It fails when the archive is over MAX_MIB (64; the device's carry limit).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-$repo/var/gpu-bench/bundle.tar.gz}
max_mib=${MAX_MIB:-64}
ort=$repo/node_modules/onnxruntime-node
common=$repo/node_modules/onnxruntime-common
esbuild=$repo/node_modules/.bin/esbuild

die() { echo "pack.sh: $*" >&2; exit 1; }
[[ $(uname -s)/$(uname -m) == Linux/x86_64 ]] || die "packs this machine's Node binary, so it must run on Linux x86_64 (got $(uname -s)/$(uname -m))"
node=$(readlink -f "$(command -v node)") || die 'no node on PATH'
"$node" -e 'process.exit(process.config.variables.node_shared ? 1 : 0)' || die "$node is linked to a shared libnode: pack with an official Node build"
[[ -f $ort/bin/napi-v6/linux/x64/libonnxruntime.so.1 ]] || die "no onnxruntime-node with linux-x64 binaries in $ort: run npm ci"
[[ -x $esbuild ]] || die "no esbuild in node_modules: run npm ci"

stage=$(mktemp -d "${TMPDIR:-/tmp}/gpu-bench-pack.XXXXXX")
trap 'rm -rf "$stage"' EXIT
b=$stage/bench
mkdir -p "$b/deb" "$b/node_modules/onnxruntime-node/bin/napi-v6/linux" "$b/node_modules/onnxruntime-common/dist"

cp "$node" "$b/node"
# ESM with a require for the CommonJS modules bundled in (commander) and for onnxruntime-node.
"$esbuild" "$repo/lab/cli/bench-inpaint-main.ts" --bundle --platform=node --format=esm --target=node20 \
  --external:onnxruntime-node --log-level=warning --outfile="$b/bench.mjs" \
  --banner:js="import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"

cp "$ort/package.json" "$b/node_modules/onnxruntime-node/"
cp -r "$ort/dist" "$b/node_modules/onnxruntime-node/"
cp -r "$ort/bin/napi-v6/linux/x64" "$b/node_modules/onnxruntime-node/bin/napi-v6/linux/"
cp "$common/package.json" "$b/node_modules/onnxruntime-common/"
cp -r "$common/dist/cjs" "$b/node_modules/onnxruntime-common/dist/"
find "$b/node_modules" -name '*.map' -delete

# Debian's libvulkan1: from apt's cache, or downloaded with apt when the cache lacks it.
deb=$(ls /var/cache/apt/archives/libvulkan1_*_amd64.deb 2>/dev/null | tail -n 1 || true)
if [[ -n $deb ]]; then
  cp "$deb" "$b/deb/"
elif (cd "$b/deb" && apt-get download libvulkan1 >/dev/null 2>&1); then
  :
else
  echo "pack.sh: warning: no libvulkan1 .deb in apt's cache and apt-get download failed: run.sh will need the machine's own Vulkan loader or a mirror" >&2
fi

"$node" - "$b" "$repo" <<'EOF'
const [dir, repo] = process.argv.slice(2);
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const commit = (() => { try { return execSync('git rev-parse HEAD', { cwd: repo, encoding: 'utf8' }).trim(); } catch { return 'unknown'; } })();
const manifest = {
  madeAt: new Date().toISOString(),
  commit,
  node: process.version,
  onnxruntimeNode: JSON.parse(fs.readFileSync(`${dir}/node_modules/onnxruntime-node/package.json`, 'utf8')).version,
  vulkanDeb: fs.readdirSync(`${dir}/deb`)[0] ?? null,
};
fs.writeFileSync(`${dir}/BUNDLE.json`, JSON.stringify(manifest, null, 2) + '\n');
EOF

# The bundle must start before it is shipped: bench.mjs resolves onnxruntime-node and parses its options.
"$b/node" "$b/bench.mjs" --help >/dev/null || die 'the bundled bench does not start'

mkdir -p "$(dirname "$out")"
tar -C "$stage" -cf - bench | gzip -9 > "$out.part"
mv "$out.part" "$out"
bytes=$(stat -c %s "$out")
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
if (( bytes > max_mib * 1048576 )); then
  die "$out is $mib MiB, over the $max_mib MiB limit by $(awk -v b="$bytes" -v m="$max_mib" 'BEGIN { printf "%.1f", b / 1048576 - m }') MiB"
fi
echo "pack.sh: wrote $out ($mib MiB of at most $max_mib; $(du -sh "$b" | cut -f1) unpacked)"
