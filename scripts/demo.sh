#!/usr/bin/env bash
# The main job: zero-shot Quechua NER with the shipped model and adapters (MAD-X, Stack(qu, ner)).
set -eu
BUILD=${1:-build}
cd "$(dirname "$0")/.."
exec "$BUILD/adapt" demo quechua-ner
