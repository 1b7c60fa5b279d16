"""GitHub: the REST client, the publisher over it, the event's pull-request facts."""
