#!/usr/bin/env bash
# Issue 16's speed report: the order variants of this tree's examples/order_speed.rs and the
# same example built against 77523de ("today": full permutation, no prefetch), alternated
# process by process, round by round (today, new, today, new, ...), so both see the same load.
#
#   NEW_BIN=... TODAY_BIN=... benches/results/2core-epyc/order/run.sh OUT_DIR [SUITES]
#
# SUITES (default all): synthetic spam mf100k mf1m sgns-4elt sgns-mdual blocksize.
# Each line of OUT_DIR/raw.jsonl is one fit; OUT_DIR/load.txt has `uptime` before and
# after every suite. Summarise with summarise.py.
set -euo pipefail
out=$1; shift
suites=${*:-synthetic spam mf100k mf1m sgns-4elt sgns-mdual blocksize}
new=${NEW_BIN:?the new order_speed binary}
today=${TODAY_BIN:?the 77523de order_speed binary}
mkdir -p "$out"
raw=$out/raw.jsonl
load=$out/load.txt
for s in $suites; do
  args=() rounds=3 todaycfg=""
  case $s in
    synthetic) args=(synthetic); todaycfg=seq,plain,racy2,auto2 ;;
    spam) args=(spam); rounds=5; todaycfg=seq,plain,racy2,auto2 ;;
    mf100k) args=(mf100k); rounds=5; todaycfg=seq,racy2 ;;
    mf1m) args=(mf1m); todaycfg=seq,racy2 ;;
    sgns-4elt) args=(sgns --graph /work/main/data-cache/metis/4elt.graph --epochs 5); todaycfg=seq,racy2 ;;
    sgns-mdual) args=(sgns --graph /work/main/data-cache/metis/mdual.graph --epochs 2); todaycfg=seq,racy2 ;;
    blocksize) args=(blocksize) ;;
    *) echo "unknown suite $s" >&2; exit 1 ;;
  esac
  echo "$s before: $(uptime)" | tee -a "$load" >&2
  for r in $(seq 0 $((rounds - 1))); do
    if [ -n "$todaycfg" ]; then
      "$today" "${args[@]}" --rounds 1 --first-round "$r" --variants full --configs "$todaycfg" >>"$raw"
    fi
    "$new" "${args[@]}" --rounds 1 --first-round "$r" >>"$raw"
    echo "$s round $r done: $(uptime)" >&2
  done
  echo "$s after: $(uptime)" | tee -a "$load" >&2
done
