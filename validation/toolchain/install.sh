#!/usr/bin/env bash
# Installs the sandbox toolchain into $1 (world-readable: the sandbox runs code as an
# unprivileged uid): a venv on Debian's python3 with pytest, ruff, mypy and bandit, and
# eslint from npm. Go comes from the machine (/usr/local/go) or Debian's golang-go.
set -euo pipefail
dest=$1
here=$(cd "$(dirname "$0")" && pwd)
uv=${UV:-uv}
stamp="$dest/.stamp-$(cat "$here/python-tools.txt" "$here/package.json" "$here/package-lock.json" "$here/install.sh" | sha256sum | cut -c1-16)"
[ -f "$stamp" ] && exit 0
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
[ -x /usr/bin/python3 ] || need+=(python3)
command -v node >/dev/null || need+=(nodejs npm)
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || need+=(golang-go)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
rm -rf "$dest"
mkdir -p "$dest"
"$uv" venv --quiet --python /usr/bin/python3 "$dest/python"
# --compile-bytecode: otherwise every sandboxed pytest/bandit run compiles its own sources
"$uv" pip install --quiet --compile-bytecode --python "$dest/python/bin/python" -r "$here/python-tools.txt"
# a warm, read-only mypy cache for the standard library: mypy then takes ~0.2 s, not ~0.9 s;
# in mypy's fixed (binary) format, which it reads in half the time of its JSON one
warm=$(mktemp -d)
printf 'import os, re, json, math, typing, collections, itertools, functools, dataclasses\n' > "$warm/warm.py"
# (from inside $warm, so that no project config such as pyproject.toml is read)
(cd "$warm" && "$dest/python/bin/python" -m mypy --fixed-format-cache --cache-dir "$dest/mypy-cache" \
  --ignore-missing-imports warm.py >/dev/null)
rm -rf "$warm"
mkdir -p "$dest/node"
cp "$here/package.json" "$here/package-lock.json" "$here/eslint.config.mjs" "$dest/node/"
(cd "$dest/node" && npm ci --silent --no-audit --no-fund)
# --- Go (validation/golang.py) ----------------------------------------------------------
# A cold `go test` compiles the standard library into GOCACHE first: ~9 s on 2 cores, against
# ~0.5 s warm. So build, once, a warm cache for the packages generated code usually imports,
# plus `wgcache`, a GOCACHEPROG helper that answers from that cache read-only (-r) and writes
# what a validation compiles to a directory of its own (-w). Nothing a validation runs can
# write to $dest/go-cache (read-only in the sandbox), and nothing is copied per validation.
# The seed is built with the environment of the Go stages (keep in step with GO_ENV in
# validation/golang.py): cache keys include GOROOT, CGO_ENABLED and the flags.
gobin=$(command -v go || echo /usr/local/go/bin/go)
gotmp=$(mktemp -d)
mkdir -p "$dest/go-cache" "$gotmp/wgcache" "$gotmp/warm"
cat > "$gotmp/wgcache/go.mod" <<'EOF'
module wgcache

go 1.22
EOF
cat > "$gotmp/wgcache/main.go" <<'EOF'
// wgcache: a GOCACHEPROG (see go doc cmd/go/internal/cacheprog). "get" looks in the writable
// directory (-w), then in the read-only seed (-r); "put" writes to the writable one only.
// Entries: <action id>-a holds {OutputID, Size, Time}; <output id>-d holds the body.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

type request struct {
	ID       int64
	Command  string
	ActionID []byte `json:",omitempty"`
	OutputID []byte `json:",omitempty"`
	BodySize int64  `json:",omitempty"`
}

type response struct {
	ID            int64
	Err           string     `json:",omitempty"`
	KnownCommands []string   `json:",omitempty"`
	Miss          bool       `json:",omitempty"`
	OutputID      []byte     `json:",omitempty"`
	Size          int64      `json:",omitempty"`
	Time          *time.Time `json:",omitempty"`
	DiskPath      string     `json:",omitempty"`
}

type meta struct {
	OutputID []byte
	Size     int64
	Time     time.Time
}

func main() {
	rw := flag.String("w", "", "writable cache directory")
	ro := flag.String("r", "", "read-only seed directory (optional)")
	flag.Parse()
	if *rw == "" {
		fmt.Fprintln(os.Stderr, "wgcache: -w is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*rw, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "wgcache:", err)
		os.Exit(1)
	}
	dirs := []string{*rw}
	if *ro != "" {
		dirs = append(dirs, *ro)
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<16)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	send := func(r response) {
		enc.Encode(r)
		out.Flush()
	}
	send(response{KnownCommands: []string{"get", "put", "close"}})
	for {
		line, err := readLine(in)
		if err != nil {
			return
		}
		var req request
		if err := json.Unmarshal(line, &req); err != nil {
			fmt.Fprintln(os.Stderr, "wgcache: bad request:", err)
			os.Exit(1)
		}
		switch req.Command {
		case "get":
			send(get(req, dirs))
		case "put":
			var body []byte
			if req.BodySize > 0 {
				// the body follows as a base64 JSON string on a line of its own
				text, err := readLine(in)
				if err != nil {
					fmt.Fprintln(os.Stderr, "wgcache: no body:", err)
					os.Exit(1)
				}
				var encoded string
				if err = json.Unmarshal(text, &encoded); err == nil {
					body, err = base64.StdEncoding.DecodeString(encoded)
				}
				if err != nil {
					send(response{ID: req.ID, Err: "put body: " + err.Error()})
					continue
				}
			}
			send(put(req, body, *rw))
		case "close":
			send(response{ID: req.ID})
			return
		default:
			send(response{ID: req.ID, Err: "unknown command " + req.Command})
		}
	}
}

// readLine returns the next non-blank line (the go command separates messages by blank lines).
func readLine(in *bufio.Reader) ([]byte, error) {
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			return line, nil
		}
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
	}
}

func get(req request, dirs []string) response {
	name := hex.EncodeToString(req.ActionID) + "-a"
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		var m meta
		if json.Unmarshal(data, &m) != nil || len(m.OutputID) == 0 {
			continue
		}
		path := filepath.Join(dir, hex.EncodeToString(m.OutputID)+"-d")
		if fi, err := os.Stat(path); err != nil || fi.Size() != m.Size {
			continue
		}
		t := m.Time
		return response{ID: req.ID, OutputID: m.OutputID, Size: m.Size, Time: &t, DiskPath: path}
	}
	return response{ID: req.ID, Miss: true}
}

func put(req request, body []byte, dir string) response {
	if int64(len(body)) != req.BodySize || len(req.ActionID) == 0 || len(req.OutputID) == 0 {
		return response{ID: req.ID, Err: "malformed put"}
	}
	path := filepath.Join(dir, hex.EncodeToString(req.OutputID)+"-d")
	if fi, err := os.Stat(path); err != nil || fi.Size() != req.BodySize {
		if err := writeFile(path, body); err != nil {
			return response{ID: req.ID, Err: err.Error()}
		}
	}
	m, _ := json.Marshal(meta{OutputID: req.OutputID, Size: req.BodySize, Time: time.Now()})
	if err := writeFile(filepath.Join(dir, hex.EncodeToString(req.ActionID)+"-a"), m); err != nil {
		return response{ID: req.ID, Err: err.Error()}
	}
	return response{ID: req.ID, DiskPath: path}
}

// writeFile writes atomically, so no reader sees a partial file.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
EOF
cat > "$gotmp/warm/go.mod" <<'EOF'
module solution

go 1.22
EOF
cat > "$gotmp/warm/warm.go" <<'EOF'
package solution

import (
	"bufio"
	"bytes"
	"cmp"
	"container/heap"
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"math/bits"
	"math/rand"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

var _ = []any{bufio.NewReader, bytes.NewBuffer, cmp.Compare[int], heap.Init, list.New,
	json.Marshal, errors.New, fmt.Sprint, io.EOF, maps.Clone[map[int]int], math.Abs, big.NewInt,
	bits.Len, rand.Intn, os.Exit, reflect.TypeOf, regexp.MustCompile, slices.Sort[[]int],
	sort.Ints, strconv.Itoa, strings.ToUpper, sync.NewCond, time.Now, unicode.IsUpper,
	utf8.RuneLen}
EOF
cat > "$gotmp/warm/warm_test.go" <<'EOF'
package solution

import "testing"

func TestWarm(t *testing.T) {}
EOF
(cd "$gotmp/wgcache" && env GOCACHE="$gotmp/build-cache" GOPATH="$gotmp/gopath" GOFLAGS=-mod=mod \
  GOPROXY=off GOTOOLCHAIN=local GOTELEMETRY=off GOENV=off GOWORK=off CGO_ENABLED=0 \
  "$gobin" build -trimpath -o "$dest/go-cache/wgcache" .)
(cd "$gotmp/warm" && env -i PATH="$(dirname "$gobin"):/usr/bin:/bin" HOME="$gotmp/home" \
  GOPATH="$gotmp/gopath" GOCACHE="$gotmp/cache" GOENV=off GOFLAGS="-mod=mod -buildvcs=false" \
  GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local GOTELEMETRY=off GOWORK=off CGO_ENABLED=0 \
  GOCACHEPROG="$dest/go-cache/wgcache -w $dest/go-cache/seed" \
  sh -c 'go list -export -test ./... >/dev/null && go vet -json ./... >/dev/null && go test -json -count=1 -vet=off ./... >/dev/null')
chmod -R u+w "$gotmp" && rm -rf "$gotmp"
# --- end Go ------------------------------------------------------------------------------
chmod -R a+rX "$dest"
chmod a+x "$(dirname "$dest")"
touch "$stamp"
echo "sandbox toolchain ready in $dest"
