#!/usr/bin/env bash
# The weak- and semi-supervised trainings of benchmarks/RESULTS.md, by name, one after another.
#
#   bash benchmarks/weak_runs.sh voc_strong voc_strong_c2      # a first leg, then its second
#   bash benchmarks/weak_runs.sh --dry-run semi_35              # print the command only
#
# Every run is the README's width-1/4 recipe (Adam, poly, batch 8, crop 129, scales 0.45-0.95,
# colour jitter 0.2, dropout 0.3, median-frequency class weights, seed 0) with one Numba and one
# OpenBLAS thread, so that two runs go side by side on two cores. Names:
#
#   strong_only_N     --supervision strong --strong-images N      (3,000 it., lr 1e-3)
#   full_279          --supervision strong, all 279 images         (3,000 it., lr 1e-3)
#   semi_N            EM-Fixed from strong_only_N, E-step every 500 (3,000 it., lr 3e-4)
#   semi_N_spb2       the same, two pixel-labelled images per batch
#   bbox_rect, bbox_seg, em_adapt             all 21 classes, boxes / image tags (3,000 it.)
#   voc_strong, voc_bbox_rect, voc_bbox_seg, voc_em_adapt   the VOC-style protocol (3,000 it.)
#   NAME_c2           the second leg of NAME: 3,000 more iterations at lr 3e-4 from NAME's model
#   NAME_sK           NAME with --seed K instead of 0 (another draw of the same recipe), started
#                     from seed K's models, e.g. voc_bbox_rect_s1, voc_bbox_rect_s1_c2, semi_70_s1
#
# A run whose model.npz exists is skipped; an interrupted one continues from its checkpoint
# (--resume is bit-exact). Environment: DATA (default ../shared/data/msrc), OUT (runs/weak).
set -euo pipefail

DATA=${DATA:-../shared/data/msrc}
OUT=${OUT:-runs/weak}
export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

RECIPE=(--data "$DATA" --split train --arch DeepLab-LargeFOV --width 0.25 --classifier-lr-mult 1
        --optimizer adam --weight-decay 5e-4 --lr-policy poly --batch-size 8 --crop 129
        --snapshot-every 250 --val-every 1000 --dropout 0.3 --scales 0.45 0.95 --input-scale 0.7
        --color-jitter 0.2 --class-weights median-frequency --seed 0)
FIRST=(--lr 1e-3 --max-iter 3000)

# the options of one run, by name (printed one per line)
options() {
    local name=$1
    case $name in
        *_c2)
            options "${name%_c2}" | grep -v -x -e --lr -e 1e-3 -e 3e-4 -e --max-iter -e 3000 \
                | awk -v skip=0 '/^--init-from$/ {skip=2} skip > 0 {skip--; next} {print}'
            printf '%s\n' --lr 3e-4 --max-iter 3000 --init-from "$OUT/${name%_c2}/model.npz" ;;
        *_s[0-9]|*_s[0-9][0-9])  # a model it starts from is that seed's too
            options "${name%_s*}" | sed "s#^\(.*\)/model\.npz\$#\1_s${name##*_s}/model.npz#"
            printf '%s\n' --seed "${name##*_s}" ;;
        strong_only_*)
            printf '%s\n' "${FIRST[@]}" --supervision strong --strong-images "${name#strong_only_}" ;;
        full_279)
            printf '%s\n' "${FIRST[@]}" --supervision strong ;;
        semi_*_spb2)
            options "${name%_spb2}"; printf '%s\n' --strong-per-batch 2 ;;
        semi_*)
            local n=${name#semi_}
            printf '%s\n' --lr 3e-4 --max-iter 3000 --supervision semi --strong-images "$n" \
                --e-step-every 500 --init-from "$OUT/strong_only_$n/model.npz" ;;
        voc_*)
            options "${name#voc_}"; printf '%s\n' --protocol voc-style ;;
        strong)
            printf '%s\n' "${FIRST[@]}" --supervision strong ;;
        bbox_rect|bbox_seg)
            printf '%s\n' "${FIRST[@]}" --supervision "${name/_/-}" ;;
        em_adapt)  # no pixel labels to count: EM-Adapt refuses median-frequency weights
            printf '%s\n' "${FIRST[@]}" --supervision em-adapt --class-weights none ;;
        *)
            echo "weak_runs.sh: unknown run '$name' (see the list at the top of this file)" >&2
            return 2 ;;
    esac
}

dry=0
if [[ ${1:-} == --dry-run ]]; then dry=1; shift; fi
if [[ $# -eq 0 ]]; then sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; fi

for name in "$@"; do
    text=$(options "$name") || exit 2
    mapfile -t opts <<< "$text"
    cmd=(minideeplab train "${RECIPE[@]}" "${opts[@]}" --out "$OUT/$name" --quiet --resume)
    echo "[$(date +%H:%M:%S)] $name: ${cmd[*]}"
    if (( dry )); then continue; fi
    if [[ -f $OUT/$name/model.npz ]]; then echo "  (done: $OUT/$name/model.npz exists)"; continue; fi
    "${cmd[@]}"
done
