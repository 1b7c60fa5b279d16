from __future__ import annotations

from keras_ct.cli import main

raise SystemExit(main())
