#!/usr/bin/env bash
# Draws a run's learning curves from its metrics.jsonl into a PNG: training and validation loss by
# step, and the validation loss at each masking level by step (needs jq and Debian's gnuplot:
# sudo apt-get install jq gnuplot-nox).
#   scripts/plot_run.sh RUN_DIR [OUT.png]      (default: RUN_DIR/curves.png)
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: scripts/plot_run.sh RUN_DIR [OUT.png]" >&2; exit 2; }
run=$1 png=${2:-$1/curves.png}
metrics=$run/metrics.jsonl
[ -d "$run" ] || { echo "plot_run: $run: no such run directory" >&2; exit 1; }
[ -s "$metrics" ] || { echo "plot_run: $metrics: no metrics yet (the run writes a line at each validation)" >&2; exit 1; }
for tool in jq gnuplot; do
  command -v $tool > /dev/null || { echo "plot_run: needs $tool (sudo apt-get install jq gnuplot-nox)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# step, training loss, validation loss; then step and one column per masking level (highest first).
jq -r 'select(.val_loss != null) | "\(.step) \(.train_loss // "NaN") \(.val_loss)"' "$metrics" > "$tmp/loss.dat" ||
  { echo "plot_run: $metrics: malformed JSON" >&2; exit 1; }
[ -s "$tmp/loss.dat" ] || { echo "plot_run: $metrics: no validation line" >&2; exit 1; }
jq -r 'select(.levels != null) | [.step] + [.levels[].loss] | map(tostring) | join(" ")' "$metrics" > "$tmp/levels.dat"
rates=$(jq -r 'select(.levels != null) | [.levels[].rate | tostring] | join(" ")' "$metrics" | tail -1)
n=$(echo "$rates" | wc -w)
# An autoregressive run has no masking levels: one panel.
panels=2 levels_plot=""
if [ "$n" -eq 0 ]; then
  panels=1
else
  levels_plot="set key outside right title \"masked\"
rates = \"$rates\"
plot for [i=1:$n] \"$tmp/levels.dat\" using 1:(column(i + 1)) with linespoints title sprintf(\"%.0f%%\", 100 * word(rates, i))"
fi
gnuplot <<PLOT
set terminal pngcairo size $((600 * panels)),480 font ",10" noenhanced
set output "$png"
set multiplot layout 1,$panels title "$(basename "$run")"
set grid
set xlabel "step"
set ylabel "loss (nats per scored token)"
plot "$tmp/loss.dat" using 1:2 with linespoints title "training", "$tmp/loss.dat" using 1:3 with linespoints title "validation"
$levels_plot
unset multiplot
PLOT
echo "$png"
