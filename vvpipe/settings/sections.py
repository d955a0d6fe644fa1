"""Which settings class reads which section of params.yaml (``engineer.task1`` names a part of
a section): what ``stages/check_params.py`` checks before any stage works."""

from vvpipe.settings.data import ENGINEER_SETTINGS, AnalysisSettings
from vvpipe.settings.extract import ExtractSettings
from vvpipe.settings.task2 import Task2Settings
from vvpipe.settings.task4 import Task4Settings
from vvpipe.settings.train import FixedTaskSettings

SECTIONS = {
    "extract": ExtractSettings,
    "task1": FixedTaskSettings,
    "task2": Task2Settings,
    "task3": FixedTaskSettings,
    "task4": Task4Settings,
    "analyze": AnalysisSettings,
    **{f"engineer.{task}": settings for task, settings in ENGINEER_SETTINGS.items()},
}
