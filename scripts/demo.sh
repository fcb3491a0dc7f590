#!/usr/bin/env bash
# Kept for compatibility: the main job is scripts/main_job.sh (install, index the suite and
# the packaged models, serve them, query through the client).
exec bash "$(dirname "$0")/main_job.sh" "$@"
