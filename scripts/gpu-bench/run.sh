#!/usr/bin/env bash
# Run the inpainting bench from a pack.sh bundle on a Linux machine with an NVIDIA GPU (issue 6):
#
#   [MODEL=FILE] scripts/gpu-bench/run.sh BUNDLE RESULTS_DIR [bench options…]
#   e.g. on the device machine: scripts/gpu-bench/run.sh var/gpu-bench/bundle.tar.gz "$OUT"
# The generator is MODEL, by default this checkout's models/idgan-inpaint.onnx (the bundle carries none).
#
# Unpacks BUNDLE into a temporary folder, makes WebGPU's Vulkan reachable (Debian's libvulkan1 when the
# loader is missing; an ICD file for the NVIDIA driver when the driver's Vulkan library is there but not
# registered), then runs the bench with the WebGPU provider and with the CPU on this same machine.
# RESULTS_DIR gets:
#   webgpu.json/.md, cpu.json/.md   the bench's results (webgpu.json says "available": false, and why,
#                                   where WebGPU cannot start: that is a result, not a failure)
#   gpu.txt                         the GPU as nvidia-smi names it
#   model.txt                       the generator benched and its SHA-256
#   env.txt                         what was found and done for Vulkan
#   summary.json                    faces/s per batch on each, WebGPU/CPU ratios, the issue's targets
#   run.log                         this script's whole output
# Bench options (e.g. --batches 1,8 --seconds 1) go to both runs; defaults: batches 1,8,32,128, 3 s each.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BUNDLE RESULTS_DIR [bench options…]" >&2
  exit 2
fi
bundle=$1 out=$2
shift 2
[[ -f $bundle ]] || { echo "run.sh: no bundle at $bundle (make it with scripts/gpu-bench/pack.sh)" >&2; exit 2; }
model=${MODEL:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/models/idgan-inpaint.onnx}
[[ -f $model ]] || { echo "run.sh: no generator at $model (MODEL=FILE to bench another)" >&2; exit 2; }
model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")
mkdir -p "$out"
out=$(cd "$out" && pwd)
exec > >(tee -a "$out/run.log") 2>&1
echo "== run.sh $(date -u +%FT%TZ): bundle $bundle, results in $out, bench options: ${*:-(defaults)}"

work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$bundle" -C "$work"
b=$work/bench
[[ -x $b/node && -f $b/bench.mjs ]] || { echo "run.sh: $bundle is not a pack.sh bundle (no bench/node, bench/bench.mjs)" >&2; exit 1; }
cat "$b/BUNDLE.json"
echo "$model $(sha256sum "$model" | cut -d' ' -f1)" | tee "$out/model.txt"

# The GPU, named.
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt" || echo "nvidia-smi failed" > "$out/gpu.txt"
else
  echo "no nvidia-smi: no NVIDIA driver visible" | tee "$out/gpu.txt"
fi

# Vulkan for Dawn (WebGPU): the loader (libvulkan.so.1) and an ICD for the NVIDIA driver.
env_log=$out/env.txt
: > "$env_log"
note() { echo "$*" | tee -a "$env_log"; }
# (The cache is read once: `ldconfig -p | grep -q` fails under pipefail when grep stops early.)
ldcache=$( (ldconfig -p || /sbin/ldconfig -p) 2>/dev/null || true)
loader=$(grep -m1 -oE '/[^ ]*libvulkan\.so\.1$' <<<"$ldcache" || true)
if [[ -n $loader ]]; then
  note "vulkan loader: present ($loader)"
else
  deb=$(ls "$b"/deb/libvulkan1_*.deb 2>/dev/null | head -n 1 || true)
  if [[ -n $deb && $(id -u) == 0 ]] && command -v dpkg >/dev/null && dpkg -i "$deb" >>"$env_log" 2>&1; then
    note "vulkan loader: installed Debian's $(basename "$deb") with dpkg"
  elif [[ -n $deb ]] && command -v dpkg-deb >/dev/null && dpkg-deb -x "$deb" "$work/vulkan"; then
    export LD_LIBRARY_PATH=$work/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    note "vulkan loader: unpacked Debian's $(basename "$deb") into $work/vulkan (LD_LIBRARY_PATH)"
  elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null && timeout 120 apt-get install -y --no-install-recommends libvulkan1 >>"$env_log" 2>&1; then
    note "vulkan loader: installed libvulkan1 with apt-get"
  else
    note "vulkan loader: missing, and neither the bundle's .deb nor apt-get could provide it: WebGPU will find no adapter"
  fi
fi
icd=$(ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -n 1 || true)
if [[ -n $icd ]]; then
  note "nvidia vulkan ICD: $icd"
else
  # Containers often get the driver's libraries without the ICD file that tells the loader about them.
  nv=$(grep -m1 -oE '/[^ ]*lib(GLX|EGL)_nvidia\.so\.0$' <<<"$ldcache" || true)
  if [[ -n $nv ]]; then
    mkdir -p "$work/icd"
    printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3"}}\n' "$nv" > "$work/icd/nvidia_icd.json"
    export VK_DRIVER_FILES=$work/icd/nvidia_icd.json VK_ICD_FILENAMES=$work/icd/nvidia_icd.json
    note "nvidia vulkan ICD: none installed; wrote one for $nv"
  else
    note "nvidia vulkan ICD: none, and no libGLX_nvidia/libEGL_nvidia (a container needs NVIDIA_DRIVER_CAPABILITIES to include graphics)"
  fi
fi
# Dawn's Vulkan probing wants a runtime dir; without one it prints errors that look like failures.
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$work/xdg}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

bench() {
  local provider=$1
  shift
  (cd "$b" && ./node bench.mjs --model "$model" --provider "$provider" --out "$out/$provider.json" --seconds 3 "$@")
}
set +e
bench webgpu "$@"
webgpu_status=$?
bench cpu "$@"
cpu_status=$?
set -e
echo "== webgpu bench exited $webgpu_status (3: no WebGPU adapter here), cpu bench exited $cpu_status"

"$b/node" - "$out" <<'EOF'
const fs = require('node:fs');
const out = process.argv[2];
const read = (f) => (fs.existsSync(`${out}/${f}`) ? JSON.parse(fs.readFileSync(`${out}/${f}`, 'utf8')) : null);
const webgpu = read('webgpu.json');
const cpu = read('cpu.json');
const perBatch = (r) => (r && r.available ? Object.fromEntries(r.runs.map((x) => [x.batch, x.facesPerSecond])) : null);
const g = perBatch(webgpu);
const c = perBatch(cpu);
const ratio = g && c ? Object.fromEntries(Object.keys(g).filter((k) => c[k]).map((k) => [k, Math.round((g[k] / c[k]) * 10) / 10])) : null;
const summary = {
  gpu: fs.readFileSync(`${out}/gpu.txt`, 'utf8').trim(),
  webgpu: g ?? { available: false, reason: webgpu?.provider?.reason ?? 'no result' },
  cpu: c ?? { available: false },
  webgpuOverCpu: ratio,
  targets: {
    'batch 128 >= 2000 faces/s on WebGPU': g?.[128] !== undefined ? g[128] >= 2000 : null,
    'batch 128 WebGPU >= 20x CPU': ratio?.[128] !== undefined ? ratio[128] >= 20 : null,
  },
};
fs.writeFileSync(`${out}/summary.json`, JSON.stringify(summary, null, 2) + '\n');
console.log(JSON.stringify(summary, null, 2));
EOF
# The CPU run must work everywhere; WebGPU being unavailable (3) is a result.
[[ $cpu_status == 0 && ( $webgpu_status == 0 || $webgpu_status == 3 ) ]]
