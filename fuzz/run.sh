#!/bin/sh
# Runs the given fuzz targets (built by build.sh) one after another, each for
# $FUZZ_SECONDS (default 600) under `nice -n 19`, growing corpus/<target>/, then minimizes
# that corpus (`-merge=1`). libFuzzer's output and final stats go to logs/<target>.log, a
# crashing input to artifacts/<target>/.
#   fuzz/run.sh config csv idx npz image_folder onnx
cd "$(dirname "$0")"
secs=${FUZZ_SECONDS:-600}
bin=target/x86_64-unknown-linux-gnu/debug
mkdir -p logs
for t in "$@"; do
    case $t in
        onnx | pth_legacy | pth_zip) len=16384 ;;
        config | pth_zip_pickle) len=8192 ;;
        *) len=4096 ;;
    esac
    case $t in
        pth_*) dict=-dict=pickle.dict ;;
        safetensors) dict=-dict=safetensors.dict ;;
        *) dict= ;;
    esac
    mkdir -p "artifacts/$t" "corpus/$t"
    start=$(date +%s)
    nice -n 19 "$bin/$t" "corpus/$t" $dict -max_total_time="$secs" -max_len="$len" \
        -rss_limit_mb=4096 -malloc_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" > "logs/$t.log" 2>&1
    echo "exit $? after $(($(date +%s) - start)) s" >> "logs/$t.log"
    rm -rf "corpus/$t.min" && mkdir "corpus/$t.min"
    nice -n 19 "$bin/$t" -merge=1 "corpus/$t.min" "corpus/$t" > "logs/$t.merge.log" 2>&1 &&
        rm -rf "corpus/$t" && mv "corpus/$t.min" "corpus/$t"
done
