"""Outgoing channels (filled in by the messaging feature)."""


def send(delivery_id: int) -> str:
    raise NotImplementedError
