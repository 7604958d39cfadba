"""cirelay: standalone CI entrypoints for Port, Zadig, Huawei CodeArts Pipeline and octoplant.

The code lives here once; tools/bundle.py builds the single-file scripts in scripts/ from it.
"""

__version__ = "0.1.0"
