"""GitHub: the interface (``api``), its REST client (``client``, with ``retry`` and ``messages``), the
publisher over it (``publish``) and the event's pull-request facts (``event``)."""
