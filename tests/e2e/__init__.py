"""End-to-end tests: the real workflow files under act, against the fake GitHub and a bare remote."""
