#!/usr/bin/env bash
# IMDB, mean-pooled teacher: seeds 1 and 2 of the cold run's student, merged with seed 0 (as benchmarks/results/imdb/merged3/).
set -euo pipefail
cd /work/wt-pool   # a worktree at 9abce51
export TF_USE_LEGACY_KERAS=1 PYTHONPATH=/work/wt-pool KDEDGE_CACHE=$(ls -d /tmp/kdedge-cold-cache-* | head -1)
R=/work/runs; D=$R/imdb_mean/data; T=$R/imdb_mean/teacher
for s in 1 2; do
  ( kdedge student --data $D --teacher-dir $T --max-len 400 --vocab-size 30000 --seed $s --out $R/imdb_mean-s$s/student &&
    kdedge distill --data $D --teacher-dir $T --student-dir $R/imdb_mean-s$s/student --seed $s --no-baseline \
        --out $R/imdb_mean-s$s/distill ) > /work/logs/imdb_mean_s$s.log 2>&1 &
done
wait
kdedge merge --member $R/imdb_mean/distill --member $R/imdb_mean-s1/distill --member $R/imdb_mean-s2/distill \
    --out $R/imdb_mean-merged3/distill
kdedge export --distill-dir $R/imdb_mean-merged3/distill --data $D --no-teacher --modes float32,int8 --out $R/imdb_mean-merged3/export
kdedge bench --export-dir $R/imdb_mean-merged3/export --data $D --out $R/imdb_mean-merged3/bench --threads 1 --xnnpack on --lengths ''
echo SEEDS_DONE
