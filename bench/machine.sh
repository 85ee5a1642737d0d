# shellcheck shell=bash
# The machine a benchmark ran on, stated beside every table: sourced by bench/run.sh and bench/device.sh.
#
#   machine_line THREADS          prints "Machine: <cpu> (CPU family F model M); C cores; SIMD: ...; threads used: T"
#   machine_json WHEN THREADS F   appends the same as one JSON line to F (compare.py prints it beside the figures)
#   torch_python                  prints the first Python here that imports torch (the peer), or nothing

machine_cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
machine_flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512vl|avx512bw)$' | sort -u | tr '\n' ' ')
machine_family=$(grep -m1 '^cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
machine_model=$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')

machine_line() {
  echo "Machine: $machine_cpu (CPU family $machine_family model $machine_model); $(nproc) cores;" \
    "SIMD: ${machine_flags:-none}; threads used: $1"
}

machine_json() {  # machine_json WHEN THREADS FILE: the CPU, its family and model, cores, threads, load average
  printf '{"workload": "machine", "when": "%s", "date": "%s", "cpu": "%s", "cpu_family": "%s", "cpu_model": "%s", "cores": %s, "threads": %s, "loadavg": "%s"}\n' \
    "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${machine_cpu//\"/}" "$machine_family" "$machine_model" "$(nproc)" "$2" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$3"
}

torch_python() {  # Debian's python3-torch lives in /usr/bin/python3's path, which a python3 of its own may hide
  local py
  for py in python3 /usr/bin/python3; do
    if command -v "$py" > /dev/null && "$py" -c 'import torch' 2> /dev/null; then echo "$py"; return; fi
  done
}
