"""extract: unpack the data archive safely into data/ and write its inventory. The new data is
unpacked and inventoried in a temporary folder; only then does it replace data/, and if writing
the inventory fails the swap is undone, so a rejected archive leaves data/ and
reports/inventory.json exactly as they were."""

from pathlib import Path

from vvpipe import config, stage
from vvpipe.archive import safe_extract
from vvpipe.settings.extract import ExtractSettings
from vvpipe.errors import storage_error
from vvpipe.inventory import inventory

INVENTORY = Path("reports/inventory.json")


def write_inventory(report: dict) -> None:
    try:
        stage.write_json(INVENTORY, report)
    except OSError as error:
        raise storage_error(error, f"cannot write {INVENTORY}") or error


def main() -> None:
    settings = config.load(ExtractSettings, "extract")
    archive, data_dir = Path(settings.archive), Path("data")
    report = safe_extract(archive, data_dir, settings.limits,
                          inspect=lambda staged: inventory(staged, archive,
                                                           settings.limits.max_image_pixels),
                          publish=write_inventory)
    files = sum(split["images"] for task in report["tasks"].values() for split in task.values())
    print(f"extracted {archive} ({report['archive']['kind']}): {files} readable images; "
          f"{len(report['problems'])} problems, {len(report['stray'])} stray entries")


if __name__ == "__main__":
    stage.run(main)
