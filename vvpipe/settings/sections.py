"""Which settings class reads which section of params.yaml (``engineer.task1`` names a part of
a section): what ``stages/check_params.py`` checks before any stage works."""

from vvpipe.settings.data import ENGINEER_SETTINGS, AnalysisSettings
from vvpipe.settings.extract import ExtractSettings
from vvpipe.settings.task2 import Task2Settings
from vvpipe.settings.task4 import Task4Settings
from vvpipe.settings.train import FIXED_TASK_SETTINGS

SECTIONS = {
    "extract": ExtractSettings,
    "task1": FIXED_TASK_SETTINGS["task1"],
    "task2": Task2Settings,
    "task3": FIXED_TASK_SETTINGS["task3"],
    "task4": Task4Settings,
    "analyze": AnalysisSettings,
    **{f"engineer.{task}": settings for task, settings in ENGINEER_SETTINGS.items()},
}
