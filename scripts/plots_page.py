"""The DVC plots page, offline: every plot declared in dvc.yaml checked for data, then rendered
by `dvc plots show` (or `dvc plots diff REV ...`) into dvc_plots/index.html through a template
with the Vega, Vega-Lite and Vega-Embed bundle inlined, so the page draws with no network.

    python scripts/plots_page.py            # the workspace's plots
    python scripts/plots_page.py diff main  # overlaid with another revision's
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import vl_convert

TEMPLATE = Path(".dvc/tmp/offline_plots.html")
OUT = Path("dvc_plots")
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>vvpipe plots</title>
<script>{bundle}</script>
<style>body {{ font-family: sans-serif; }} table {{ border-spacing: 15px; }}</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def empty_plots(shown: dict) -> list[str]:
    """The declared plots that would draw nothing: no data points, or a missing image."""
    empty = []
    for name, renderings in shown["data"].items():
        for rendering in renderings:
            if rendering["type"] == "image":
                has_data = Path(rendering["url"]).is_file() and Path(rendering["url"]).stat().st_size
            else:
                has_data = bool(rendering["content"].get("data", {}).get("values"))
            if not has_data:
                empty.append(name)
    return empty


def main() -> None:
    command = [sys.executable, "-m", "dvc", "plots", *(sys.argv[1:] or ["show"])]
    shown = json.loads(subprocess.run([*command, "--json"], check=True, capture_output=True,
                                      text=True).stdout)
    if shown.get("errors"):
        sys.exit(f"error: dvc plots reported {shown['errors']}")
    empty = empty_plots(shown)
    if empty:
        sys.exit(f"error: these plots have no data: {empty} (run `dvc repro` first?)")
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    TEMPLATE.write_text(PAGE.format(bundle=vl_convert.javascript_bundle()))
    subprocess.run([*command, "--html-template", str(TEMPLATE), "-o", str(OUT)], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"{len(shown['data'])} plots, each with data: {OUT / 'index.html'} (no network needed)")


if __name__ == "__main__":
    main()
