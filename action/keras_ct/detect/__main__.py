"""``python -m keras_ct.detect``: the detect action's entry, ``keras-ct detect`` without an install.

It needs the standard library only (the action runs it with ``python -S``; PyYAML only when the
repository has a ``.keras-ct.yml``, see ``detect/action.yml``).
"""

from __future__ import annotations

import sys

from keras_ct.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["detect", *sys.argv[1:]]))
