"""extract: unpack the data archive safely into data/ and write its inventory. The new data is
unpacked and inventoried in a temporary folder; only then does it replace data/, so a rejected
archive leaves data/ and reports/inventory.json exactly as they were."""

from dataclasses import dataclass
from pathlib import Path

from vvpipe import config, stage
from vvpipe.archive import ExtractLimits, inventory, safe_extract


@dataclass(frozen=True)
class ExtractSettings:
    archive: str = "data.tar.xz"
    limits: ExtractLimits = ExtractLimits()

    def validate(self, where: str) -> None:
        for name in ("max_member_bytes", "max_total_bytes", "max_members"):
            config.require(getattr(self.limits, name) > 0, f"{where}.limits.{name}",
                           "must be positive")


def main() -> None:
    settings = config.load(ExtractSettings, "extract")
    archive, data_dir = Path(settings.archive), Path("data")
    report = safe_extract(archive, data_dir, settings.limits,
                          inspect=lambda staged: inventory(staged, archive))
    stage.write_json(Path("reports/inventory.json"), report)
    files = sum(split["images"] for task in report["tasks"].values() for split in task.values())
    print(f"extracted {archive} ({report['archive']['kind']}): {files} readable images; "
          f"{len(report['problems'])} problems, {len(report['stray'])} stray entries")


if __name__ == "__main__":
    stage.run(main)
