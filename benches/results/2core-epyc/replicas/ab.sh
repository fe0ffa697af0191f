#!/bin/bash
# old (706d58a) vs new (touched-only replicas), interleaved, same machine and load
out=$1; shift; mkdir -p $out
for rep in 1 2 3; do
 for v in old new; do
  /tmp/scaling-$v "$@" --reps 1 --out $out/$v-$rep > $out/$v-$rep.log 2>&1
 done
done
