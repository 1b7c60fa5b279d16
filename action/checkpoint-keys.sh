#!/usr/bin/env bash
# The checkpoint cache's keys, for the reusable workflow's train and candidate jobs (one script, so
# the candidate job saves under the very prefix the next round's train job restores from).
# In: WORKING_DIRECTORY, MODEL_FILE, NAME, REPOSITORY, HEAD_REF, ROUND, CHECKPOINT_DIR, RUNNER_TEMP.
# Out ($GITHUB_OUTPUT): checkpoint-branch-prefix, checkpoint-prefix, checkpoint-dir.
set -euo pipefail
digest() { if [ -f "$1" ]; then { sha256sum "$1" 2>/dev/null || shasum -a 256 "$1"; } | cut -c1-16; else echo none; fi; }
# Cache keys may not contain commas; branch names may.
clean() { printf '%s' "$1" | tr -c 'A-Za-z0-9._/-' '_'; }
model_hash="$(digest "${WORKING_DIRECTORY:-.}/$MODEL_FILE")"
{
  # A named model's keys start NAME- (no name has a "/": never a prefix of another's).
  branch_prefix="keras-ct-checkpoint-${NAME:+$NAME-}$(clean "$REPOSITORY")-$(clean "$HEAD_REF")-round-"
  echo "checkpoint-branch-prefix=$branch_prefix"
  echo "checkpoint-prefix=$branch_prefix$ROUND-$model_hash-"
  echo "checkpoint-dir=${CHECKPOINT_DIR:-$RUNNER_TEMP/keras-ct-checkpoints}"
} >> "$GITHUB_OUTPUT"
