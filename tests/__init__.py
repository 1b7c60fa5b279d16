"""keras-ct's tests (a package, so `tests.fake_github` never resolves to another distribution's `tests`)."""
