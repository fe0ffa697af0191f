#!/usr/bin/env bash
# Builds examples/order_speed.rs against the library before issue 16 (commit 77523de, no
# `Order`, no prefetch): the block between NEW-API BEGIN and END is replaced with one that
# accepts only the `full` variant. Usage: make-today.sh NEW_TREE TODAY_TREE (a worktree at
# 77523de); set CARGO_TARGET_DIR for the today build yourself.
set -euo pipefail
new=$1 today=$2
[ "$(git -C "$today" rev-parse --short=7 HEAD)" = 77523de ] || { echo "$today is not at 77523de" >&2; exit 1; }
awk '
/\/\/ NEW-API BEGIN/ { skip = 1
  print "// TODAY (77523de): the library has no Order and no prefetch"
  print "fn configure(t: Trainer, v: &Variant) -> Trainer {"
  print "    assert!(v.kind == \"full\" && !v.prefetch, \"77523de has only the full order, no prefetch\");"
  print "    t"
  print "}"
  print ""
  print "fn order_name(_: &Trained) -> String {"
  print "    \"full (77523de)\".into()"
  print "}"
  print ""
  print "const BUILD: &str = \"today\";"
  next }
/\/\/ NEW-API END/ { skip = 0; next }
!skip { print }' "$new/examples/order_speed.rs" >"$today/examples/order_speed.rs"
cd "$today" && cargo build --release --example order_speed
