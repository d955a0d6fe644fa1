"""check_params: every section of params.yaml against the settings its stage reads, before any
stage works. extract depends on what this writes, so a fresh `dvc repro` with a typo anywhere
fails here within seconds, naming the key, instead of when the typo's stage comes to run."""

from pathlib import Path

from vvpipe import config, stage
from vvpipe.settings.sections import SECTIONS


def main() -> None:
    config.check_all(SECTIONS)
    # Only what was checked, never the values: extract re-runs when this file changes.
    stage.write_json(Path("reports/params_check.json"),
                     {"sections": {name: cls.__name__ for name, cls in SECTIONS.items()}})
    print(f"params.yaml: {len(SECTIONS)} sections checked")


if __name__ == "__main__":
    stage.run(main)
