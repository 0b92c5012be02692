"""Packaging that pyproject.toml cannot say: the starter flows and the commented default config.yaml ship inside
the package (bot/starter_flows/, bot/config/default_config.yaml), copied from the repository's flows/ and config.yaml,
which stay their one source. bot.config.starter finds them, installed or in a checkout."""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildWithDefaultConfig(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's own config.yaml (bot.config.starter)
        target = Path(self.build_lib) / "bot" / "config" / "default_config.yaml"
        self.mkpath(str(target.parent))
        self.copy_file("config.yaml", str(target))


setup(
    packages=[*find_packages(include=["bot*", "handlers*"]), "bot.starter_flows"],
    package_dir={"bot.starter_flows": "flows"},
    cmdclass={"build_py": BuildWithDefaultConfig},
)
