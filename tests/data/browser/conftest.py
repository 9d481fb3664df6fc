"""These notebooks are material for tests/test_browser.py, not tests themselves.

``broken.ipynb`` fails on purpose, so nbval (``--nbval-lax`` in the project's
pytest options) must not collect anything here.
"""

collect_ignore_glob = ["*.ipynb"]
