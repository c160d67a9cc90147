#!/usr/bin/env bash
# Retake the README's screenshots of the main window from the current build, under Xvfb.
#
#   bash docs/make_screenshots.sh            # every one (about 10 minutes on 2 CPU cores)
#   bash docs/make_screenshots.sh slider     # only those whose name contains "slider"
#
# Each picture trains (or follows) a short moons run with today's defaults in a fresh studio whose settings go
# to a temporary file, at the screen size the picture is about. Needs xvfb-run (apt-get install -y xvfb xauth
# libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1). The dialogs' pictures (draw data, inpainting, labs, compare)
# come from their own tests' windows and are not retaken here.
set -euo pipefail
cd "$(dirname "$0")/.."
only="${1:-}"

shot() {  # shot SCREEN OUT ARGS...: one picture on a virtual screen of SCREEN (WxH)
    local screen="$1" out="$2"
    shift 2
    if [[ -n "$only" && "$out" != *"$only"* ]]; then
        return
    fi
    echo "== $out ($screen)"
    xvfb-run -a -s "-screen 0 ${screen}x24" python docs/screenshot.py "$out" "$@"
}

shot 1600x1000 docs/screenshot_moons_training.png
shot 1024x768 docs/screenshot_1024x768.png
shot 1280x720 docs/screenshot_1280x720.png
shot 1366x768 docs/screenshot_1366x768.png
shot 1024x768 docs/screenshot_presentation_1024x768.png --presentation
shot 1600x1000 docs/screenshot_race_moons.png --race 10
shot 1600x1000 docs/screenshot_field_moons.png --learned field
shot 1600x1000 docs/screenshot_density_moons.png --learned density
shot 1024x768 docs/screenshot_training_slider.png --scrub 0.2 --dock samplesDock
shot 1024x768 docs/screenshot_training_slider_x0.png --scrub 0.2 --x0 --dock samplesDock
if [[ -z "$only" || "docs/screenshot_follow_moons.png" == *"$only"* ]]; then
    echo "== docs/screenshot_follow_moons.png (1366x768)"
    xvfb-run -a -s "-screen 0 1366x768x24" python docs/screenshot_follow.py docs/screenshot_follow_moons.png
fi
