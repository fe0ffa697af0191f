#!/bin/bash
# auto vs every strategy at 1 and 2 threads, 5 interleaved reps (issue 18's auto target)
set -e
bin=${BIN:-target/release/examples/scaling}
out=$1
for p in zipf uniform dense mf; do
  extra=(--samples 100000)
  [ $p = mf ] && extra=(--samples 300000)
  $bin --problem $p "${extra[@]}" --epochs 3 --threads 1,2 --reps 5 --policies plain,racy,hotcold:65534:32,delayed:64,delayed:1024,auto --out $out/$p
done
