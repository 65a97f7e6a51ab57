#!/usr/bin/env bash
# Regenerates the 12 small MP4 files the mock server serves as task results:
#   mockserver/videos/{W}x{H}-{D}s.mp4  for every frame size of the shipped models'
#   data files (openapi/models/*.toml) x duration 4/8/12 s.
# Each is a real, playable H.264 (yuv420p) MP4 with +faststart: a dark blue still frame
# labelled "evolink-mock WxH Ds", 1 fps, one keyframe, so each file is only a few KB.
# The outputs are committed to the repository so that installing or testing the mock needs
# no ffmpeg; run this script (needs ffmpeg, and fontconfig for the label) only to change them.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${here}/../mockserver/videos"
mkdir -p "${out}"

# A font for the label, if fontconfig can find one; without it the frame is plain blue.
font=""
if command -v fc-match >/dev/null 2>&1; then
    font="$(fc-match -f '%{file}' 'DejaVu Sans:bold' 2>/dev/null || true)"
    [[ -f "${font}" ]] || font=""
fi

# the sizes from the shipped models' data files (openapi/models/*.toml, their [frames])
sizes="$(cd "${here}/.." && python3 -c 'import pathlib, tomllib
sizes = {size for path in sorted(pathlib.Path("openapi/models").glob("*.toml"))
         for table in tomllib.loads(path.read_text())["frames"].values() for size in table.values()}
print(" ".join(sorted(sizes)))')"
for size in ${sizes}; do
    w="${size%x*}"
    h="${size#*x}"
    short=$(( w < h ? w : h ))
    for d in 4 8 12; do
        vf="format=yuv420p"
        if [[ -n "${font}" ]]; then
            vf="drawtext=fontfile='${font}':text='evolink-mock ${w}x${h} ${d}s'"
            vf+=":fontcolor=white:fontsize=$(( short / 22 ))"
            vf+=":x=(w-text_w)/2:y=(h-text_h)/2,format=yuv420p"
        fi
        file="${out}/${w}x${h}-${d}s.mp4"
        ffmpeg -nostdin -hide_banner -loglevel error -y \
            -f lavfi -i "color=c=0x1e3a5f:s=${w}x${h}:r=1" -t "${d}" -vf "${vf}" \
            -c:v libx264 -preset veryslow -tune stillimage -crf 40 -g 300 \
            -pix_fmt yuv420p -an -map_metadata -1 -fflags +bitexact -movflags +faststart \
            "${file}"
        echo "mockserver/videos/${w}x${h}-${d}s.mp4: $(wc -c <"${file}") bytes"
    done
done
