"""Build step that puts the course inside the package (everything else is in pyproject.toml).

The course is developed where the tests run it: the chapters in ``notebooks/`` and the
student exercises in ``exercises/release/`` (written by ``tipslib release``). A wheel
carries copies of them under ``tipslib/_course/``, where ``tipslib course`` finds them
(``tipslib/course.py``; in a checkout it reads the folders above directly).
``exercises/source`` -- solutions and hidden tests -- is never copied: the wheel and
the sdist carry the course, not the answers (``tests/test_packaging.py`` checks both).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: (folder in tipslib/_course, folder in the project, files)
COURSE = [("chapters", "notebooks", "[0-9][0-9]_*.ipynb"), ("exercises", "exercises/release", "*.ipynb")]


class build_py_with_course(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's folders directly
        for target, folder, pattern in COURSE:
            found = sorted((HERE / folder).glob(pattern))
            if not found:
                raise FileNotFoundError(f"no {pattern} in {HERE / folder}: a wheel without its course would be broken")
            out = Path(self.build_lib) / "tipslib" / "_course" / target
            out.mkdir(parents=True, exist_ok=True)
            for src in found:
                self.copy_file(str(src), str(out / src.name))


setup(cmdclass={"build_py": build_py_with_course})
