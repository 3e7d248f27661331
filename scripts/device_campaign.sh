#!/usr/bin/env bash
# The paper-scale campaign (issue 24) on a GPU machine that has JAX but no TensorFlow and no
# network, such as the H200 this project is sometimes lent (docs/training.md).
#
#   bash scripts/device_campaign.sh prepare          # here: wheels into .whl/, pairs into .device-data/
#   bash scripts/device_campaign.sh run MINUTES [campaign options...]
#                                                    # there: presets packed into $OUT (or ./device-out)
#   bash scripts/device_campaign.sh run 2 --dry-run  # the same, proven on a CPU first
#
# `prepare` needs network access to PyPI; `run` needs none. Both folders are ignored by git
# (.git/info/exclude) and carried to the machine with the checkout (64 MiB in all with it).
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${TF_IRGAN_SHARED_DATA:-../shared/data}"

case "${1:-}" in
prepare)
  for ignored in /.whl/ /.device-data/; do
    grep -qx "$ignored" .git/info/exclude 2>/dev/null || echo "$ignored" >> .git/info/exclude
  done
  rm -rf .whl .device-data
  # Keras and the two packages it needs that the GPU image lacks, for its Python 3.12.
  keras_version="$(python3 -c 'import keras; print(keras.__version__)')"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "keras==$keras_version" namex optree
  mkdir -p .device-data/roadscene .device-data/pet_mri
  cp -r "$shared/roadscene/vi" "$shared/roadscene/ir" .device-data/roadscene/
  cp -r "$shared/pet_mri_harvard/train/MRI" "$shared/pet_mri_harvard/train/PET" .device-data/pet_mri/
  du -sh .whl .device-data
  ;;
run)
  minutes="${2:?give the minutes of the whole campaign}"
  shift 2
  out="${OUT:-$PWD/device-out}"
  mkdir -p "$out"
  if ! python3 -c "import keras" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax
  python3 -c "import jax; print('devices:', jax.devices())"
  work="$(mktemp -d)/campaign"
  status=0
  python3 -c "import sys; sys.argv[0] = 'tf-irgan'; from tf_irgan.cli.main import cli; cli()" \
    campaign --ir-vis .device-data/roadscene --mri-pet .device-data/pet_mri --out "$work" \
    --minutes "$minutes" --archive "$@" || status=$?
  # What comes back (at most 8 files): one archive per large preset, the small ones (under
  # 1 MiB: the pyramid defaults) in one, and the campaign's record with every run's history.
  small=()
  for archive in "$work"/*.tar.gz; do
    [ -e "$archive" ] || continue
    if [ "$(stat -c %s "$archive")" -lt 1048576 ]; then small+=("$(basename "$archive")")
    else cp "$archive" "$out"/; fi
  done
  [ ${#small[@]} -gt 0 ] && tar -cf "$out/small-presets.tar" -C "$work" "${small[@]}"
  tar -czf "$out/histories.tar.gz" -C "$work" campaign.json \
    $(cd "$work" && ls runs/*/history.csv runs/*/run.json 2>/dev/null) 2>/dev/null || true
  ls -la "$out"
  exit "$status"
  ;;
*)
  echo "usage: bash scripts/device_campaign.sh prepare | run MINUTES [campaign options]" >&2
  exit 2
  ;;
esac
