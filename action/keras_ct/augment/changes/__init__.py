"""The model changes, one module each: ``conv_block``, ``dense``, ``dropout``.

Each takes the parsed file, the model function, the model found in it, the builder and the plan, adds
its insertions to the plan and returns (description, action, line): the noun phrase for reports, the
gerund phrase for rationales and the line of the layer the change is anchored to.
"""
