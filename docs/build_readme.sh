#!/usr/bin/env bash
# README.md is assembled from these parts; edit the parts, then run this script.
set -euo pipefail
cd "$(dirname "$0")"
parts=(intro core evaluation classifier_routers langchain llamaindex server status license)
for i in "${!parts[@]}"; do
  [ "$i" -gt 0 ] && echo
  cat "${parts[$i]}.md"
done > ../README.md
