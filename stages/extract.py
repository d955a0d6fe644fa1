"""extract: unpack the data archive safely into data/ and write its inventory."""

from dataclasses import dataclass
from pathlib import Path

from vvpipe import config, stage
from vvpipe.archive import inventory, safe_extract


@dataclass(frozen=True)
class ExtractSettings:
    archive: str = "data.tar.xz"


def main() -> None:
    settings = config.load(ExtractSettings, "extract")
    archive, data_dir = Path(settings.archive), Path("data")
    files = safe_extract(archive, data_dir)
    report = inventory(data_dir, archive)
    stage.write_json(Path("reports/inventory.json"), report)
    print(f"extracted {len(files)} files from {archive} ({report['archive']['kind']}); "
          f"{len(report['problems'])} problems, {len(report['stray'])} stray entries")


if __name__ == "__main__":
    stage.run(main)
